/* Unit tests: log levels and the journal fields that let `journalctl REQUEST_ID=...` find a request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "log.h"

static void test_journal_fields(void **state)
{
    (void)state;
    struct wd_buf f[6] = {{0}};
    struct wd_log_ids ids = {.request_key = "0001 a\nb", .request_id = "r-1", .widget_id = "w/1"};
    int n = wd_log_journal_fields(LOG_WARNING, "update of widget 'w/1': widget not found", &ids, f);
    assert_int_equal(n, 6);
    assert_string_equal(f[0].data, "MESSAGE=update of widget 'w/1': widget not found");
    assert_string_equal(f[1].data, "PRIORITY=4");
    assert_string_equal(f[2].data, "SYSLOG_IDENTIFIER=widgetd");
    /* Raw values: the native protocol carries newlines, so the field is the key exactly. */
    assert_string_equal(f[3].data, "REQUEST_KEY=0001 a\nb");
    assert_string_equal(f[4].data, "REQUEST_ID=r-1");
    assert_string_equal(f[5].data, "WIDGET_ID=w/1");
    for (int i = 0; i < 6; i++)
        wd_buf_free(&f[i]);

    /* Unknown IDs (a bad request) are left out, not sent empty. */
    struct wd_log_ids key_only = {.request_key = "k"};
    n = wd_log_journal_fields(LOG_ERR, "bad", &key_only, f);
    assert_int_equal(n, 4);
    assert_string_equal(f[1].data, "PRIORITY=3");
    assert_string_equal(f[3].data, "REQUEST_KEY=k");
    for (int i = 0; i < 6; i++)
        wd_buf_free(&f[i]);
    n = wd_log_journal_fields(LOG_INFO, "started", NULL, f);
    assert_int_equal(n, 3);
    for (int i = 0; i < 6; i++)
        wd_buf_free(&f[i]);
}

static void test_levels(void **state)
{
    (void)state;
    assert_int_equal(wd_log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(wd_log_level_parse("INFO"), LOG_INFO);
    assert_int_equal(wd_log_level_parse("warning"), LOG_WARNING);
    assert_int_equal(wd_log_level_parse("error"), LOG_ERR);
    assert_int_equal(wd_log_level_parse("err"), LOG_ERR);
    assert_int_equal(wd_log_level_parse("loud"), -1);
}

static void test_journal_detection(void **state)
{
    (void)state;
    /* Not the journal: no JOURNAL_STREAM, or one naming another file. */
    unsetenv("JOURNAL_STREAM");
    wd_log_open();
    assert_false(wd_log_to_journal());
    setenv("JOURNAL_STREAM", "1:1", 1);
    wd_log_open();
    assert_false(wd_log_to_journal());
    unsetenv("JOURNAL_STREAM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_fields),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_journal_detection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
