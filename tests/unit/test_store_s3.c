/* Unit tests of the S3 store representation of a widget (SPEC section 3): owner slug, key, create and update
 * bodies; and applying requests against a scripted server, with and without the fence of SPEC 9 (the
 * conditional headers, and what each refusal means). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "credentials_chain.h"
#include "http.h"
#include "request.h"
#include "s3.h"
#include "store_s3.h"

/* CMake builds each tests/unit/test_*.c alone against the core library: the fixture comes along here. */
#include "fixture_http.c"

/* A request of `type` for widget w1 of Mary Matthews with `extra` members. */
#define REQ(type, extra)                                                                                     \
    "{\"type\":\"" type "\",\"requestId\":\"r1\",\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"" extra "}"
#define ATTR(n, v) "{\"name\":\"" n "\",\"value\":\"" v "\"}"

static struct wd_request *parse(const char *body)
{
    struct wd_request *req = NULL;
    struct wd_error err = {0};
    if (wd_request_parse(body, strlen(body), &req, &err) != 0)
        fail_msg("rejected: %s", err.message);
    return req;
}

static void expect_create(const char *request, const char *expected)
{
    struct wd_request *req = parse(request);
    struct wd_buf out = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_store_s3_create_body(req, &out, &err), 0);
    assert_string_equal(out.data, expected);
    wd_buf_free(&out);
    wd_request_free(req);
}

static void expect_update(const char *stored, const char *request, const char *expected)
{
    struct wd_request *req = parse(request);
    struct wd_buf out = {0};
    struct wd_error err = {0};
    if (wd_store_s3_update_body(stored, strlen(stored), req, &out, &err) != 0)
        fail_msg("update failed: %s", err.message);
    assert_string_equal(out.data, expected);
    wd_buf_free(&out);
    wd_request_free(req);
}

/* Applies the requests one by one as the S3 store does and returns the final body (owned). */
static char *apply_all(const char *const *requests, size_t n)
{
    char *body = NULL;
    for (size_t i = 0; i < n; i++) {
        struct wd_request *req = parse(requests[i]);
        struct wd_buf out = {0};
        struct wd_error err = {0};
        if (req->type == WD_REQ_CREATE)
            assert_int_equal(wd_store_s3_create_body(req, &out, &err), 0);
        else
            assert_int_equal(wd_store_s3_update_body(body, strlen(body), req, &out, &err), 0);
        free(body);
        body = wd_buf_steal(&out);
        wd_request_free(req);
    }
    return body;
}

/* --- create --- */

static void test_create_full(void **state)
{
    (void)state;
    expect_create(
        REQ("create", ",\"description\":\"D\",\"label\":\"L\",\"otherAttributes\":[" ATTR(
                          "width-unit", "cm") "," ATTR("length", "838") "]"),
        "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\","
        "\"otherAttributes\":[{\"name\":\"width-unit\",\"value\":\"cm\"},{\"name\":\"length\",\"value\":"
        "\"838\"}]}");
}

