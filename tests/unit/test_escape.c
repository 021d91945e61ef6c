/* Unit tests of lib/escape.c: outside strings made safe for a log line, S3 metadata and an error reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

static const char *esc(struct wd_buf *b, enum wd_escape_mode mode, const char *s, size_t len, size_t max)
{
    wd_buf_reset(b);
    assert_int_equal(wd_escape(b, mode, s, len, max), 0);
    assert_int_equal(strlen(b->data), b->len);
    return b->data;
}

#define LOG(b, s) esc((b), WD_ESCAPE_LOG, (s), strlen(s), 0)
#define META(b, s, max) esc((b), WD_ESCAPE_METADATA, (s), strlen(s), (max))
#define REASON(b, s, max) esc((b), WD_ESCAPE_REASON, (s), strlen(s), (max))

/* True when s holds no byte below 0x20, no DEL and no byte that starts a C1 control in UTF-8. */
static bool one_safe_line(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return false;
    return true;
}

static void test_log(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_string_equal(LOG(&b, "1612306370542"), "1612306370542");
    /* A newline in a key must not start a forged line: journald reads "<0>" after it as a priority. */
    assert_string_equal(LOG(&b, "a\n<0>b\rc\x7f"), "a\\x0A<0>b\\x0Dc\\x7F");
    /* The quotes of the line around it, and the escape character itself. */
    assert_string_equal(LOG(&b, "it's \\"), "it\\x27s \\x5C");
    assert_string_equal(LOG(&b, "say \"hi\""), "say \"hi\"");
    /* Terminal escapes: ESC (C0) and CSI as a C1 control (U+009B). */
    assert_string_equal(LOG(&b, "\x1b[31mred \xc2\x9b"
                                "2J"),
                        "\\x1B[31mred \\xC2\\x9B2J");
    /* Printable UTF-8 stays for people to read; bytes that are not UTF-8 do not. */
    assert_string_equal(LOG(&b, "\xe1\x88\xb4 ok \xef\xbf\xbf"), "\xe1\x88\xb4 ok \xef\xbf\xbf");
    assert_string_equal(LOG(&b, "bad \xff\xc3(\xed\xa0\x80"), "bad \\xFF\\xC3(\\xED\\xA0\\x80");
    /* Line separators and bidirectional overrides change how a line reads: escaped, byte by byte. */
    assert_string_equal(LOG(&b, "a\xe2\x80\xa8"
                                "b\xe2\x80\xae"
                                "c\xe2\x81\xa6"
                                "d\xe2\x80\x8f"),
                        "a\\xE2\\x80\\xA8b\\xE2\\x80\\xAEc\\xE2\\x81\\xA6d\\xE2\\x80\\x8F");
    /* Their neighbours are ordinary text. */
    assert_string_equal(LOG(&b, "\xe2\x80\x94\xe2\x80\xaf\xe2\x81\xa0"),
                        "\xe2\x80\x94\xe2\x80\xaf\xe2\x81\xa0");
    assert_string_equal(LOG(&b, ""), "");
    /* Embedded NUL bytes of a counted string are escaped too. */
    assert_string_equal(esc(&b, WD_ESCAPE_LOG, "a\0b", 3, 0), "a\\x00b");
    /* wd_escape_str: reset first, NULL is empty. */
    assert_string_equal(wd_escape_str(&b, WD_ESCAPE_LOG, "x\ty"), "x\\x09y");
    assert_string_equal(wd_escape_str(&b, WD_ESCAPE_LOG, NULL), "");
    wd_buf_free(&b);
}

static void test_log_every_byte(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)(255 - i);
    esc(&b, WD_ESCAPE_LOG, all, sizeof(all), 0);
    assert_true(one_safe_line(b.data));
    assert_null(strchr(b.data, '\''));
    wd_buf_free(&b);
}

static void test_metadata(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_string_equal(META(&b, "owner \"a1!\" does not match [A-Za-z ]+", 1024),
                        "owner \"a1!\" does not match [A-Za-z ]+");
    /* Printable ASCII only: others escaped; runs of blanks collapse; no leading/trailing blank. */
    assert_string_equal(META(&b, "  caf\xc3\xa9\tand\n\\  x  ", 1024), "caf\\xC3\\xA9 and\\x0A\\\\ x");
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(strlen(META(&b, big, 1024)), 1024);
    /* An escape is never cut in half at the limit, and a cut adds nothing. */
    assert_string_equal(META(&b, "abc\x01", 5), "abc");
    assert_string_equal(META(&b, "", 1024), "");
    /* Appends after what the buffer holds. */
    wd_buf_reset(&b);
    assert_int_equal(wd_buf_append_str(&b, "x="), 0);
    assert_int_equal(wd_escape(&b, WD_ESCAPE_METADATA, " y ", 3, 10), 0);
    assert_string_equal(b.data, "x=y");
    wd_buf_free(&b);
}

static void test_reason(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    /* Quotes and backslashes escaped so the text can sit between "...". */
    assert_string_equal(REASON(&b, "a \"b\" \\c", 0), "a \\\"b\\\" \\\\c");
    assert_string_equal(REASON(&b, "line\r\nnext\x1b", 0), "line\\x0D\\x0Anext\\x1B");
    assert_string_equal(REASON(&b, "z\xc3\xbcrich \xc2\x85", 0), "z\xc3\xbcrich \\xC2\\x85");
    /* A cut ends in "..." within max, never splitting an escape or a character. */
    assert_string_equal(REASON(&b, "abcdefgh", 8), "abcdefgh");
    assert_string_equal(REASON(&b, "abcdefghi", 8), "abcde...");
    assert_string_equal(REASON(&b, "ab\x01xyz", 8), "ab...");
    assert_string_equal(REASON(&b, "ab\xe2\x82\xac\xe2\x82\xac", 8), "ab\xe2\x82\xac\xe2\x82\xac");
    assert_string_equal(REASON(&b, "ab\xe2\x82\xac\xe2\x82\xacx", 8), "ab\xe2\x82\xac...");
    wd_buf_free(&b);
}

static void test_quoted(void **state)
{
    (void)state;
    char q[16];
    assert_string_equal(wd_escape_quoted(q, sizeof(q), "a1!", 3), "\"a1!\"");
    assert_string_equal(wd_escape_quoted(q, sizeof(q), "a\"\n", 3), "\"a\\\"\\x0A\"");
    /* Too long: cut with "..." inside the quotes, within the caller's array. */
    const char *long_value = "0123456789abcdefghij";
    assert_string_equal(wd_escape_quoted(q, sizeof(q), long_value, strlen(long_value)), "\"0123456789...\"");
    assert_int_equal(strlen(q), sizeof(q) - 1);
    /* Unquoted, in any mode. */
    assert_string_equal(wd_escape_fixed(q, sizeof(q), WD_ESCAPE_LOG, "a'\n", 3), "a\\x27\\x0A");
    assert_string_equal(wd_escape_fixed(q, sizeof(q), WD_ESCAPE_REASON, long_value, strlen(long_value)),
                        "0123456789ab...");
    assert_int_equal(strlen(q), sizeof(q) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log),    cmocka_unit_test(test_log_every_byte), cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_reason), cmocka_unit_test(test_quoted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
