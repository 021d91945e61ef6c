/* Configuration: defaults, the INI file (inih), the environment, and validation in one place. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "aws.h"
#include "log.h"

/* inih's fixed line buffer (INI_MAX_LINE in Debian's build): longer lines are silently cut. */
#define INI_LINE_MAX 200

void wd_config_defaults(struct wd_config *cfg)
{
    *cfg = (struct wd_config){
        .dead_letter_prefix = strdup("dead-letter/"),
        .path_style = WD_PATH_STYLE_AUTO,
        .verify_tls = true,
        .workers = 32,
        .poll_interval_ms = 100,
        .poll_max_interval_ms = 20000,
        .connect_timeout_ms = 3000,
        .timeout_ms = 10000,
        .log_level = LOG_INFO,
    };
}

void wd_config_clear(struct wd_config *cfg)
{
    char **strs[] = {&cfg->requests_bucket,
                     &cfg->requests_prefix,
                     &cfg->dead_letter_bucket,
                     &cfg->dead_letter_prefix,
                     &cfg->store_name,
                     &cfg->region,
                     &cfg->endpoint,
                     &cfg->s3_endpoint,
                     &cfg->dynamodb_endpoint,
                     &cfg->ca_file,
                     &cfg->profile};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

static int set_str(char **dst, const char *value, struct wd_error *err)
{
    char *s = strdup(value);
    if (s == NULL)
        return wd_error_nomem(err);
    free(*dst);
    *dst = s;
    return 0;
}

static int set_int(long *dst, const char *value, long min, long max, struct wd_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not a whole number from %ld to %ld",
                            value, min, max);
    *dst = v;
    return 0;
}

static int set_bool(bool *dst, const char *value, struct wd_error *err)
{
    if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1") ||
        !strcasecmp(value, "on"))
        *dst = true;
    else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0") ||
             !strcasecmp(value, "off"))
        *dst = false;
    else
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not yes or no", value);
    return 0;
}

int wd_config_set(struct wd_config *cfg, const char *section, const char *key, const char *value,
                  struct wd_error *err)
{
    long n = 0;
#define IS(s, k) (strcmp(section, s) == 0 && strcmp(key, k) == 0)
    if (IS("requests", "bucket"))
        return set_str(&cfg->requests_bucket, value, err);
    if (IS("requests", "prefix"))
        return set_str(&cfg->requests_prefix, value, err);
    if (IS("requests", "dead_letter_bucket"))
        return set_str(&cfg->dead_letter_bucket, value, err);
    if (IS("requests", "dead_letter_prefix"))
        return set_str(&cfg->dead_letter_prefix, value, err);
    if (IS("store", "kind")) {
        if (strcmp(value, "s3") == 0)
            cfg->store_kind = WD_STORE_S3;
        else if (strcmp(value, "dynamodb") == 0)
            cfg->store_kind = WD_STORE_DYNAMODB;
        else
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not s3 or dynamodb", value);
        cfg->store_kind_set = true;
        return 0;
    }
    if (IS("store", "name"))
        return set_str(&cfg->store_name, value, err);
    if (IS("aws", "region"))
        return set_str(&cfg->region, value, err);
    if (IS("aws", "endpoint"))
        return set_str(&cfg->endpoint, value, err);
    if (IS("aws", "s3_endpoint"))
        return set_str(&cfg->s3_endpoint, value, err);
    if (IS("aws", "dynamodb_endpoint"))
        return set_str(&cfg->dynamodb_endpoint, value, err);
    if (IS("aws", "path_style")) {
        bool b;
        if (strcmp(value, "auto") == 0) {
            cfg->path_style = WD_PATH_STYLE_AUTO;
            return 0;
        }
        if (set_bool(&b, value, err) < 0)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "\"%s\" is not auto, yes or no", value);
        cfg->path_style = b ? WD_PATH_STYLE_YES : WD_PATH_STYLE_NO;
        return 0;
    }
    if (IS("aws", "ca_file"))
        return set_str(&cfg->ca_file, value, err);
    if (IS("aws", "verify_tls"))
        return set_bool(&cfg->verify_tls, value, err);
    if (IS("aws", "profile"))
        return set_str(&cfg->profile, value, err);
    if (IS("daemon", "workers")) {
        if (set_int(&n, value, 1, 256, err) < 0)
            return -1;
        cfg->workers = (int)n;
        return 0;
    }
    if (IS("daemon", "poll_interval_ms")) {
        if (set_int(&n, value, 10, 3600000, err) < 0)
            return -1;
        cfg->poll_interval_ms = (int)n;
        return 0;
    }
    if (IS("daemon", "poll_max_interval_ms")) {
        if (set_int(&n, value, 10, 3600000, err) < 0)
            return -1;
        cfg->poll_max_interval_ms = (int)n;
        return 0;
    }
    if (IS("daemon", "connect_timeout_ms"))
        return set_int(&cfg->connect_timeout_ms, value, 100, 600000, err);
    if (IS("daemon", "timeout_ms"))
        return set_int(&cfg->timeout_ms, value, 100, 600000, err);
    if (IS("daemon", "log_level")) {
        int l = wd_log_level_parse(value);
        if (l < 0)
            return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                                "\"%s\" is not debug, info, notice, warning or error", value);
        cfg->log_level = l;
        return 0;
    }