static void test_create_minimal(void **state)
{
    (void)state;
    expect_create(REQ("create", ""), "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}");
    expect_create(REQ("create", ",\"label\":null,\"description\":null,\"otherAttributes\":null"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}");
    expect_create(REQ("create", ",\"otherAttributes\":[]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}");
}

static void test_create_drops_empty_strings(void **state)
{
    (void)state;
    expect_create(
        REQ("create", ",\"label\":\"\",\"description\":\"\",\"otherAttributes\":[" ATTR("a", "") "]"),
        "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}");
    expect_create(REQ("create", ",\"label\":\"\",\"description\":\"D\",\"otherAttributes\":[" ATTR(
                                    "a", "") "," ATTR("b", "2") "," ATTR("c", "") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"description\":\"D\","
                  "\"otherAttributes\":[{\"name\":\"b\",\"value\":\"2\"}]}");
}

static void test_create_ignores_unknown_fields(void **state)
{
    (void)state;
    expect_create(REQ("create", ",\"color\":\"red\",\"requestTime\":12"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}");
}

static void test_create_dedup(void **state)
{
    (void)state;
    /* last value wins, in the place of the first; a last "" drops the attribute from a create */
    expect_create(REQ("create", ",\"otherAttributes\":[" ATTR("a", "1") "," ATTR("b", "2") "," ATTR(
                                    "a", "3") "," ATTR("c", "4") "," ATTR("c", "") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary "
                  "Matthews\",\"otherAttributes\":[{\"name\":\"a\",\"value\":\"3\"},"
                  "{\"name\":\"b\",\"value\":\"2\"}]}");
    expect_create(
        REQ("create", ",\"otherAttributes\":[" ATTR("a", "") "," ATTR("b", "2") "," ATTR("a", "1") "]"),
        "{\"widgetId\":\"w1\",\"owner\":\"Mary "
        "Matthews\",\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},"
        "{\"name\":\"b\",\"value\":\"2\"}]}");
}

static void test_create_keeps_reserved_looking_names(void **state)
{
    (void)state;
    /* only DynamoDB has top-level clashes; in S3 the attributes live in their own array */
    expect_create(
        REQ("create", ",\"label\":\"L\",\"otherAttributes\":[" ATTR("label", "x") "," ATTR("id", "y") "]"),
        "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"otherAttributes\":[{\"name\":"
        "\"label\",\"value\":\"x\"},{\"name\":\"id\",\"value\":\"y\"}]}");
}

static void test_create_round_trips_strings(void **state)
{
    (void)state;
    /* escapes come out as UTF-8 (or the minimal JSON escape) and parse back to the same bytes */
    struct wd_request *req =
        parse("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"a/b c+%?#\\u00e9\\\"\\\\\","
              "\"owner\":\"A\",\"label\":\"\\ud83d\\ude00\\u0001\\u007f\\n\","
              "\"otherAttributes\":[{\"name\":\"\\u00fc.b\",\"value\":\"</script>\"}]}");
    struct wd_buf out = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_store_s3_create_body(req, &out, &err), 0);
    json_t *j = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "widgetId")), req->widget_id);
    assert_string_equal(json_string_value(json_object_get(j, "widgetId")), "a/b c+%?#\xc3\xa9\"\\");
    assert_string_equal(json_string_value(json_object_get(j, "label")), "\xf0\x9f\x98\x80\x01\x7f\n");
    json_t *a = json_array_get(json_object_get(j, "otherAttributes"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "\xc3\xbc.b");
    assert_string_equal(json_string_value(json_object_get(a, "value")), "</script>");
    assert_null(strstr(out.data, "\\u00e9")); /* UTF-8 is written as it is */
    json_decref(j);
    wd_buf_free(&out);
    wd_request_free(req);
}

static void test_create_appends(void **state)
{
    (void)state;
    struct wd_request *req = parse(REQ("create", ""));
    struct wd_buf out = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_buf_append_str(&out, "x"), 0);
    assert_int_equal(wd_store_s3_create_body(req, &out, &err), 0);
    assert_string_equal(out.data, "x{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}");
    wd_buf_free(&out);
    wd_request_free(req);
}

/* --- update --- */

#define STORED                                                                                               \
    "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\","                \
    "\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},{\"name\":\"b\",\"value\":\"2\"},"                \
    "{\"name\":\"c\",\"value\":\"3\"}]}"
#define ATTRS_ABC                                                                                            \
    "\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},{\"name\":\"b\",\"value\":\"2\"},"                \
    "{\"name\":\"c\",\"value\":\"3\"}]"

static void test_update_nothing_keeps_everything(void **state)
{
    (void)state;
    expect_update(STORED, REQ("update", ""), STORED);
    expect_update(STORED, REQ("update", ",\"label\":null,\"description\":null,\"otherAttributes\":null"),
                  STORED);
    expect_update(STORED, REQ("update", ",\"otherAttributes\":[]"), STORED);
}

static void test_update_label(void **state)
{
    (void)state;
    expect_update(
        STORED, REQ("update", ",\"label\":\"New\""),
        "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"New\",\"description\":\"D\"," ATTRS_ABC
        "}");
    expect_update(STORED, REQ("update", ",\"label\":\"\""),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"description\":\"D\"," ATTRS_ABC "}");
    /* setting a label the widget did not have */
    expect_update("{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}", REQ("update", ",\"label\":\"L\""),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\"}");
    /* removing one it did not have */
    expect_update("{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}", REQ("update", ",\"label\":\"\""),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}");
}

static void test_update_description(void **state)
{
    (void)state;
    expect_update(
        STORED, REQ("update", ",\"description\":\"New\""),
        "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"New\"," ATTRS_ABC
        "}");
    expect_update(STORED, REQ("update", ",\"description\":\"\""),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\"," ATTRS_ABC "}");
    expect_update("{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}",
                  REQ("update", ",\"description\":\"D\""),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"description\":\"D\"}");
}

static void test_update_attribute_keeps_place(void **state)
{
    (void)state;
    expect_update(STORED, REQ("update", ",\"otherAttributes\":[" ATTR("b", "20") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\","
                  "\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},{\"name\":\"b\",\"value\":\"20\"},"
                  "{\"name\":\"c\",\"value\":\"3\"}]}");
}

static void test_update_new_attribute_goes_last(void **state)
{
    (void)state;
    expect_update(STORED, REQ("update", ",\"otherAttributes\":[" ATTR("z", "26") "," ATTR("a", "10") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\","
                  "\"otherAttributes\":[{\"name\":\"a\",\"value\":\"10\"},{\"name\":\"b\",\"value\":\"2\"},"
                  "{\"name\":\"c\",\"value\":\"3\"},{\"name\":\"z\",\"value\":\"26\"}]}");
}

static void test_update_removes_attribute(void **state)
{
    (void)state;
    expect_update(STORED, REQ("update", ",\"otherAttributes\":[" ATTR("b", "") "," ATTR("missing", "") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\","
                  "\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},{\"name\":\"c\",\"value\":\"3\"}]}");
    /* removing every attribute drops the empty array */
    expect_update(STORED,
                  REQ("update", ",\"label\":\"\",\"otherAttributes\":[" ATTR("c", "") "," ATTR(
                                    "a", "") "," ATTR("b", "") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"description\":\"D\"}");
}

static void test_update_removed_then_readded_goes_last(void **state)
{
    (void)state;
    static const char *const requests[] = {
        REQ("create", ",\"otherAttributes\":[" ATTR("a", "1") "," ATTR("b", "2") "]"),
        REQ("update", ",\"otherAttributes\":[" ATTR("a", "") "]"),
        REQ("update", ",\"otherAttributes\":[" ATTR("a", "3") "]"),
    };
    char *body = apply_all(requests, 3);
    assert_string_equal(
        body, "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"otherAttributes\":[{\"name\":\"b\","
              "\"value\":\"2\"},{\"name\":\"a\",\"value\":\"3\"}]}");
    free(body);
}

static void test_update_dedup_within_request(void **state)
{
    (void)state;
    /* [z=1, b="", b=5] merges to [z=1, b=5]: b is set, keeps its place; z is new, goes last */
    expect_update(
        STORED,
        REQ("update", ",\"otherAttributes\":[" ATTR("z", "1") "," ATTR("b", "") "," ATTR("b", "5") "]"),
        "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\","
        "\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},{\"name\":\"b\",\"value\":\"5\"},"
        "{\"name\":\"c\",\"value\":\"3\"},{\"name\":\"z\",\"value\":\"1\"}]}");
    /* [a=9, a=""] merges to a="": removed */
    expect_update(STORED, REQ("update", ",\"otherAttributes\":[" ATTR("a", "9") "," ATTR("a", "") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\","
                  "\"otherAttributes\":[{\"name\":\"b\",\"value\":\"2\"},{\"name\":\"c\",\"value\":\"3\"}]}");
}

static void test_update_keeps_stored_identity(void **state)
{
    (void)state;
    /* same slug, different spelling: the stored owner stays, as does the stored widgetId */
    const char *stored = "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\"}";
    expect_update(stored,
                  "{\"type\":\"update\",\"requestId\":\"r\",\"widgetId\":\"w1\",\"owner\":\"MARY "
                  "MATTHEWS\",\"label\":\"M\"}",
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"M\"}");
}

static void test_update_tolerates_stored_field_order_and_nulls(void **state)
{
    (void)state;
    /* another writer's field order and nulls are fine; the output is in canonical order */
    expect_update("{\"otherAttributes\":null,\"label\":null,\"owner\":\"Mary Matthews\",\"widgetId\":\"w1\","
                  "\"description\":\"D\"}",
                  REQ("update", ",\"otherAttributes\":[" ATTR("a", "1") "]"),
                  "{\"widgetId\":\"w1\",\"owner\":\"Mary "
                  "Matthews\",\"description\":\"D\",\"otherAttributes\":[{\"name\":"
                  "\"a\",\"value\":\"1\"}]}");
}

static void expect_stored_rejected(const char *stored, size_t len)
{
    struct wd_request *req = parse(REQ("update", ",\"label\":\"x\""));
    struct wd_buf out = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_buf_append_str(&out, "keep"), 0);
    assert_int_equal(wd_store_s3_update_body(stored, len, req, &out, &err), -1);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
    assert_string_equal(out.data, "keep"); /* untouched on failure */
    wd_buf_free(&out);
    wd_request_free(req);
}

static void test_update_stored_not_a_widget(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "\"w1\"",
        "{}",
        "{\"widgetId\":\"w1\"}",
        "{\"owner\":\"A\"}",
        "{\"widgetId\":1,\"owner\":\"A\"}",
        "{\"widgetId\":\"w1\",\"owner\":\"A\",\"label\":5}",
        "{\"widgetId\":\"w1\",\"owner\":\"A\",\"description\":[]}",
        "{\"widgetId\":\"w1\",\"owner\":\"A\",\"otherAttributes\":{}}",
        "{\"widgetId\":\"w1\",\"owner\":\"A\",\"otherAttributes\":[1]}",
        "{\"widgetId\":\"w1\",\"owner\":\"A\",\"otherAttributes\":[{\"name\":\"a\"}]}",
        "{\"widgetId\":\"w1\",\"owner\":\"A\",\"otherAttributes\":[{\"name\":\"a\",\"value\":1}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_stored_rejected(bad[i], strlen(bad[i]));
    expect_stored_rejected(NULL, 0);
}

/* The sequence cross-checked with widget_oracle.py --store s3 (expected output copied from it). */
static void test_oracle_sequence(void **state)
{
    (void)state;
    static const char *const requests[] = {
        "{\"type\":\"create\",\"requestId\":\"r1\",\"widgetId\":\"w1\",\"owner\":\"Mary "
        "Matthews\",\"label\":\"L\","
        "\"description\":\"\",\"otherAttributes\":[" ATTR("a", "1") "," ATTR("size", "2") "," ATTR(
            "label", "x") "," ATTR("b", "") "]}",
        "{\"type\":\"update\",\"requestId\":\"r2\",\"widgetId\":\"w1\",\"owner\":\"mary "
        "matthews\",\"label\":\"\","
        "\"description\":\"D\",\"otherAttributes\":[" ATTR("c", "3") "," ATTR("a", "") "," ATTR(
            "size", "20") "," ATTR("id", "zzz") "]}",
        "{\"type\":\"update\",\"requestId\":\"r3\",\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\","
        "\"otherAttributes\":[" ATTR("a", "4") "]}",
        "{\"type\":\"update\",\"requestId\":\"r4\",\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"}",
    };
    char *body = apply_all(requests, 4);
    json_t *got = json_loads(body, 0, NULL);
    json_t *want =
        json_loads("{\"description\": \"D\", \"otherAttributes\": [{\"name\": \"size\", \"value\": \"20\"}, "
                   "{\"name\": \"label\", \"value\": \"x\"}, {\"name\": \"c\", \"value\": \"3\"}, {\"name\": "
                   "\"id\", \"value\": \"zzz\"}, {\"name\": \"a\", \"value\": \"4\"}], \"owner\": \"Mary "
                   "Matthews\", \"widgetId\": \"w1\"}",
                   0, NULL);
    assert_non_null(got);
    assert_non_null(want);
    assert_true(json_equal(got, want)); /* objects compare unordered, arrays in order */
    json_decref(got);
    json_decref(want);
    free(body);
}

/* --- slug and key --- */

static void test_owner_slug(void **state)
{
    (void)state;
    struct wd_buf b = {0};
    assert_int_equal(wd_store_s3_owner_slug("Mary Matthews", &b), 0);
    assert_string_equal(b.data, "mary-matthews");
    wd_buf_reset(&b);
    assert_int_equal(wd_store_s3_owner_slug("  ABC xyZ ", &b), 0);
    assert_string_equal(b.data, "--abc-xyz-");
    /* appends */
    assert_int_equal(wd_store_s3_owner_slug("Q", &b), 0);
    assert_string_equal(b.data, "--abc-xyz-q");
    wd_buf_free(&b);
}

static void test_s3_key(void **state)
{
    (void)state;
    struct wd_request *req =
        parse("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"a/b c+%?#\\u00e9\","
              "\"owner\":\"Mary Matthews\"}");
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_append_str(&b, "prefix:"), 0);
    assert_int_equal(wd_store_s3_key(req, &b), 0);
    assert_string_equal(b.data, "prefix:widgets/mary-matthews/a/b c+%?#\xc3\xa9");
    wd_buf_free(&b);
    wd_request_free(req);

    req = parse("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"..\",\"owner\":\"MARY matthews\"}");
    assert_int_equal(wd_store_s3_key(req, &b), 0);
    assert_string_equal(b.data, "widgets/mary-matthews/..");
    wd_buf_free(&b);
    wd_request_free(req);
}

/* --- applying requests against a scripted S3, with and without the fence --- */

#define OBJ "/store/widgets/mary-matthews/w1"
#define CREATED_W1 "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\"}"
#define STORED_W1 "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"old\",\"description\":\"D\"}"
#define UPDATED_W1 "{\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\",\"label\":\"L\",\"description\":\"D\"}"
#define S3_ERR(code) "<?xml version=\"1.0\"?><Error><Code>" code "</Code><Message>m</Message></Error>"
#define ETAG_E1 "ETag: \"e1\"\r\n"

struct s3_fx {
    struct wd_credentials_provider *creds;
    struct fx_server *server;
    struct wd_s3 s3;
    struct wd_http *http;
    struct wd_aws *aws;
    struct wd_fence fence;
};

static double no_wait(void *ctx)
{
    (void)ctx;
    return 0.0;
}

/* A server with steps, whose answer i carries the header lines headers[i] (NULL: none). */
static void s3_start(struct s3_fx *f, const struct fx_step *steps, const char *const *headers, size_t n)
{
    struct wd_error err = {0};
    setenv("AWS_ACCESS_KEY_ID", "AKIDSTORES3TEST00001", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "storeS3TestSecretKeyEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("no_proxy", "127.0.0.1", 1);
    *f = (struct s3_fx){
        .fence = {.table = "lease", .lease_key = "widgetd", .leadership = 7, .s3_conditions = true}};
    f->creds = wd_credentials_provider_new(NULL, &err);
    assert_non_null(f->creds);
    struct fx_options opts = {.step_headers = headers, .n_step_headers = headers ? n : 0};
    f->server = fx_start_with(steps, n, &opts);
    assert_int_equal(wd_endpoint_parse(fx_url(f->server), &f->s3.endpoint, &err), 0);
    f->s3.path_style = true;
    struct wd_http_options ho = {.connect_timeout_ms = 1000, .timeout_ms = 2000, .no_proxy = true};
    f->http = wd_http_new(&ho, &err);
    assert_non_null(f->http);
    struct wd_retry_policy p = wd_retry_policy_default();
    p.rand01 = no_wait;
    f->aws = wd_aws_new("us-east-1", f->creds, &p, &err);
    assert_non_null(f->aws);
}

static void s3_stop(struct s3_fx *f)
{
    wd_aws_free(f->aws);
    wd_http_free(f->http);
    wd_endpoint_clear(&f->s3.endpoint);
    fx_free(f->server);
    wd_credentials_provider_free(f->creds);
}

static int s3_apply(struct s3_fx *f, const struct wd_fence *fence, const char *request,
                    struct wd_apply_result *res, struct wd_error *err)
{
    struct wd_request *req = parse(request);
    struct wd_store store = {.ops = &wd_store_s3_ops, .name = "store", .s3 = &f->s3, .fence = fence};
    *err = (struct wd_error){0};
    int rc = store.ops->apply(&store, f->aws, f->http, req, res, err);
    wd_request_free(req);
    return rc;
}

/* Request i: method on OBJ, with these condition headers (NULL: absent) and body (NULL: not checked). */
static void expect_s3_call(struct s3_fx *f, size_t i, const char *method, const char *if_match,
                           const char *if_none_match, const char *body)
{
    const struct fx_request *r = fx_request(f->server, i);
    char v[128];
    assert_non_null(r);
    assert_string_equal(r->method, method);
    assert_string_equal(r->path, OBJ);
    const char *im = fx_header(r, "If-Match", v, sizeof(v));
    if (if_match == NULL)
        assert_null(im);
    else
        assert_string_equal(im, if_match);
    const char *inm = fx_header(r, "If-None-Match", v, sizeof(v));
    if (if_none_match == NULL)
        assert_null(inm);
    else
        assert_string_equal(inm, if_none_match);
    if (body != NULL)
        assert_string_equal(r->body, body);
}

/* Without a fence, and with the test-only switch off, the calls are exactly the unconditional ones. */
static void test_apply_unfenced_calls(void **state)
{
    (void)state;
    for (int with_switch_off = 0; with_switch_off < 2; with_switch_off++) {
        const struct fx_step steps[] = {
            {"PUT", OBJ, 200, NULL, 0},  {"GET", OBJ, 200, STORED_W1, 0}, {"PUT", OBJ, 200, NULL, 0},
            {"HEAD", OBJ, 200, NULL, 0}, {"DELETE", OBJ, 204, NULL, 0},
        };
        const char *const headers[] = {NULL, ETAG_E1, NULL, ETAG_E1, NULL};
        struct s3_fx f;
        struct wd_apply_result res;
        struct wd_error err;
        s3_start(&f, steps, headers, 5);
        f.fence.s3_conditions = false;
        const struct wd_fence *fence = with_switch_off ? &f.fence : NULL;
        assert_int_equal(s3_apply(&f, fence, REQ("create", ",\"label\":\"L\""), &res, &err), 0);
        assert_int_equal(s3_apply(&f, fence, REQ("update", ",\"label\":\"L\""), &res, &err), 0);
        assert_int_equal(s3_apply(&f, fence, REQ("delete", ""), &res, &err), 0);
        assert_false(res.not_found);
        assert_int_equal(fx_count(f.server), 5);
        assert_true(fx_all_expected(f.server));
        expect_s3_call(&f, 0, "PUT", NULL, NULL, CREATED_W1);
        expect_s3_call(&f, 1, "GET", NULL, NULL, NULL);
        expect_s3_call(&f, 2, "PUT", NULL, NULL, UPDATED_W1);
        expect_s3_call(&f, 3, "HEAD", NULL, NULL, NULL);
        expect_s3_call(&f, 4, "DELETE", NULL, NULL, NULL);
        s3_stop(&f);
    }
}

/* Fenced: every write names the object as it was read, by its ETag (sent bare), or as absent. */
static void test_apply_fenced_headers(void **state)
{
    (void)state;
    const struct fx_step steps[] = {
        {"HEAD", OBJ, 200, NULL, 0},
        {"PUT", OBJ, 200, NULL, 0}, /* create over an existing widget */
        {"HEAD", OBJ, 404, NULL, 0},
        {"PUT", OBJ, 200, NULL, 0}, /* create of a new one */
        {"GET", OBJ, 200, STORED_W1, 0},
        {"PUT", OBJ, 200, NULL, 0}, /* update */
        {"HEAD", OBJ, 200, NULL, 0},
        {"DELETE", OBJ, 204, NULL, 0},             /* delete */
        {"GET", OBJ, 404, S3_ERR("NoSuchKey"), 0}, /* update of nothing */
        {"HEAD", OBJ, 404, NULL, 0},               /* delete of nothing */
    };
    const char *const headers[] = {ETAG_E1, NULL,           NULL, NULL, "ETag: \"e2\"\r\n",
                                   NULL,    "ETag: e3\r\n", NULL, NULL, NULL};
    struct s3_fx f;
    struct wd_apply_result res;
    struct wd_error err;
    s3_start(&f, steps, headers, 10);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("create", ",\"label\":\"L\""), &res, &err), 0);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("create", ",\"label\":\"L\""), &res, &err), 0);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("update", ",\"label\":\"L\""), &res, &err), 0);
    assert_false(res.not_found);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("delete", ""), &res, &err), 0);
    assert_false(res.not_found);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("update", ",\"label\":\"L\""), &res, &err), 0);
    assert_true(res.not_found);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("delete", ""), &res, &err), 0);
    assert_true(res.not_found);
    assert_int_equal(fx_count(f.server), 10);
    assert_true(fx_all_expected(f.server));
    expect_s3_call(&f, 1, "PUT", "e1", NULL, CREATED_W1);
    expect_s3_call(&f, 3, "PUT", NULL, "*", CREATED_W1);
    expect_s3_call(&f, 5, "PUT", "e2", NULL, UPDATED_W1);
    expect_s3_call(&f, 7, "DELETE", "e3", NULL, NULL);
    for (size_t i = 0; i < 10; i += 2)
        expect_s3_call(&f, i, i == 4 || i == 8 ? "GET" : "HEAD", NULL, NULL,
                       NULL); /* reads are unconditional */
    s3_stop(&f);
}

