/* URI encoding tests: the SigV4 character set, the slash flag, and strict decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "uri.h"

static char *encode(const char *s, bool keep_slash)
{
    struct wd_buf b = {0};
    assert_int_equal(wd_uri_encode(&b, s, strlen(s), keep_slash), 0);
    return wd_buf_steal(&b);
}

static void check_encode(const char *in, bool keep_slash, const char *want)
{
    char *got = encode(in, keep_slash);
    assert_string_equal(got, want);
    free(got);
}

static void test_unreserved_are_kept(void **state)
{
    (void)state;
    const char *unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    check_encode(unreserved, false, unreserved);
    check_encode(unreserved, true, unreserved);
    check_encode("", false, "");
}

static void test_reserved_are_escaped_uppercase(void **state)
{
    (void)state;
    check_encode("a b", false, "a%20b");
    check_encode("a+b", false, "a%2Bb");
    check_encode("100%", false, "100%25");
    check_encode("=&?#", true, "%3D%26%3F%23");
    check_encode("!'()*$,;:@[]", false, "%21%27%28%29%2A%24%2C%3B%3A%40%5B%5D");
    check_encode("\x7f\x01\n", false, "%7F%01%0A");
}

static void test_slash_flag(void **state)
{
    (void)state;
    check_encode("a/b/", true, "a/b/");
    check_encode("a/b/", false, "a%2Fb%2F");
}

static void test_utf8_bytes_are_escaped(void **state)
{
    (void)state;
    check_encode("\xe1\x88\xb4", false, "%E1%88%B4");
    check_encode("/\xe1\x88\xb4", true, "/%E1%88%B4");
    check_encode("\xff", false, "%FF");
}

static void test_dot_segments_are_kept(void **state)
{
    (void)state;
    check_encode("/b/./x/../y", true, "/b/./x/../y");
    check_encode("..", false, "..");
}

static void test_embedded_nul_is_encoded(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_int_equal(wd_uri_encode(&b, "a\0b", 3, false), 0);
    assert_string_equal(b.data, "a%00b");
    wd_buf_free(&b);
}

static void test_encode_appends(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_append_str(&b, "/bucket/"), 0);
    assert_int_equal(wd_uri_encode(&b, "my key", 6, true), 0);
    assert_string_equal(b.data, "/bucket/my%20key");
    assert_int_equal(b.len, strlen("/bucket/my%20key"));
    wd_buf_free(&b);
}

static void test_decode(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    const char *in = "a%20b%2Bc+d%2fe%e1%88%B4";
    assert_int_equal(wd_uri_decode(&b, in, strlen(in)), 0);
    /* '+' stays '+': the query is not form-encoded. */
    assert_string_equal(b.data, "a b+c+d/e\xe1\x88\xb4");
    wd_buf_reset(&b);
    assert_int_equal(wd_uri_decode(&b, "%00", 3), 0);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.data[0], '\0');
    wd_buf_free(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *const samples[] = {"my key+%?#.txt", "/b/a/../c", "\xe1\x88\xb4/\xff", "~-._", ""};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        for (int slash = 0; slash < 2; slash++) {
            struct wd_buf enc = {0}, dec = {0};
            assert_int_equal(wd_uri_encode(&enc, samples[i], strlen(samples[i]), slash), 0);
            assert_int_equal(wd_uri_decode(&dec, enc.data, enc.len), 0);
            assert_int_equal(dec.len, strlen(samples[i]));
            assert_memory_equal(dec.data, samples[i], dec.len);
            wd_buf_free(&enc);
            wd_buf_free(&dec);
        }
    }
}

static void test_malformed_escapes_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {"%", "%2", "a%", "a%g0", "%0g", "%%20", "ok%2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wd_buf b = {0};
        assert_int_equal(wd_buf_append_str(&b, "keep"), 0);
        if (wd_uri_decode(&b, bad[i], strlen(bad[i])) != -1)
            fail_msg("\"%s\" decoded without error", bad[i]);
        /* A rejected input leaves the buffer as it was. */
        assert_string_equal(b.data, "keep");
        assert_int_equal(b.len, 4);
        wd_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreserved_are_kept),
        cmocka_unit_test(test_reserved_are_escaped_uppercase),
        cmocka_unit_test(test_slash_flag),
        cmocka_unit_test(test_utf8_bytes_are_escaped),
        cmocka_unit_test(test_dot_segments_are_kept),
        cmocka_unit_test(test_embedded_nul_is_encoded),
        cmocka_unit_test(test_encode_appends),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_malformed_escapes_rejected),
    };
    return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