#undef IS
    return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "unknown %s",
                        section[0] ? "key" : "key outside any section");
}

struct parse_ctx {
    struct wd_config *cfg;
    struct wd_error first; /* the first error; inih tells its line */
    bool failed;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *ctx = user;
    struct wd_error e;
    if (ctx->failed)
        return 1; /* keep only the first error; ini_parse reports the first failing line */
    if (wd_config_set(ctx->cfg, section, name, value, &e) < 0) {
        wd_error_set(&ctx->first, WD_ERR_CONFIG, 0, NULL, "[%s] %s: %s", section, name, e.message);
        ctx->failed = true;
        return 0;
    }
    return 1;
}

/* inih cuts lines longer than its buffer and parses the rest as if nothing happened: refuse them. */
static int check_line_lengths(FILE *f, const char *path, struct wd_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len >= INI_LINE_MAX - 1) {
            rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s:%d: line is longer than %d bytes", path,
                              lineno, INI_LINE_MAX - 2);
            break;
        }
    }
    free(line);
    rewind(f);
    return rc;
}

int wd_config_read_file(struct wd_config *cfg, const char *path, bool missing_ok, struct wd_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT && missing_ok)
            return 0;
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s: cannot open: %s", path, strerror(errno));
    }
    struct parse_ctx ctx = {.cfg = cfg};
    int rc = check_line_lengths(f, path, err);
    if (rc == 0) {
        int line = ini_parse_file(f, on_ini, &ctx);
        if (line > 0 && ctx.failed)
            rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s:%d: %s", path, line, ctx.first.message);
        else if (line > 0)
            rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                              "%s:%d: syntax error (expected [section] or key = value)", path, line);
        else if (line < 0)
            rc = wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s: cannot read", path);
    }
    fclose(f);
    return rc;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int wd_config_apply_env(struct wd_config *cfg, struct wd_error *err)
{
    const char *v;
    if ((v = env("AWS_REGION")) || (v = env("AWS_DEFAULT_REGION")))
        if (set_str(&cfg->region, v, err) < 0)
            return -1;
    if ((v = env("AWS_ENDPOINT_URL")) && set_str(&cfg->endpoint, v, err) < 0)
        return -1;
    if ((v = env("AWS_ENDPOINT_URL_S3")) && set_str(&cfg->s3_endpoint, v, err) < 0)
        return -1;
    if ((v = env("AWS_ENDPOINT_URL_DYNAMODB")) && set_str(&cfg->dynamodb_endpoint, v, err) < 0)
        return -1;
    if ((v = env("AWS_CA_BUNDLE")) && set_str(&cfg->ca_file, v, err) < 0)
        return -1;
    if ((v = env("AWS_PROFILE")) && set_str(&cfg->profile, v, err) < 0)
        return -1;
    return 0;
}

