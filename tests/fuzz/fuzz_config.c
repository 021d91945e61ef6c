/* Fuzz target: the INI configuration file (wd_config_read_file, then wd_config_validate), via a memfd. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* One file per process, rewritten for each input: a memfd, or a temp file where memfd_create is missing. */
static int fd = -1;
static char path[64];

static void write_input(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz_config", 0);
        if (fd >= 0) {
            snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        } else {
            snprintf(path, sizeof(path), "/tmp/widgetd-fuzz-config.XXXXXX");
            fd = mkstemp(path);
        }
        FUZZ_CHECK(fd >= 0);
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0);
    for (size_t off = 0; off < size;) {
        ssize_t n = pwrite(fd, data + off, size - off, (off_t)off);
        FUZZ_CHECK(n > 0);
        off += (size_t)n;
    }
}

static int read_config(struct wd_config *cfg, struct wd_error *err)
{
    int rc = wd_config_read_file(cfg, path, false, err);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc < 0) {
        FUZZ_CHECK(err->cls == WD_ERR_CONFIG || err->cls == WD_ERR_NOMEM);
        FUZZ_CHECK(fuzz_terminated(err->message, sizeof(err->message)));
        /* "FILE:LINE: ..." or "FILE: ...": the operator learns which file */
        FUZZ_CHECK(err->cls == WD_ERR_NOMEM ||
                   (strncmp(err->message, path, strlen(path)) == 0 && err->message[strlen(path)] == ':'));
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_input(data, size);
    struct wd_config cfg;
    struct wd_error err = {0}, err2 = {0};
    wd_config_defaults(&cfg);
    int rc = read_config(&cfg, &err);
    if (rc == 0) {
        FUZZ_CHECK(cfg.calls_in_flight >= 1 && cfg.calls_in_flight <= WD_MAX_CALLS_IN_FLIGHT);
        FUZZ_CHECK(cfg.poll_interval_ms >= 10 && cfg.poll_interval_ms <= 3600000);
        FUZZ_CHECK(cfg.poll_max_interval_ms >= 10 && cfg.poll_max_interval_ms <= 3600000);
        FUZZ_CHECK(cfg.connect_timeout_ms >= 100 && cfg.connect_timeout_ms <= 600000);
        FUZZ_CHECK(cfg.timeout_ms >= 100 && cfg.timeout_ms <= 600000);
        FUZZ_CHECK(cfg.path_style == WD_PATH_STYLE_AUTO || cfg.path_style == WD_PATH_STYLE_YES ||
                   cfg.path_style == WD_PATH_STYLE_NO);
        if (wd_config_validate(&cfg, path, &err) == 0) {
            FUZZ_CHECK(cfg.requests_bucket && cfg.requests_bucket[0] && cfg.store_name && cfg.store_name[0]);
            FUZZ_CHECK(cfg.region && cfg.region[0] && cfg.store_kind_set);
            FUZZ_CHECK(cfg.poll_interval_ms <= cfg.poll_max_interval_ms);
        } else {
            FUZZ_CHECK(err.cls == WD_ERR_CONFIG && fuzz_terminated(err.message, sizeof(err.message)));
        }
    }
    /* Read again over the values just set (a reload): same outcome, every replaced string freed. */
    FUZZ_CHECK(read_config(&cfg, &err2) == rc);
    if (rc < 0)
        FUZZ_CHECK(strcmp(err.message, err2.message) == 0);
    wd_config_clear(&cfg);
    return 0;
}
