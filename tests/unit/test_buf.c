/* Unit tests: owned buffers, including formatting that fits the spare room and formatting that grows it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_printf_paths(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    /* Empty buffer: no spare room at all. */
    assert_int_equal(wd_buf_printf(&b, "%s-%d", "abc", 42), 0);
    assert_string_equal(b.data, "abc-42");
    assert_int_equal(b.len, 6);
    /* Fits the spare room: one pass. */
    assert_int_equal(wd_buf_printf(&b, "+%c", 'x'), 0);
    assert_string_equal(b.data, "abc-42+x");
    /* Grows: exactly at and past the capacity boundary. */
    char big[300];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t before = b.len;
    assert_int_equal(wd_buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, before + strlen(big));
    assert_int_equal(strlen(b.data), b.len);
    size_t room = b.cap - b.len - 1;
    char exact[1024];
    memset(exact, 'z', room);
    exact[room] = '\0';
    assert_int_equal(wd_buf_printf(&b, "%s", exact), 0); /* fills to the last byte */
    assert_int_equal(strlen(b.data), b.len);
    assert_int_equal(wd_buf_printf(&b, "%s", "!"), 0); /* must grow */
    assert_int_equal(b.data[b.len - 1], '!');
    assert_int_equal(strlen(b.data), b.len);
    wd_buf_free(&b);
}

static void test_append_steal_reset(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    wd_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(wd_buf_append_str(&b, "kept"), 0);
    char *s = wd_buf_steal(&b);
    assert_string_equal(s, "kept");
    assert_null(b.data);
    free(s);
    s = wd_buf_steal(&b); /* an empty buffer yields "" */
    assert_string_equal(s, "");
    free(s);
    assert_int_equal(wd_buf_append_str(&b, "secret"), 0);
    wd_buf_free_secure(&b);
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printf_paths),
        cmocka_unit_test(test_append_steal_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