/* One fenced request: a read answered with an ETag, then its write answered status/body. */
static int fenced_write_answer(const char *request, int status, const char *body, struct wd_apply_result *res,
                               struct wd_error *err, size_t *calls)
{
    bool update = strstr(request, "\"update\"") != NULL, delete = strstr(request, "\"delete\"") != NULL;
    const struct fx_step steps[] = {
        {update ? "GET" : "HEAD", OBJ, 200, update ? STORED_W1 : NULL, 0},
        {delete ? "DELETE" : "PUT", OBJ, status, body, 0},
        {delete ? "DELETE" : "PUT", OBJ, 200, NULL, 0}, /* a retry would get this */
    };
    const char *const headers[] = {ETAG_E1, NULL, NULL};
    struct s3_fx f;
    s3_start(&f, steps, headers, 3);
    int rc = s3_apply(&f, &f.fence, request, res, err);
    *calls = fx_count(f.server);
    s3_stop(&f);
    return rc;
}

static void test_fenced_outcomes(void **state)
{
    (void)state;
    static const char *const requests[] = {REQ("create", ",\"label\":\"L\""),
                                           REQ("update", ",\"label\":\"L\""), REQ("delete", "")};
    static const struct {
        int status;
        const char *body;
    } refusals[] = {
        {412, S3_ERR("PreconditionFailed")},
        {409, S3_ERR("ConditionalRequestConflict")},
        {404, S3_ERR("NoSuchKey")}, /* deleted since it was read */
    };
    struct wd_apply_result res;
    struct wd_error err;
    size_t calls;
    for (size_t r = 0; r < 3; r++)
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(
                fenced_write_answer(requests[r], refusals[i].status, refusals[i].body, &res, &err, &calls),
                -1);
            assert_int_equal(err.cls, WD_ERR_FENCED);
            assert_int_equal(calls, 2); /* never retried */
            assert_false(res.not_found);
            assert_non_null(strstr(err.message,
                                   "object \"widgets/mary-matthews/w1\" changed since this instance "
                                   "read it (another leader wrote it)"));
            assert_false(wd_store_s3_ops.rejects_content(&err));
        }
    /* other failures keep their class: an object too large still goes to the dead letters */
    assert_int_equal(fenced_write_answer(requests[0], 400, S3_ERR("EntityTooLarge"), &res, &err, &calls), -1);
    assert_int_equal(err.cls, WD_ERR_CLIENT);
    assert_true(wd_store_s3_ops.rejects_content(&err));
    assert_int_equal(fenced_write_answer(requests[1], 503, S3_ERR("SlowDown"), &res, &err, &calls), 0);
    assert_int_equal(calls, 3); /* throttled, retried, then written */
}

