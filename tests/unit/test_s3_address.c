/* Unit tests: S3 addressing (path and virtual-hosted), ListObjectsV2 queries, endpoint URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "aws.h"
#include "s3.h"

static void check_address(bool path_style, const char *bucket, const char *key, const char *want_host,
                          const char *want_path)
{
    struct wd_s3 s3 = {
        .endpoint = {.scheme = (char[]){"https"}, .host = (char[]){"s3.us-east-1.amazonaws.com"}},
        .path_style = path_style};
    struct wd_buf host = {0}, path = {0};
    assert_int_equal(wd_s3_address(&s3, bucket, key, &host, &path), 0);
    assert_string_equal(host.data, want_host);
    assert_string_equal(path.data, want_path);
    wd_buf_free(&host);
    wd_buf_free(&path);
}

static void test_path_style(void **state)
{
    (void)state;
    check_address(true, "requests", "1612306370542", "s3.us-east-1.amazonaws.com", "/requests/1612306370542");
    check_address(true, "requests", NULL, "s3.us-east-1.amazonaws.com", "/requests");
    /* Each byte outside the unreserved set is encoded exactly once; '/' separates segments. */
    check_address(true, "b", "widgets/mary-matthews/a b+c%d?e#f", "s3.us-east-1.amazonaws.com",
                  "/b/widgets/mary-matthews/a%20b%2Bc%25d%3Fe%23f");
    check_address(true, "b", "widgets/x/\xe1\x88\xb4", "s3.us-east-1.amazonaws.com",
                  "/b/widgets/x/%E1%88%B4");
    /* Dot segments and empty segments are part of the key: kept as they are, never normalised. */
    check_address(true, "b", "widgets/x/../y/./z//w", "s3.us-east-1.amazonaws.com",
                  "/b/widgets/x/../y/./z//w");
    check_address(true, "b", "~tilde_-.", "s3.us-east-1.amazonaws.com", "/b/~tilde_-.");
}

static void test_virtual_hosted(void **state)
{
    (void)state;
    check_address(false, "requests", "k 1", "requests.s3.us-east-1.amazonaws.com", "/k%201");
    check_address(false, "requests", NULL, "requests.s3.us-east-1.amazonaws.com", "/");
    /* Dotted or non-DNS names fall back to path style (TLS wildcards do not cover them). */
    check_address(false, "my.bucket", "k", "s3.us-east-1.amazonaws.com", "/my.bucket/k");
    check_address(false, "My_Bucket", "k", "s3.us-east-1.amazonaws.com", "/My_Bucket/k");
}

static void check_query(const char *prefix, const char *start_after, const char *token, int max,
                        const char *want)
{
    struct wd_buf q = {0};
    assert_int_equal(wd_s3_list_query(prefix, start_after, token, max, &q), 0);
    assert_string_equal(q.data, want);
    wd_buf_free(&q);
}

static void test_list_query(void **state)
{
    (void)state;
    /* Always encoding-type=url: keys XML cannot carry come back %-encoded. */
    check_query(NULL, NULL, NULL, 1000, "encoding-type=url&list-type=2&max-keys=1000");
    check_query("in/", NULL, NULL, 1000, "encoding-type=url&list-type=2&max-keys=1000&prefix=in%2F");
    /* Parameters come out sorted, so the query sent is already SigV4's canonical query. */
    check_query(
        "p", "dead-letter/\xf4\x8f\xbf\xbf", "ttok+/=", 5,
        "continuation-token=tok%2B%2F%3D&encoding-type=url&list-type=2&max-keys=5&prefix=p&start-after="
        "dead-letter%2F%F4%8F%BF%BF");
    /* A token without a tag goes as it is. */
    check_query(NULL, NULL, "1ueG/x=", 5,
                "continuation-token=1ueG%2Fx%3D&encoding-type=url&list-type=2&max-keys=5");
    /* "After this key" is a start-after, byte-exact, and wins over an earlier start_after ... */
    check_query(NULL, "dead-letter/\xf4\x8f\xbf\xbf", "kz\x01\r\n+%", 5,
                "encoding-type=url&list-type=2&max-keys=5&start-after=z%01%0D%0A%2B%25");
    /* ... but not over a later one. */
    check_query(NULL, "zz", "kb", 5, "encoding-type=url&list-type=2&max-keys=5&start-after=zz");
}

static void test_endpoint_parse(void **state)
{
    (void)state;
    struct wd_endpoint e = {0};
    struct wd_error err;
    assert_int_equal(wd_endpoint_parse("http://127.0.0.1:4569", &e, &err), 0);
    assert_string_equal(e.scheme, "http");
    assert_string_equal(e.host, "127.0.0.1:4569");
    wd_endpoint_clear(&e);
    assert_int_equal(wd_endpoint_parse("https://[::1]:443/", &e, &err), 0);
    assert_string_equal(e.host, "[::1]:443");
    wd_endpoint_clear(&e);
    assert_int_equal(wd_endpoint_parse("ftp://x", &e, &err), -1);
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    assert_int_equal(wd_endpoint_parse("127.0.0.1:80", &e, &err), -1);
    assert_int_equal(wd_endpoint_parse("http://h/path", &e, &err), -1);
    assert_int_equal(wd_endpoint_parse("http://user@h", &e, &err), -1);
    assert_int_equal(wd_endpoint_parse("http://", &e, &err), -1);
    assert_null(e.host);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_style),
        cmocka_unit_test(test_virtual_hosted),
        cmocka_unit_test(test_list_query),
        cmocka_unit_test(test_endpoint_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
