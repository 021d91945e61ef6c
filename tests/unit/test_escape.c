/* Unit tests: making user-controlled strings safe for log lines and for S3 metadata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "consumer.h"
#include "log.h"

static void test_log_quote(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_string_equal(wd_log_quote(&b, "1612306370542"), "1612306370542");
    /* A newline in a key must not start a forged log line. */
    assert_string_equal(wd_log_quote(&b, "a\nb\rc\x7f"), "a\\x0Ab\\x0Dc\\x7F");
    assert_string_equal(wd_log_quote(&b, "it's \\"), "it\\x27s \\x5C");
    assert_string_equal(wd_log_quote(&b, "\xe1\x88\xb4 ok"), "\xe1\x88\xb4 ok");
    assert_string_equal(wd_log_quote(&b, ""), "");
    wd_buf_free(&b);
}

static void test_metadata_escape(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_int_equal(wd_metadata_escape("owner \"a1!\" does not match [A-Za-z ]+", 1024, &b), 0);
    assert_string_equal(b.data, "owner \"a1!\" does not match [A-Za-z ]+");
    wd_buf_reset(&b);
    /* Printable ASCII only: others escaped; runs of blanks collapse; no leading/trailing blank. */
    assert_int_equal(wd_metadata_escape("  caf\xc3\xa9\tand\n\\  x  ", 1024, &b), 0);
    assert_string_equal(b.data, "caf\\xC3\\xA9 and\\x0A\\\\ x");
    wd_buf_reset(&b);
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(wd_metadata_escape(big, 1024, &b), 0);
    assert_int_equal(b.len, 1024);
    wd_buf_reset(&b);
    /* An escape is never cut in half at the limit. */
    assert_int_equal(wd_metadata_escape("abc\x01", 5, &b), 0);
    assert_string_equal(b.data, "abc");
    wd_buf_reset(&b);
    assert_int_equal(wd_metadata_escape("", 1024, &b), 0);
    assert_string_equal(b.data, "");
    wd_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_quote),
        cmocka_unit_test(test_metadata_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
