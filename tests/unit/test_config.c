/* Unit tests: the configuration file, environment and validation, with file:line error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char path[64];

static void write_bytes(const char *data, size_t len)
{
    snprintf(path, sizeof(path), "/tmp/wdconf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void write_file(const char *text)
{
    write_bytes(text, strlen(text));
}

static int load_bytes(const char *data, size_t len, struct wd_config *cfg, struct wd_error *err)
{
    write_bytes(data, len);
    wd_config_defaults(cfg);
    int rc = wd_config_read_file(cfg, path, false, err);
    if (rc == 0)
        rc = wd_config_validate(cfg, path, err);
    unlink(path);
    return rc;
}

static int load(const char *text, struct wd_config *cfg, struct wd_error *err)
{
    write_file(text);
    wd_config_defaults(cfg);
    int rc = wd_config_read_file(cfg, path, false, err);
    if (rc == 0)
        rc = wd_config_validate(cfg, path, err);
    unlink(path);
    return rc;
}

static const char *good = "# comment\n"
                          "[requests]\n"
                          "bucket = reqs\n"
                          "dead_letter_prefix = dl/\n"
                          "[store]\n"
                          "kind = dynamodb\n"
                          "name = widgets\n"
                          "[aws]\n"
                          "region = eu-west-1\n"
                          "endpoint = http://127.0.0.1:1\n"
                          "path_style = yes\n"
                          "[daemon]\n"
                          "workers = 8\n"
                          "log_level = warning\n";

static void test_good_file(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    assert_int_equal(load(good, &cfg, &err), 0);
    assert_string_equal(cfg.requests_bucket, "reqs");
    assert_string_equal(cfg.dead_letter_prefix, "dl/");
    assert_int_equal(cfg.store_kind, WD_STORE_DYNAMODB);
    assert_string_equal(cfg.store_name, "widgets");
    assert_string_equal(cfg.region, "eu-west-1");
    assert_int_equal(cfg.path_style, WD_PATH_STYLE_YES);
    assert_int_equal(cfg.calls_in_flight, 8);    /* "workers", the old name, still sets it */
    assert_int_equal(cfg.poll_interval_ms, 100); /* default kept */
    assert_true(cfg.verify_tls);
    wd_config_clear(&cfg);
}

static void expect_error(const char *text, int line, const char *needle)
{
    struct wd_config cfg;
    struct wd_error err = {0};
    char want[128];
    assert_int_equal(load(text, &cfg, &err), -1);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    if (line > 0) {
        snprintf(want, sizeof(want), "%s:%d: ", path, line);
        if (strncmp(err.message, want, strlen(want)) != 0)
            fail_msg("\"%s\" does not start with \"%s\"", err.message, want);
    }
    if (strstr(err.message, needle) == NULL)
        fail_msg("\"%s\" does not mention \"%s\"", err.message, needle);
    wd_config_clear(&cfg);
}

static void test_errors_name_file_and_line(void **state)
{
    (void)state;
    expect_error("[requests]\nbucket = b\nbukket = c\n", 3, "bukket");
    /* An unknown section is refused at its header, even with no key in it. */
    expect_error("[requests]\nbucket = b\n[nosuch]\nkey = 1\n", 3, "[nosuch]: unknown section");
    expect_error("[requests]\nbucket = b\n[deamon]\n", 3, "[deamon]: unknown section");
    expect_error("[store]\nkind = mysql\n", 2, "mysql");
    expect_error("[daemon]\n\nworkers = many\n", 3, "workers");
    expect_error("[daemon]\nworkers = 0\n", 2, "workers");
    expect_error("[daemon]\ncalls_in_flight = 0\n", 2, "calls_in_flight");
    expect_error("[daemon]\ncalls_in_flight = 1025\n", 2, "from 1 to 1024");
    expect_error("[aws]\nverify_tls = maybe\n", 2, "verify_tls");
    expect_error("[requests]\nthis is not ini\n", 2, "syntax");
    /* First error wins, even when later lines are also bad. */
    expect_error("[requests]\nbad1 = x\nbad2 = y\n", 2, "bad1");
}

