/* Unit tests for wd_s3_list against a scripted loopback server: the query it sends, and what it makes of
 * the answer (URL-encoded keys, more keys than asked for). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aws.h"
#include "credentials.h"
#include "http.h"
#include "s3.h"

/* CMake builds each tests/unit/test_*.c alone against the core library: the fixture comes along here. */
#include "fixture_http.c"

struct rig {
    struct fx_server *fx;
    struct wd_credentials_provider *creds;
    struct wd_aws *aws;
    struct wd_http *http;
    struct wd_s3 s3;
};

static void rig_start(struct rig *r, const struct fx_step *steps, size_t n)
{
    struct wd_error err = {0};
    memset(r, 0, sizeof(*r));
    r->fx = fx_start(steps, n);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    r->creds = wd_credentials_provider_new(NULL, &err);
    assert_non_null(r->creds);
    struct wd_retry_policy retry = wd_retry_policy_default();
    retry.max_attempts = 1;
    r->aws = wd_aws_new("us-east-1", r->creds, &retry, &err);
    assert_non_null(r->aws);
    r->http = wd_http_new(
        &(struct wd_http_options){
            .connect_timeout_ms = 2000, .timeout_ms = 5000, .verify_tls = true, .no_proxy = true},
        &err);
    assert_non_null(r->http);
    assert_int_equal(wd_endpoint_parse(fx_url(r->fx), &r->s3.endpoint, &err), 0);
    r->s3.path_style = true;
}

static void rig_stop(struct rig *r)
{
    wd_endpoint_clear(&r->s3.endpoint);
    wd_http_free(r->http);
    wd_aws_free(r->aws);
    wd_credentials_provider_free(r->creds);
    fx_free(r->fx);
}

/* As Ceph RGW answers encoding-type=url (its NextContinuationToken is the raw last key). */
static const char PAGE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "
    "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><EncodingType>url</EncodingType>"
    "<Name>b</Name><Prefix></Prefix><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
    "<Contents><Key>a%01b</Key></Contents><Contents><Key>c%0D%0Ad+e</Key></Contents>"
    "<NextContinuationToken>c&#x0d;\nd e</NextContinuationToken></ListBucketResult>";

static void test_list_asks_for_url_encoding_and_pages_after_the_last_key(void **state)
{
    (void)state;
    const struct fx_step steps[] = {
        {"GET", "/b?encoding-type=url&list-type=2&max-keys=2&prefix=in%2F", 200, PAGE, 0},
        {"GET", "/b?encoding-type=url&list-type=2&max-keys=2&prefix=in%2F&start-after=c%0D%0Ad%20e", 200,
         "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated></"
         "ListBucketResult>",
         0},
    };
    struct rig r;
    rig_start(&r, steps, 2);
    struct wd_s3_list page = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_s3_list(r.aws, r.http, &r.s3, "b", "in/", NULL, NULL, 2, &page, &err), 0);
    assert_int_equal(page.n_keys, 2);
    assert_string_equal(page.keys[0], "a\x01"
                                      "b");
    assert_string_equal(page.keys[1], "c\r\nd e");
    assert_true(page.truncated);
    char *token = strdup(page.next_token);
    wd_s3_list_clear(&page);
    assert_int_equal(wd_s3_list(r.aws, r.http, &r.s3, "b", "in/", NULL, token, 2, &page, &err), 0);
    assert_int_equal(page.n_keys, 0);
    assert_null(page.next_token);
    free(token);
    assert_int_equal(fx_count(r.fx), 2);
    assert_true(fx_all_expected(r.fx));
    rig_stop(&r);
}

/* A page with more keys than max-keys is the server's fault: refused, nothing handed out. */
static void test_list_more_keys_than_asked_for(void **state)
{
    (void)state;
    const struct fx_step steps[] = {
        {"GET", "/b?encoding-type=url&list-type=2&max-keys=1", 200,
         "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key></Contents>"
         "<Contents><Key>b</Key></Contents></ListBucketResult>",
         0},
    };
    struct rig r;
    rig_start(&r, steps, 1);
    struct wd_s3_list page = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_s3_list(r.aws, r.http, &r.s3, "b", NULL, NULL, NULL, 1, &page, &err), -1);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_non_null(strstr(err.message, "2 keys"));
    assert_null(page.keys);
    assert_int_equal(page.n_keys, 0);
    assert_true(fx_all_expected(r.fx));
    rig_stop(&r);
}

int main(void)
{
    if (wd_http_global_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_asks_for_url_encoding_and_pages_after_the_last_key),
        cmocka_unit_test(test_list_more_keys_than_asked_for),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wd_http_global_cleanup();
    return rc;
}