int wd_config_validate(const struct wd_config *cfg, struct wd_error *err)
{
    if (cfg->requests_bucket == NULL || !*cfg->requests_bucket)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "no requests bucket: set [requests] bucket or --requests_bucket");
    if (!cfg->store_kind_set)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "no store kind: set [store] kind = s3|dynamodb or --destination_flag wb|dwt");
    if (cfg->store_name == NULL || !*cfg->store_name)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "no store name: set [store] name or --destination_name");
    if (cfg->region == NULL || !*cfg->region)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "no region: set [aws] region or AWS_REGION");
    if (cfg->dead_letter_prefix == NULL || !*cfg->dead_letter_prefix)
        return wd_error_set(
            err, WD_ERR_CONFIG, 0, NULL,
            "[requests] dead_letter_prefix must not be empty (the poll loop would take them back)");
    const char *dl =
        cfg->dead_letter_bucket && *cfg->dead_letter_bucket ? cfg->dead_letter_bucket : cfg->requests_bucket;
    const char *rp = cfg->requests_prefix ? cfg->requests_prefix : "";
    if (strcmp(dl, cfg->requests_bucket) == 0 && *rp &&
        strncmp(cfg->dead_letter_prefix, rp, strlen(rp)) != 0 &&
        strncmp(rp, cfg->dead_letter_prefix, strlen(cfg->dead_letter_prefix)) == 0)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "[requests] prefix lies inside the dead-letter prefix");
    const char *urls[] = {cfg->endpoint, cfg->s3_endpoint, cfg->dynamodb_endpoint};
    for (size_t i = 0; i < 3; i++) {
        struct wd_endpoint e;
        if (urls[i] != NULL && wd_endpoint_parse(urls[i], &e, err) < 0)
            return -1;
        if (urls[i] != NULL)
            wd_endpoint_clear(&e);
    }
    if (cfg->poll_max_interval_ms < cfg->poll_interval_ms)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "[daemon] poll_max_interval_ms is smaller than poll_interval_ms");
    return 0;
}

int wd_config_load(const struct wd_config_sources *src, struct wd_config *out, struct wd_error *err)
{
    struct wd_config cfg;
    bool old_flags = src->requests_bucket || src->destination_flag || src->destination_name;
    wd_config_defaults(&cfg);
    if (wd_config_read_file(&cfg, src->path, old_flags && !src->path_given, err) < 0)
        goto fail;
    if (wd_config_apply_env(&cfg, err) < 0)
        goto fail;
    if (src->requests_bucket && wd_config_set(&cfg, "requests", "bucket", src->requests_bucket, err) < 0)
        goto fail;
    if (src->destination_flag) {
        const char *f = src->destination_flag;
        const char *kind = strcmp(f, "wb") == 0 ? "s3" : strcmp(f, "dwt") == 0 ? "dynamodb" : NULL;
        if (kind == NULL) {
            wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "--destination_flag \"%s\" is not wb or dwt", f);
            goto fail;
        }
        if (wd_config_set(&cfg, "store", "kind", kind, err) < 0)
            goto fail;
    }
    if (src->destination_name && wd_config_set(&cfg, "store", "name", src->destination_name, err) < 0)
        goto fail;
    if (wd_config_validate(&cfg, err) < 0) {
        /* Not tied to one line, but the operator still needs to know which file to fix. */
        char msg[sizeof(err->message)];
        snprintf(msg, sizeof(msg), "%s", err->message);
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "%s: %s", src->path, msg);
        goto fail;
    }
    *out = cfg;
    return 0;
fail:
    wd_config_clear(&cfg);
    return -1;
}