static void test_long_line_refused(void **state)
{
    (void)state;
    char text[400];
    char name[260];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(text, sizeof(text), "[requests]\nbucket = %s\n", name);
    expect_error(text, 2, "longer than");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error("[store]\nkind = s3\nname = w\n[aws]\nregion = r\n", 0, "requests bucket");
    expect_error("[requests]\nbucket = b\n[store]\nname = w\n[aws]\nregion = r\n", 0, "store kind");
    expect_error("[requests]\nbucket = b\n[store]\nkind = s3\n[aws]\nregion = r\n", 0, "store name");
    expect_error("[requests]\nbucket = b\n[store]\nkind = s3\nname = w\n", 0, "region");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    wd_config_defaults(&cfg);
    assert_int_equal(wd_config_read_file(&cfg, "/nonexistent/widgetd.conf", false, &err), -1);
    assert_non_null(strstr(err.message, "/nonexistent/widgetd.conf"));
    assert_int_equal(wd_config_read_file(&cfg, "/nonexistent/widgetd.conf", true, &err), 0);
    wd_config_clear(&cfg);
}

static void test_environment_wins(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    setenv("AWS_REGION", "ap-south-1", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2", 1);
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
    write_file(good);
    wd_config_defaults(&cfg);
    assert_int_equal(wd_config_read_file(&cfg, path, false, &err), 0);
    unlink(path);
    assert_int_equal(wd_config_apply_env(&cfg, &err), 0);
    assert_string_equal(cfg.region, "ap-south-1");
    assert_string_equal(cfg.s3_endpoint, "http://127.0.0.1:2");
    assert_string_equal(cfg.endpoint, "http://127.0.0.1:1");
    unsetenv("AWS_REGION");
    unsetenv("AWS_ENDPOINT_URL_S3");
    wd_config_clear(&cfg);
}

/* A complete, valid file with these lines in [requests] and these in [store] after "kind = s3". */
static char *conf(const char *requests, const char *store)
{
    static char text[1024];
    snprintf(text, sizeof(text),
             "[requests]\nbucket = reqs\n%s[store]\nkind = s3\n%s[aws]\nregion = us-east-1\n", requests,
             store);
    return text;
}

static void expect_ok(const char *text)
{
    struct wd_config cfg;
    struct wd_error err = {0};
    if (load(text, &cfg, &err) != 0)
        fail_msg("refused: %s\n--- file:\n%s", err.message, text);
    wd_config_clear(&cfg);
}

/*
 * The CA certificates: AWS_CA_BUNDLE wins over [aws] ca_file as every AWS variable wins over the file
 * (the AWS CLI's order too); neither: NULL, the system's. An unreadable one is refused where it was set.
 */
#define CA_CONF(ca)                                                                                          \
    "[requests]\nbucket = b\n[store]\nkind = s3\nname = w\n[aws]\nregion = us-east-1\nca_file = " ca "\n"

static void test_ca_file(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    unsetenv("AWS_CA_BUNDLE");
    assert_int_equal(load(good, &cfg, &err), 0);
    assert_null(cfg.ca_file);
    wd_config_clear(&cfg);
    expect_ok(CA_CONF("/dev/null"));
    expect_error(CA_CONF("/nonexistent/ca.pem"), 8,
                 "[aws] ca_file: cannot read the CA certificates \"/nonexistent/ca.pem\": No such file");

    /* The file names one, the variable another: the variable wins, and is the one named. */
    write_file(CA_CONF("/dev/null"));
    wd_config_defaults(&cfg);
    assert_int_equal(wd_config_read_file(&cfg, path, false, &err), 0);
    unlink(path);
    assert_string_equal(cfg.ca_file, "/dev/null");
    setenv("AWS_CA_BUNDLE", "/nonexistent/bundle.pem", 1);
    assert_int_equal(wd_config_apply_env(&cfg, &err), 0);
    unsetenv("AWS_CA_BUNDLE");
    assert_string_equal(cfg.ca_file, "/nonexistent/bundle.pem");
    assert_int_equal(wd_config_validate(&cfg, path, &err), -1);
    assert_string_equal(err.message, "AWS_CA_BUNDLE: cannot read the CA certificates "
                                     "\"/nonexistent/bundle.pem\": No such file or directory");
    wd_config_clear(&cfg);
}

static void test_twice_refused(void **state)
{
    (void)state;
    /* A key given twice: both lines named, neither value taken silently. */
    expect_error("[requests]\nbucket = a\nprefix = in/\nbucket = b\n", 4,
                 "[requests] bucket given twice (lines 2 and 4)");
    /* In a section opened twice, the section is what is refused. */
    expect_error("[requests]\nbucket = a\n[store]\nkind = s3\n[requests]\nprefix = x/\n", 5,
                 "[requests] given twice (lines 1 and 5)");
    expect_error("[aws]\n[aws]\n", 2, "[aws] given twice (lines 1 and 2)");
    /* The first problem wins, in line order. */
    expect_error("[requests]\nbogus = 1\nbucket = a\nbucket = b\n", 2, "bogus");
    expect_error("[requests]\nbucket = a\nbucket = b\nbogus = 1\n", 3, "given twice");
    expect_error("[requests]\nbucket = a\nbucket = b\nthis is not ini\n", 3, "given twice");
    expect_error("[requests]\nthis is not ini\nbucket = a\nbucket = b\n", 2, "syntax");
    /* Indentation no longer makes a continuation line that silently replaces the value. */
    expect_error("[requests]\nbucket = a\n  bucket = b\n", 3, "given twice");
    expect_ok(conf("", "name = w\n"));
}

static void test_nul_byte_refused(void **state)
{
    (void)state;
    static const char text[] = "[requests]\nbucket = reqs\nprefix = in/\0evil\n[store]\nkind = s3\nname = w\n"
                               "[aws]\nregion = us-east-1\n";
    struct wd_config cfg;
    struct wd_error err = {0};
    char want[128];
    assert_int_equal(load_bytes(text, sizeof(text) - 1, &cfg, &err), -1);
    snprintf(want, sizeof(want), "%s:3: ", path);
    if (strncmp(err.message, want, strlen(want)) != 0 || strstr(err.message, "NUL") == NULL)
        fail_msg("\"%s\" does not name %s and the NUL byte", err.message, want);
    wd_config_clear(&cfg);
}

static void test_directory_refused(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    char dir[] = "/tmp/wdconf-dir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    wd_config_defaults(&cfg);
    assert_int_equal(wd_config_read_file(&cfg, dir, false, &err), -1);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    if (strncmp(err.message, dir, strlen(dir)) != 0 || strstr(err.message, "directory") == NULL)
        fail_msg("\"%s\" does not say that %s is a directory", err.message, dir);
    /* Not even when a missing file would be fine. */
    assert_int_equal(wd_config_read_file(&cfg, dir, true, &err), -1);
    wd_config_clear(&cfg);
    rmdir(dir);
}

static void test_region_shape(void **state)
{
    (void)state;
    static const char *const good_regions[] = {"us-east-1",  "eu-central-2",   "us-gov-west-1",
                                               "cn-north-1", "ap-southeast-4", "us-isob-east-1",
                                               "local",      "default"};
    static const char *const bad_regions[] = {
        "US-EAST-1",  "us_east_1", "us-east-1/evil", "-us",        "us-",
        "us--east-1", "1us",       "us east 1",      "us-east-1.", "us-\xc3\xa9st-1"};
    char text[512];
    for (size_t i = 0; i < sizeof(good_regions) / sizeof(good_regions[0]); i++) {
        snprintf(text, sizeof(text),
                 "[requests]\nbucket = b\n[store]\nkind = s3\nname = w\n[aws]\nregion = %s\n",
                 good_regions[i]);
        expect_ok(text);
    }
    for (size_t i = 0; i < sizeof(bad_regions) / sizeof(bad_regions[0]); i++) {
        snprintf(text, sizeof(text),
                 "[requests]\nbucket = b\n[store]\nkind = s3\nname = w\n[aws]\nregion = %s\n",
                 bad_regions[i]);
        expect_error(text, 7, "is not a region name");
    }
    /* From the environment: the variable is named. */
    struct wd_config cfg;
    struct wd_error err = {0};
    wd_config_defaults(&cfg);
    setenv("AWS_REGION", "Frankfurt", 1);
    assert_int_equal(wd_config_apply_env(&cfg, &err), 0);
    unsetenv("AWS_REGION");
    assert_int_equal(wd_config_set(&cfg, "requests", "bucket", "b", (struct wd_origin){0}, &err), 0);
    assert_int_equal(wd_config_set(&cfg, "store", "kind", "s3", (struct wd_origin){0}, &err), 0);
    assert_int_equal(wd_config_set(&cfg, "store", "name", "w", (struct wd_origin){0}, &err), 0);
    assert_int_equal(wd_config_validate(&cfg, "/etc/widgetd/widgetd.conf", &err), -1);
    assert_string_equal(err.message,
                        "AWS_REGION: \"Frankfurt\" is not a region name (lowercase letters, digits "
                        "and hyphens, like us-east-1)");
    wd_config_clear(&cfg);
}

static void test_own_output_refused(void **state)
{
    (void)state;
    /* An S3 store in the requests bucket. */
    expect_error(conf("", "name = reqs\n"), 5,
                 "the S3 store \"reqs\" is the requests bucket ([requests] bucket on line 2)");
    expect_ok(
        "[requests]\nbucket = reqs\n[store]\nkind = dynamodb\nname = reqs\n[aws]\nregion = us-east-1\n");

    /* The requests prefix equal to, or inside, the dead-letter prefix of the same bucket. */
    expect_error(conf("prefix = dead-letter/\n", "name = w\n"), 3,
                 "\"dead-letter/\" is the dead-letter prefix \"dead-letter/\" (the default [requests] "
                 "dead_letter_prefix)");
    expect_error(conf("prefix = dead-letter/in/\n", "name = w\n"), 3, "lies inside the dead-letter prefix");
    expect_error(
        conf("prefix = dead-letters/\ndead_letter_prefix = dead-letter\n", "name = w\n"), 3,
        "lies inside the dead-letter prefix \"dead-letter\" ([requests] dead_letter_prefix on line 4)");
    expect_error(conf("prefix = in/\ndead_letter_prefix = in/\n", "name = w\n"), 3,
                 "is the dead-letter prefix");
    /* A dead-letter bucket named explicitly as the requests bucket is the same bucket. */
    expect_error(conf("dead_letter_bucket = reqs\nprefix = dead-letter/x\n", "name = w\n"), 4,
                 "in the same bucket ([requests] dead_letter_bucket on line 3)");
    /* Dead letters inside the requests prefix are fine: the poll loop skips them (the defaults do this). */
    expect_ok(conf("", "name = w\n"));
    expect_ok(conf("prefix = in/\ndead_letter_prefix = in/dead/\n", "name = w\n"));
    expect_ok(conf("prefix = dead-letter\n",
                   "name = w\n")); /* "dead-letter/..." is skipped, "dead-letterX" taken */
    expect_ok(conf("prefix = dead-letter/\ndead_letter_bucket = elsewhere\n", "name = w\n"));

    /* Dead letters among an S3 store's widgets could overwrite one. */
    expect_error(conf("dead_letter_bucket = w\ndead_letter_prefix = widgets/x/\n", "name = w\n"), 4,
                 "overwrite a widget");
    expect_error(conf("dead_letter_bucket = w\ndead_letter_prefix = wid\n", "name = w\n"), 4,
                 "overwrite a widget");
    expect_ok(conf("dead_letter_bucket = w\n", "name = w\n"));
}

/* wd_config_load with the old script's flags and no file. */
static int load_flags(const char *bucket, const char *flag, const char *name, struct wd_config *cfg,
                      struct wd_error *err)
{
    struct wd_config_sources src = {.path = "/nonexistent/widgetd.conf",
                                    .requests_bucket = bucket,
                                    .destination_flag = flag,
                                    .destination_name = name};
    setenv("AWS_REGION", "us-east-1", 1);
    int rc = wd_config_load(&src, cfg, err);
    unsetenv("AWS_REGION");
    return rc;
}

static void test_old_flags(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    /* The replaced script's README spells the flag's values -wb and -dwt (SPEC 6). */
    assert_int_equal(load_flags("reqs", "-wb", "w", &cfg, &err), 0);
    assert_int_equal(cfg.store_kind, WD_STORE_S3);
    wd_config_clear(&cfg);
    assert_int_equal(load_flags("reqs", "-dwt", "w", &cfg, &err), 0);
    assert_int_equal(cfg.store_kind, WD_STORE_DYNAMODB);
    wd_config_clear(&cfg);
    assert_int_equal(load_flags("reqs", "dwt", "w", &cfg, &err), 0);
    wd_config_clear(&cfg);
    assert_int_equal(load_flags("reqs", "--wb", "w", &cfg, &err), -1);
    assert_non_null(strstr(err.message, "is not wb or dwt"));
    assert_int_equal(load_flags("reqs", "-", "w", &cfg, &err), -1);

    /* Its own output as requests: the options are named. */
    assert_int_equal(load_flags("reqs", "wb", "reqs", &cfg, &err), -1);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    assert_string_equal(err.message,
                        "--destination_name: the S3 store \"reqs\" is the requests bucket "
                        "(--requests_bucket): widgetd would read the widgets it writes as requests");
    assert_int_equal(load_flags("reqs", "-dwt", "reqs", &cfg, &err), 0);
    wd_config_clear(&cfg);
}

/* What wd_config_log_warnings() writes to stderr. */
static void warnings_of(const struct wd_config *cfg, const char *file, char *out, size_t size)
{
    char tmp[] = "/tmp/wdconf-log-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    wd_config_log_warnings(cfg, file);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(tmp);
}

static void test_verify_tls_warning(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    char out[1024], want[128];
    assert_int_equal(load("[requests]\nbucket = b\n[store]\nkind = s3\nname = w\n[aws]\nregion = us-east-1\n"
                          "verify_tls = no\n",
                          &cfg, &err),
                     0);
    assert_false(cfg.verify_tls);
    assert_int_equal(cfg.origin[WD_SETTING_VERIFY_TLS].line, 8);
    warnings_of(&cfg, "/etc/widgetd/widgetd.conf", out, sizeof(out));
    snprintf(want, sizeof(want), "<4>/etc/widgetd/widgetd.conf:8: [aws] verify_tls: verify_tls = no: TLS");
    if (strncmp(out, want, strlen(want)) != 0)
        fail_msg("warning \"%s\" does not start with \"%s\"", out, want);
    wd_config_clear(&cfg);

    assert_int_equal(load(good, &cfg, &err), 0);
    warnings_of(&cfg, "/etc/widgetd/widgetd.conf", out, sizeof(out));
    assert_string_equal(out, "");
    wd_config_clear(&cfg);
}

/* [lease] (SPEC 9): its defaults, its keys, and timings that could never work refused at their line. */
static void test_lease(void **state)
{
    (void)state;
    struct wd_config cfg;
    struct wd_error err = {0};
    const char *base = "[requests]\nbucket = b\n[store]\nkind = s3\nname = w\n[aws]\nregion = us-east-1\n";
    char text[1024];

    assert_int_equal(load(base, &cfg, &err), 0);
    assert_null(cfg.lease_table);
    /* The defaults give a takeover within 30 s of a crash: duration plus one renewal. */
    assert_true(cfg.lease_duration_ms + cfg.lease_renew_ms <= 30000);
    assert_true(cfg.lease_duration_ms > cfg.lease_renew_ms + cfg.connect_timeout_ms + cfg.timeout_ms);
    wd_config_clear(&cfg);

    snprintf(text, sizeof(text),
             "%s[lease]\ntable = leases\nduration_ms = 4000\nrenew_ms = 500\nname = a-1\n"
             "[daemon]\nconnect_timeout_ms = 500\ntimeout_ms = 1500\n",
             base);
    assert_int_equal(load(text, &cfg, &err), 0);
    assert_string_equal(cfg.lease_table, "leases");
    assert_int_equal(cfg.lease_duration_ms, 4000);
    assert_int_equal(cfg.lease_renew_ms, 500);
    assert_string_equal(cfg.lease_name, "a-1");
    wd_config_clear(&cfg);

    /* 2000 <= 500 + 500 + 1500: a leader could not renew and finish a call in time. */
    snprintf(text, sizeof(text),
             "%s[lease]\ntable = leases\nduration_ms = 2000\nrenew_ms = 500\n"
             "[daemon]\nconnect_timeout_ms = 500\ntimeout_ms = 1500\n",
             base);
    assert_int_equal(load(text, &cfg, &err), -1);
    wd_config_clear(&cfg);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    if (strstr(err.message,
               ":10: [lease] duration_ms: duration_ms (2000, less 1% for clock drift) must be more than") ==
        NULL)
        fail_msg("unexpected message: %s", err.message);

    /* 2520 - 26 (1% for clock drift) <= 500 + 500 + 1500 */
    snprintf(text, sizeof(text),
             "%s[lease]\ntable = leases\nduration_ms = 2520\nrenew_ms = 500\n"
             "[daemon]\nconnect_timeout_ms = 500\ntimeout_ms = 1500\n",
             base);
    assert_int_equal(load(text, &cfg, &err), -1);
    wd_config_clear(&cfg);
    /* The defaults' 13 s of timeouts do not fit a 10 s lease either. */
    snprintf(text, sizeof(text), "%s[lease]\ntable = leases\nduration_ms = 10000\n", base);
    assert_int_equal(load(text, &cfg, &err), -1);
    wd_config_clear(&cfg);

    snprintf(text, sizeof(text), "%s[lease]\ntable = leases\nname = two words\n", base);
    assert_int_equal(load(text, &cfg, &err), -1);
    wd_config_clear(&cfg);
    if (strstr(err.message, ":10: [lease] name:") == NULL)
        fail_msg("unexpected message: %s", err.message);
    snprintf(text, sizeof(text), "%s[lease]\ntable = leases\nrenew_ms = 0\n", base);
    assert_int_equal(load(text, &cfg, &err), -1);
    wd_config_clear(&cfg);
    snprintf(text, sizeof(text), "%s[lease]\ntable = leases\nttl = 5\n", base);
    assert_int_equal(load(text, &cfg, &err), -1);
    wd_config_clear(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_long_line_refused),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_environment_wins),
        cmocka_unit_test(test_twice_refused),
        cmocka_unit_test(test_nul_byte_refused),
        cmocka_unit_test(test_directory_refused),
        cmocka_unit_test(test_region_shape),
        cmocka_unit_test(test_own_output_refused),
        cmocka_unit_test(test_old_flags),
        cmocka_unit_test(test_verify_tls_warning),
        cmocka_unit_test(test_ca_file),
        cmocka_unit_test(test_lease),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