/* A read without an ETag gives nothing to make the write conditional on: nothing is written. */
static void test_fenced_without_etag(void **state)
{
    (void)state;
    const struct fx_step steps[] = {{"HEAD", OBJ, 200, NULL, 0}, {"GET", OBJ, 200, STORED_W1, 0}};
    struct s3_fx f;
    struct wd_apply_result res;
    struct wd_error err;
    s3_start(&f, steps, NULL, 2);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("delete", ""), &res, &err), -1);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
    assert_int_equal(s3_apply(&f, &f.fence, REQ("update", ",\"label\":\"L\""), &res, &err), -1);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
    assert_non_null(strstr(err.message, "no usable ETag"));
    assert_int_equal(fx_count(f.server), 2);
    s3_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_slug),
        cmocka_unit_test(test_s3_key),
        cmocka_unit_test(test_create_full),
        cmocka_unit_test(test_create_minimal),
        cmocka_unit_test(test_create_drops_empty_strings),
        cmocka_unit_test(test_create_ignores_unknown_fields),
        cmocka_unit_test(test_create_dedup),
        cmocka_unit_test(test_create_keeps_reserved_looking_names),
        cmocka_unit_test(test_create_round_trips_strings),
        cmocka_unit_test(test_create_appends),
        cmocka_unit_test(test_update_nothing_keeps_everything),
        cmocka_unit_test(test_update_label),
        cmocka_unit_test(test_update_description),
        cmocka_unit_test(test_update_attribute_keeps_place),
        cmocka_unit_test(test_update_new_attribute_goes_last),
        cmocka_unit_test(test_update_removes_attribute),
        cmocka_unit_test(test_update_removed_then_readded_goes_last),
        cmocka_unit_test(test_update_dedup_within_request),
        cmocka_unit_test(test_update_keeps_stored_identity),
        cmocka_unit_test(test_update_tolerates_stored_field_order_and_nulls),
        cmocka_unit_test(test_update_stored_not_a_widget),
        cmocka_unit_test(test_oracle_sequence),
        cmocka_unit_test(test_apply_unfenced_calls),
        cmocka_unit_test(test_apply_fenced_headers),
        cmocka_unit_test(test_fenced_outcomes),
        cmocka_unit_test(test_fenced_without_etag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
