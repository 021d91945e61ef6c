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

static void write_file(const char *text)
{
    snprintf(path, sizeof(path), "/tmp/wdconf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int load(const char *text, struct wd_config *cfg, struct wd_error *err)
{
    write_file(text);
    wd_config_defaults(cfg);
    int rc = wd_config_read_file(cfg, path, false, err);
    if (rc == 0)
        rc = wd_config_validate(cfg, err);
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
    assert_int_equal(cfg.workers, 8);
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
    expect_error("[requests]\nbucket = b\n[nosuch]\nkey = 1\n", 4, "[nosuch] key");
    expect_error("[store]\nkind = mysql\n", 2, "mysql");
    expect_error("[daemon]\n\nworkers = many\n", 3, "workers");
    expect_error("[daemon]\nworkers = 0\n", 2, "workers");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),         cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_long_line_refused), cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_missing_file),      cmocka_unit_test(test_environment_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
