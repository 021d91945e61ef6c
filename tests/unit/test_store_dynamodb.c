/* Unit tests of the DynamoDB store representation of a widget (SPEC section 3): PutItem, UpdateItem,
 * the read-modify-write fallback and key bodies; and applying requests against a scripted server, with
 * and without the fence of SPEC 9 (TransactWriteItems bodies, and what each cancellation means). */
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
#include "store_dynamodb.h"

/* CMake builds each tests/unit/test_*.c alone against the core library: the fixture comes along here. */
#include "fixture_http.c"

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

static void expect_put(const char *request, const char *expected)
{
    struct wd_request *req = parse(request);
    struct wd_buf out = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_store_ddb_put_item_body(req, "widgets", &out, &err), 0);
    assert_string_equal(out.data, expected);
    wd_buf_free(&out);
    wd_request_free(req);
}

/* The UpdateItem body of request (owned), asserting that it fits and is not a no-op. */
static char *update_body(const char *request)
{
    struct wd_request *req = parse(request);
    struct wd_buf out = {0};
    struct wd_error err = {0};
    bool fits = false, noop = true;
    assert_int_equal(wd_store_ddb_update_item_body(req, "widgets", &out, &fits, &noop, &err), 0);
    assert_true(fits);
    assert_false(noop);
    wd_request_free(req);
    return wd_buf_steal(&out);
}

static void expect_update(const char *request, const char *expected)
{
    char *body = update_body(request);
    assert_string_equal(body, expected);
    free(body);
}

/*
 * A small model of what DynamoDB does with our UpdateItem body: it checks the parts DynamoDB checks
 * (every placeholder defined and used, no attribute path twice, the condition) and applies SET/REMOVE
 * to item. Only the grammar we generate is understood.
 */
static void simulate_update_item(json_t *item, const char *body_text)
{
    json_t *body = json_loads(body_text, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "ConditionExpression")),
                        "attribute_exists(#id)");
    json_t *names = json_object_get(body, "ExpressionAttributeNames");
    json_t *values = json_object_get(body, "ExpressionAttributeValues");
    assert_non_null(names);
    assert_string_equal(json_string_value(json_object_get(names, "#id")), "id");
    if (values != NULL)
        assert_true(json_object_size(values) > 0); /* DynamoDB rejects an empty map */
    json_t *used = json_object(), *paths = json_object();
    char *expr = strdup(json_string_value(json_object_get(body, "UpdateExpression")));
    assert_non_null(expr);
    assert_true(strlen(expr) <= 4096);
    char *save = NULL;
    int mode = 0;
    for (char *tok = strtok_r(expr, " ,", &save); tok != NULL; tok = strtok_r(NULL, " ,", &save)) {
        if (strcmp(tok, "SET") == 0 || strcmp(tok, "REMOVE") == 0) {
            mode = tok[0] == 'S' ? 1 : 2;
            continue;
        }
        assert_true(mode != 0);
        assert_int_equal(tok[0], '#');
        const char *name = json_string_value(json_object_get(names, tok));
        assert_non_null(name);
        assert_null(json_object_get(paths, name)); /* overlapping paths are a ValidationException */
        json_object_set_new(paths, name, json_true());
        json_object_set_new(used, tok, json_true());
        if (mode == 1) {
            assert_string_equal(strtok_r(NULL, " ,", &save), "=");
            char *v = strtok_r(NULL, " ,", &save);
            assert_non_null(v);
            json_t *val = json_object_get(values, v);
            assert_non_null(val);
            json_object_set_new(used, v, json_true());
            json_object_set(item, name, val);
        } else {
            json_object_del(item, name);
        }
    }
    /* unused names or values are a ValidationException too (#id is used by the condition) */
    assert_int_equal(json_object_size(used) + 1, json_object_size(names) + json_object_size(values));
    free(expr);
    json_decref(used);
    json_decref(paths);
    json_decref(body);
}

/* The PutItem body of the merge fallback for `item` (a GetItem Item) and request (owned). */
static char *merge_body(const json_t *item, const char *request)
{
    struct wd_request *req = parse(request);
    json_t *resp = json_pack("{s:O}", "Item", item);
    char *text = json_dumps(resp, JSON_COMPACT);
    struct wd_buf out = {0};
    struct wd_error err = {0};
    bool found = false;
    assert_int_equal(wd_store_ddb_merge_item_body(text, strlen(text), req, "widgets", &out, &found, &err), 0);
    assert_true(found);
    free(text);
    json_decref(resp);
    wd_request_free(req);
    return wd_buf_steal(&out);
}

/* Applies request to item both ways (UpdateItem model and merge) and checks they agree with expected. */
static void expect_both_ways(const char *item_json, const char *request, const char *expected_item)
{
    json_t *item = json_loads(item_json, 0, NULL), *want = json_loads(expected_item, 0, NULL);
    assert_non_null(item);
    assert_non_null(want);
    char *merged_text = merge_body(item, request);
    json_t *merged = json_loads(merged_text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(merged, "TableName")), "widgets");
    assert_true(json_equal(json_object_get(merged, "Item"), want));

    char *body = update_body(request);
    simulate_update_item(item, body);
    assert_true(json_equal(item, want));

    free(body);
    json_decref(merged);
    free(merged_text);
    json_decref(want);
    json_decref(item);
}

/* --- reserved names --- */

static void test_reserved_names(void **state)
{
    (void)state;
    assert_true(wd_store_ddb_reserved("id"));
    assert_true(wd_store_ddb_reserved("owner"));
    assert_true(wd_store_ddb_reserved("label"));
    assert_true(wd_store_ddb_reserved("description"));
    assert_false(wd_store_ddb_reserved("ID"));
    assert_false(wd_store_ddb_reserved("Label"));
    assert_false(wd_store_ddb_reserved("widgetId"));
    assert_false(wd_store_ddb_reserved("otherAttributes"));
    assert_false(wd_store_ddb_reserved("size"));
    assert_false(wd_store_ddb_reserved("ids"));
}

static void test_ignored(void **state)
{
    (void)state;
    const char *names[WD_STORE_MAX_IGNORED];
    struct wd_request *req = parse(
        REQ("update",
            ",\"otherAttributes\":[" ATTR("a", "1") "," ATTR("owner", "x") "," ATTR("label", "") "," ATTR(
                "size", "") "," ATTR("id", "y") "," ATTR("description", "z") "," ATTR("owner", "w") "]"));
    /* after dedup, in request order */
    assert_int_equal(wd_store_ddb_ignored(req, names), 4);
    assert_string_equal(names[0], "owner");
    assert_string_equal(names[1], "label");
    assert_string_equal(names[2], "id");
    assert_string_equal(names[3], "description");
    wd_request_free(req);

    req = parse(REQ("create", ",\"otherAttributes\":[" ATTR("a", "1") "]"));
    assert_int_equal(wd_store_ddb_ignored(req, names), 0);
    wd_request_free(req);
}

/* --- PutItem --- */

static void test_put_item_full(void **state)
{
    (void)state;
    expect_put(REQ("create", ",\"label\":\"L\",\"description\":\"D\",\"otherAttributes\":[" ATTR(
                                 "width-unit", "cm") "," ATTR("length", "838") "]"),
               "{\"TableName\":\"widgets\",\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary "
               "Matthews\"},\"label\":"
               "{\"S\":\"L\"},\"description\":{\"S\":\"D\"},\"width-unit\":{\"S\":\"cm\"},\"length\":{\"S\":"
               "\"838\"}}}");
}

static void test_put_item_minimal(void **state)
{
    (void)state;
    const char *want =
        "{\"TableName\":\"widgets\",\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"}}}";
    expect_put(REQ("create", ""), want);
    expect_put(REQ("create", ",\"label\":null,\"description\":null,\"otherAttributes\":null"), want);
}

static void test_put_item_never_stores_empty(void **state)
{
    (void)state;
    expect_put(
        REQ("create", ",\"label\":\"\",\"description\":\"\",\"otherAttributes\":[" ATTR("a", "") "," ATTR(
                          "b", "2") "]"),
        "{\"TableName\":\"widgets\",\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},"
        "\"b\":{\"S\":\"2\"}}}");
}

static void test_put_item_ignores_reserved_attributes(void **state)
{
    (void)state;
    /* an attribute must never overwrite the key or a widget field */
    expect_put(
        REQ("create",
            ",\"label\":\"L\",\"otherAttributes\":[" ATTR("id", "evil") "," ATTR("owner", "x") "," ATTR(
                "label", "y") "," ATTR("description", "z") "," ATTR("ok", "1") "]"),
        "{\"TableName\":\"widgets\",\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},"
        "\"label\":{\"S\":\"L\"},\"ok\":{\"S\":\"1\"}}}");
}

static void test_put_item_dedup_and_odd_names(void **state)
{
    (void)state;
    expect_put(
        REQ("create", ",\"otherAttributes\":[" ATTR("size", "1") "," ATTR("a.b", "2") "," ATTR(
                          "size", "3") "," ATTR("\\u00fc", "4") "," ATTR("TableName", "5") "]"),
        "{\"TableName\":\"widgets\",\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},"
        "\"size\":{\"S\":\"3\"},\"a.b\":{\"S\":\"2\"},\"\xc3\xbc\":{\"S\":\"4\"},\"TableName\":{\"S\":\"5\"}}"
        "}");
}

/* --- UpdateItem --- */

static void test_update_item_body(void **state)
{
    (void)state;
    expect_update(
        REQ("update",
            ",\"label\":\"L\",\"description\":\"\",\"otherAttributes\":[" ATTR("size", "10") "," ATTR(
                "status", "") "," ATTR("a.b", "1") "," ATTR("height-cm", "2") "," ATTR("label",
                                                                                       "ignored") "]"),
        "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},"
        "\"UpdateExpression\":\"SET #n0 = :v0, #n1 = :v1, #n2 = :v2, #n3 = :v3 REMOVE #n4, #n5\","
        "\"ConditionExpression\":\"attribute_exists(#id)\","
        "\"ExpressionAttributeNames\":{\"#id\":\"id\",\"#n0\":\"label\",\"#n1\":\"size\",\"#n2\":\"a.b\","
        "\"#n3\":\"height-cm\",\"#n4\":\"description\",\"#n5\":\"status\"},"
        "\"ExpressionAttributeValues\":{\":v0\":{\"S\":\"L\"},\":v1\":{\"S\":\"10\"},\":v2\":{\"S\":\"1\"},"
        "\":v3\":{\"S\":\"2\"}}}");
}

static void test_update_item_set_only(void **state)
{
    (void)state;
    expect_update(
        REQ("update", ",\"otherAttributes\":[" ATTR("name", "n") "]"),
        "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"UpdateExpression\":\"SET #n0 = :v0\","
        "\"ConditionExpression\":\"attribute_exists(#id)\",\"ExpressionAttributeNames\":{\"#id\":\"id\","
        "\"#n0\":\"name\"},\"ExpressionAttributeValues\":{\":v0\":{\"S\":\"n\"}}}");
}

static void test_update_item_remove_only_has_no_values(void **state)
{
    (void)state;
    expect_update(
        REQ("update", ",\"label\":\"\",\"otherAttributes\":[" ATTR("size", "") "]"),
        "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"UpdateExpression\":\"REMOVE #n0, #n1\","
        "\"ConditionExpression\":\"attribute_exists(#id)\",\"ExpressionAttributeNames\":{\"#id\":\"id\","
        "\"#n0\":\"label\",\"#n1\":\"size\"}}");
}

static void test_update_item_reserved_never_twice(void **state)
{
    (void)state;
    /* label "" removes the field; the attribute named label is ignored, so "label" appears once */
    expect_update(
        REQ("update", ",\"label\":\"\",\"otherAttributes\":[" ATTR("label", "x") "]"),
        "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"UpdateExpression\":\"REMOVE #n0\","
        "\"ConditionExpression\":\"attribute_exists(#id)\",\"ExpressionAttributeNames\":{\"#id\":\"id\","
        "\"#n0\":\"label\"}}");
    expect_update(
        REQ("update",
            ",\"description\":\"D\",\"otherAttributes\":[" ATTR("description", "") "," ATTR("id", "") "]"),
        "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"UpdateExpression\":\"SET #n0 = :v0\","
        "\"ConditionExpression\":\"attribute_exists(#id)\",\"ExpressionAttributeNames\":{\"#id\":\"id\","
        "\"#n0\":\"description\"},\"ExpressionAttributeValues\":{\":v0\":{\"S\":\"D\"}}}");
}

static void test_update_item_noop(void **state)
{
    (void)state;
    static const char *const noops[] = {
        REQ("update", ""),
        REQ("update", ",\"label\":null,\"otherAttributes\":[]"),
        REQ("update", ",\"otherAttributes\":[" ATTR("id", "x") "," ATTR("owner", "") "]"),
    };
    for (size_t i = 0; i < 3; i++) {
        struct wd_request *req = parse(noops[i]);
        struct wd_buf out = {0};
        struct wd_error err = {0};
        bool fits = false, noop = false;
        assert_int_equal(wd_store_ddb_update_item_body(req, "widgets", &out, &fits, &noop, &err), 0);
        assert_true(noop);
        assert_int_equal(out.len, 0);
        wd_request_free(req);
    }
}

/* An update setting (or, with value "", removing) n attributes a0..a<n-1>. */
static char *many_attrs(size_t n, const char *value)
{
    struct wd_buf b = {0};
    assert_int_equal(
        wd_buf_append_str(&b, "{\"type\":\"update\",\"requestId\":\"r\",\"widgetId\":\"w1\",\"owner\":\"A\","
                              "\"otherAttributes\":["),
        0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(wd_buf_printf(&b, "%s{\"name\":\"a%zu\",\"value\":\"%s\"}", i ? "," : "", i, value),
                         0);
    assert_int_equal(wd_buf_append_str(&b, "]}"), 0);
    return wd_buf_steal(&b);
}

/* Length of "SET #n0 = :v0, ..." for n SETs, as DynamoDB counts it. */
static size_t set_expression_len(size_t n)
{
    size_t len = 4; /* "SET " */
    for (size_t i = 0; i < n; i++) {
        char ph[64];
        len += (size_t)snprintf(ph, sizeof(ph), "#n%zu = :v%zu", i, i) + (i ? 2 : 0);
    }
    return len;
}

static void run_update(const char *request, bool *fits, bool *noop, struct wd_buf *out)
{
    struct wd_request *req = parse(request);
    struct wd_error err = {0};
    assert_int_equal(wd_store_ddb_update_item_body(req, "widgets", out, fits, noop, &err), 0);
    wd_request_free(req);
}

static void test_update_item_4kb_limit(void **state)
{
    (void)state;
    size_t n = 0;
    while (set_expression_len(n + 1) <= 4096)
        n++;
    /* the largest update that fits: its expression is at most 4096 bytes */
    char *request = many_attrs(n, "v");
    struct wd_buf out = {0};
    bool fits = false, noop = true;
    run_update(request, &fits, &noop, &out);
    assert_true(fits);
    assert_false(noop);
    json_t *body = json_loads(out.data, 0, NULL);
    size_t len = strlen(json_string_value(json_object_get(body, "UpdateExpression")));
    assert_int_equal(len, set_expression_len(n));
    assert_true(len <= 4096);
    json_decref(body);
    wd_buf_free(&out);
    free(request);

    /* one more does not fit: nothing is written and the caller falls back to the merge */
    request = many_attrs(n + 1, "v");
    assert_int_equal(wd_buf_append_str(&out, "keep"), 0);
    fits = true;
    noop = true;
    run_update(request, &fits, &noop, &out);
    assert_false(fits);
    assert_false(noop);
    assert_string_equal(out.data, "keep");
    wd_buf_free(&out);
    free(request);
}

static void test_update_item_300_actions_limit(void **state)
{
    (void)state;
    /* 301 REMOVEs fit in 4 KB, but DynamoDB allows at most 300 operations in one UpdateExpression */
    char *request = many_attrs(300, "");
    struct wd_buf out = {0};
    bool fits = false, noop = true;
    run_update(request, &fits, &noop, &out);
    assert_true(fits);
    assert_true(out.len > 0);
    wd_buf_free(&out);
    free(request);

    request = many_attrs(301, "");
    run_update(request, &fits, &noop, &out);
    assert_false(fits);
    assert_int_equal(out.len, 0);
    wd_buf_free(&out);
    free(request);
}

static void test_update_item_placeholders_for_any_name(void **state)
{
    (void)state;
    /* reserved words, dots, dashes, spaces, placeholder look-alikes and non-ASCII all go through names */
    expect_both_ways(
        "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"size\":{\"S\":\"1\"},"
        "\"#n0\":{\"S\":\"old\"}}",
        REQ("update",
            ",\"otherAttributes\":[" ATTR("size", "2") "," ATTR("name", "n") "," ATTR("status", "s") "," ATTR(
                "a.b",
                "x") "," ATTR("height-cm",
                              "3") "," ATTR("with space",
                                            "4") "," ATTR("#n0",
                                                          "") "," ATTR(":v0",
                                                                       "5") "," ATTR("\\u00fc\\u00df",
                                                                                     "6") "," ATTR("SET",
                                                                                                   "7") "]"),
        "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"size\":{\"S\":\"2\"},"
        "\"name\":{\"S\":\"n\"},\"status\":{\"S\":\"s\"},\"a.b\":{\"S\":\"x\"},\"height-cm\":{\"S\":\"3\"},"
        "\"with space\":{\"S\":\"4\"},\":v0\":{\"S\":\"5\"},\"\xc3\xbc\xc3\x9f\":{\"S\":\"6\"},"
        "\"SET\":{\"S\":\"7\"}}");
}

/* --- UpdateItem and the merge fallback agree --- */

#define ITEM                                                                                                 \
    "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary "                                                        \
    "Matthews\"},\"label\":{\"S\":\"L\"},\"description\":{\"S\":"                                            \
    "\"D\"},\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"}}"

static void test_update_label_description(void **state)
{
    (void)state;
    expect_both_ways(ITEM, REQ("update", ",\"label\":\"New\""),
                     "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"label\":{\"S\":\"New\"},"
                     "\"description\":{\"S\":\"D\"},\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"}}");
    expect_both_ways(
        ITEM, REQ("update", ",\"label\":\"\",\"description\":\"E\""),
        "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"description\":{\"S\":\"E\"},"
        "\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"}}");
    expect_both_ways(ITEM, REQ("update", ",\"description\":\"\""),
                     "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"label\":{\"S\":\"L\"},"
                     "\"a\":{\"S\":\"1\"},\"b\":{\"S\":\"2\"}}");
}

static void test_update_attributes(void **state)
{
    (void)state;
    expect_both_ways(ITEM,
                     REQ("update", ",\"otherAttributes\":[" ATTR("a", "10") "," ATTR("b", "") "," ATTR(
                                       "c", "3") "," ATTR("gone", "") "]"),
                     "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"label\":{\"S\":\"L\"},"
                     "\"description\":{\"S\":\"D\"},\"a\":{\"S\":\"10\"},\"c\":{\"S\":\"3\"}}");
    /* dedup: the last value of a wins */
    expect_both_ways(ITEM, REQ("update", ",\"otherAttributes\":[" ATTR("a", "") "," ATTR("a", "11") "]"),
                     "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"label\":{\"S\":\"L\"},"
                     "\"description\":{\"S\":\"D\"},\"a\":{\"S\":\"11\"},\"b\":{\"S\":\"2\"}}");
}

static void test_update_ignores_reserved_and_owner(void **state)
{
    (void)state;
    /* owner is never changed, even by an update that spells it differently; reserved attributes are ignored
     * whether they set or remove */
    expect_both_ways(
        ITEM,
        "{\"type\":\"update\",\"requestId\":\"r\",\"widgetId\":\"w1\",\"owner\":\"Someone Else\","
        "\"otherAttributes\":[" ATTR("id", "x") "," ATTR("owner", "y") "," ATTR("label", "") "," ATTR(
            "description", "z") "," ATTR("a", "") "]}",
        "{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"label\":{\"S\":\"L\"},"
        "\"description\":{\"S\":\"D\"},\"b\":{\"S\":\"2\"}}");
}

/* --- the merge fallback --- */

static void test_merge_not_found(void **state)
{
    (void)state;
    struct wd_request *req = parse(REQ("update", ",\"label\":\"x\""));
    struct wd_buf out = {0};
    struct wd_error err = {0};
    bool found = true;
    assert_int_equal(wd_store_ddb_merge_item_body("{}", 2, req, "widgets", &out, &found, &err), 0);
    assert_false(found);
    assert_int_equal(out.len, 0);
    found = true;
    assert_int_equal(
        wd_store_ddb_merge_item_body("{\"ConsumedCapacity\":null}", 25, req, "widgets", &out, &found, &err),
        0);
    assert_false(found);
    wd_request_free(req);
}

static void test_merge_keeps_other_types(void **state)
{
    (void)state;
    /* members of types this program never writes (someone else's) are carried through unchanged */
    struct wd_request *req = parse(REQ("update", ",\"otherAttributes\":[" ATTR("a", "2") "]"));
    const char *resp = "{\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"A\"},\"n\":{\"N\":\"12.5\"},"
                       "\"l\":{\"L\":[{\"S\":\"x\"}]},\"a\":{\"S\":\"1\"}}}";
    struct wd_buf out = {0};
    struct wd_error err = {0};
    bool found = false;
    assert_int_equal(wd_store_ddb_merge_item_body(resp, strlen(resp), req, "widgets", &out, &found, &err), 0);
    assert_true(found);
    assert_string_equal(out.data,
                        "{\"TableName\":\"widgets\",\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"A\"},"
                        "\"n\":{\"N\":\"12.5\"},\"l\":{\"L\":[{\"S\":\"x\"}]},\"a\":{\"S\":\"2\"}}}");
    wd_buf_free(&out);
    wd_request_free(req);
}

static void test_merge_fits_any_size(void **state)
{
    (void)state;
    /* the fallback has no expression, so an update too big for UpdateItem merges fine */
    char *request = many_attrs(400, "v");
    json_t *item =
        json_loads("{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"A\"},\"a399\":{\"S\":\"old\"}}", 0, NULL);
    char *text = merge_body(item, request);
    json_t *body = json_loads(text, 0, NULL);
    json_t *merged = json_object_get(body, "Item");
    assert_int_equal(json_object_size(merged), 402);
    assert_string_equal(json_string_value(json_object_get(json_object_get(merged, "a399"), "S")), "v");
    json_decref(body);
    free(text);
    json_decref(item);
    free(request);
}

static void test_merge_bad_response(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "nope", "[]", "{\"Item\":[]}", "{\"Item\":\"x\"}"};
    struct wd_request *req = parse(REQ("update", ",\"label\":\"x\""));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wd_buf out = {0};
        struct wd_error err = {0};
        bool found = true;
        assert_int_equal(
            wd_store_ddb_merge_item_body(bad[i], strlen(bad[i]), req, "widgets", &out, &found, &err), -1);
        assert_int_equal(err.cls, WD_ERR_INTERNAL);
        assert_true(found); /* untouched */
        assert_int_equal(out.len, 0);
    }
    wd_request_free(req);
}

/* --- key bodies --- */

static void test_key_body(void **state)
{
    (void)state;
    struct wd_buf out = {0};
    struct wd_error err = {0};
    assert_int_equal(wd_store_ddb_key_body("widgets", "a/b \"c\" \xc3\xa9", NULL, &out, &err), 0);
    assert_string_equal(out.data,
                        "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"a/b \\\"c\\\" \xc3\xa9\"}}}");
    wd_buf_reset(&out);
    assert_int_equal(wd_store_ddb_key_body("widgets", "w1", "", &out, &err), 0);
    assert_string_equal(out.data, "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}}}");
    wd_buf_reset(&out);
    assert_int_equal(wd_store_ddb_key_body("widgets", "w1", "\"ReturnValues\":\"ALL_OLD\"", &out, &err), 0);
    assert_string_equal(
        out.data, "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"ReturnValues\":\"ALL_OLD\"}");
    wd_buf_reset(&out);
    assert_int_equal(wd_store_ddb_key_body("widgets", "w1",
                                           "\"ConsistentRead\":true,\"ProjectionExpression\":\"#i\"", &out,
                                           &err),
                     0);
    assert_string_equal(out.data,
                        "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"ConsistentRead\":true,"
                        "\"ProjectionExpression\":\"#i\"}");
    wd_buf_reset(&out);
    assert_int_equal(wd_store_ddb_key_body("widgets", "w1", "\"ReturnValues\":", &out, &err), -1);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
    assert_int_equal(out.len, 0);
    wd_buf_free(&out);
}

/* The sequence cross-checked with widget_oracle.py --store dynamodb (expected item copied from it),
 * applied once through UpdateItem and once through the merge fallback. */
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
    /* oracle: {"a": "4", "c": "3", "description": "D", "id": "w1", "owner": "Mary Matthews", "size": "20"} */
    json_t *want =
        json_loads("{\"a\":{\"S\":\"4\"},\"c\":{\"S\":\"3\"},\"description\":{\"S\":\"D\"},\"id\":{\"S\":"
                   "\"w1\"},\"owner\":{\"S\":\"Mary Matthews\"},\"size\":{\"S\":\"20\"}}",
                   0, NULL);
    for (int way = 0; way < 2; way++) {
        struct wd_request *req = parse(requests[0]);
        struct wd_buf out = {0};
        struct wd_error err = {0};
        assert_int_equal(wd_store_ddb_put_item_body(req, "widgets", &out, &err), 0);
        wd_request_free(req);
        json_t *put = json_loads(out.data, 0, NULL);
        json_t *item = json_deep_copy(json_object_get(put, "Item"));
        json_decref(put);
        wd_buf_free(&out);
        for (size_t i = 1; i < 4; i++) {
            req = parse(requests[i]);
            bool fits = false, noop = false;
            assert_int_equal(wd_store_ddb_update_item_body(req, "widgets", &out, &fits, &noop, &err), 0);
            wd_request_free(req);
            if (noop) {
                assert_int_equal(i, 3);
                continue;
            }
            if (way == 0) {
                simulate_update_item(item, out.data);
            } else {
                char *merged = merge_body(item, requests[i]);
                json_t *m = json_loads(merged, 0, NULL);
                json_decref(item);
                item = json_incref(json_object_get(m, "Item"));
                json_decref(m);
                free(merged);
            }
            wd_buf_free(&out);
        }
        assert_true(json_equal(item, want));
        json_decref(item);
    }
    json_decref(want);
}

/* --- applying requests against a scripted DynamoDB, with and without the fence --- */

/* DynamoDB Local's answers (copied from 3.3.1), and AWS's documented forms of the same. */
#define CANCELLED(r1, r2)                                                                                    \
    "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\",\"CancellationReasons\":" \
    "[" r1 "," r2                                                                                            \
    "],\"Message\":\"Transaction cancelled, please refer cancellation reasons for specific reasons\"}"
#define R_NONE "{\"Code\":\"None\"}"
#define R_CCF "{\"Code\":\"ConditionalCheckFailed\",\"Message\":\"The conditional request failed\"}"
#define R_CONFLICT "{\"Code\":\"TransactionConflict\",\"Message\":\"Transaction is ongoing for the item\"}"
#define R_TOO_LARGE                                                                                          \
    "{\"Code\":\"ValidationError\",\"Message\":\"Item size to update has exceeded the maximum allowed "      \
    "size\"}"
#define TOO_LARGE_LOCAL                                                                                      \
    "{\"__type\":\"com.amazon.coral.validate#ValidationException\",\"Message\":\"Item size has exceeded "    \
    "the "                                                                                                   \
    "maximum allowed size\"}"

/* The fence of these tests: widget w1 is on shard 5 (FNV-1a of "w1" is 273102853). */
#define FENCE_CHECK                                                                                          \
    "{\"ConditionCheck\":{\"TableName\":\"lease\",\"Key\":{\"key\":{\"S\":\"widgetd#fence-5\"}},"            \
    "\"ConditionExpression\":\"leadership = :n\",\"ExpressionAttributeValues\":{\":n\":{\"N\":\"7\"}}}}"

struct ddb_fx {
    struct wd_credentials_provider *creds;
    struct fx_server *server;
    struct wd_endpoint endpoint;
    struct wd_http *http;
    struct wd_aws *aws;
    struct wd_fence fence;
};

static double no_wait(void *ctx)
{
    (void)ctx;
    return 0.0;
}

static void ddb_start(struct ddb_fx *f, const struct fx_step *steps, size_t n)
{
    struct wd_error err = {0};
    setenv("AWS_ACCESS_KEY_ID", "AKIDSTOREDDBTEST0001", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "storeDdbTestSecretKeyEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("no_proxy", "127.0.0.1", 1);
    *f = (struct ddb_fx){
        .fence = {.table = "lease", .lease_key = "widgetd", .leadership = 7, .ddb_conditions = true}};
    f->creds = wd_credentials_provider_new(NULL, &err);
    assert_non_null(f->creds);
    f->server = fx_start(steps, n);
    assert_int_equal(wd_endpoint_parse(fx_url(f->server), &f->endpoint, &err), 0);
    struct wd_http_options ho = {.connect_timeout_ms = 1000, .timeout_ms = 2000, .no_proxy = true};
    f->http = wd_http_new(&ho, &err);
    assert_non_null(f->http);
    struct wd_retry_policy p = wd_retry_policy_default();
    p.rand01 = no_wait;
    f->aws = wd_aws_new("us-east-1", f->creds, &p, &err);
    assert_non_null(f->aws);
}

static void ddb_stop(struct ddb_fx *f)
{
    wd_aws_free(f->aws);
    wd_http_free(f->http);
    wd_endpoint_clear(&f->endpoint);
    fx_free(f->server);
    wd_credentials_provider_free(f->creds);
}

/* Applies request with fence (NULL: none) to table "widgets". */
static int ddb_apply(struct ddb_fx *f, const struct wd_fence *fence, const char *request,
                     struct wd_apply_result *res, struct wd_error *err)
{
    struct wd_request *req = parse(request);
    struct wd_store store = {
        .ops = &wd_store_ddb_ops, .name = "widgets", .ddb = &f->endpoint, .fence = fence};
    int rc = store.ops->apply(&store, f->aws, f->http, req, res, err);
    wd_request_free(req);
    return rc;
}

/* The i-th request was DynamoDB_20120810.<op> with exactly this body. */
static void expect_call(struct ddb_fx *f, size_t i, const char *op, const char *body)
{
    const struct fx_request *r = fx_request(f->server, i);
    char target[128], want[128];
    assert_non_null(r);
    snprintf(want, sizeof(want), "DynamoDB_20120810.%s", op);
    assert_string_equal(r->method, "POST");
    assert_non_null(fx_header(r, "X-Amz-Target", target, sizeof(target)));
    assert_string_equal(target, want);
    assert_string_equal(r->body, body);
}

#define PUT_W1                                                                                               \
    "{\"TableName\":\"widgets\",\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"Mary "                    \
    "Matthews\"},\"label\":{\"S\":\"L\"}}}"
#define UPDATE_W1                                                                                            \
    "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"UpdateExpression\":\"SET #n0 = :v0\","     \
    "\"ConditionExpression\":\"attribute_exists(#id)\",\"ExpressionAttributeNames\":{\"#id\":\"id\",\"#"     \
    "n0\":"                                                                                                  \
    "\"label\"},\"ExpressionAttributeValues\":{\":v0\":{\"S\":\"L\"}}}"
#define DELETE_W1                                                                                            \
    "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"ConditionExpression\":\"attribute_exists(" \
    "#id)\","                                                                                                \
    "\"ExpressionAttributeNames\":{\"#id\":\"id\"}}"

static void test_fence_shard(void **state)
{
    (void)state;
    /* FNV-1a 32 test vectors ("" 0x811c9dc5, "a" 0xe40c292c, "foobar" 0xbf9cf968), modulo 32 */
    assert_int_equal(wd_store_ddb_fence_shard(""), 0x811c9dc5u % 32);
    assert_int_equal(wd_store_ddb_fence_shard("a"), 0xe40c292cu % 32);
    assert_int_equal(wd_store_ddb_fence_shard("foobar"), 0xbf9cf968u % 32);
    assert_int_equal(wd_store_ddb_fence_shard("w1"), 5);
    assert_int_equal(wd_store_ddb_fence_shard("w2"), 12);
    /* bytes, not characters: U+00FC is two bytes */
    assert_int_equal(wd_store_ddb_fence_shard("widget-\xc3\xbc"), 260552807u % 32);
}

/* Without a fence, and with the test-only switch off, the calls are exactly the unfenced ones. */
static void test_apply_unfenced_calls(void **state)
{
    (void)state;
    for (int with_switch_off = 0; with_switch_off < 2; with_switch_off++) {
        const struct fx_step steps[] = {
            {"POST", "/", 200, "{}", 0},
            {"POST", "/", 200, "{}", 0},
            {"POST", "/", 200, "{\"Attributes\":{\"id\":{\"S\":\"w1\"}}}", 0},
            {"POST", "/", 200, "{}", 0},
        };
        struct ddb_fx f;
        struct wd_apply_result res;
        struct wd_error err = {0};
        ddb_start(&f, steps, 4);
        f.fence.ddb_conditions = false;
        const struct wd_fence *fence = with_switch_off ? &f.fence : NULL;
        assert_int_equal(ddb_apply(&f, fence, REQ("create", ",\"label\":\"L\""), &res, &err), 0);
        assert_int_equal(ddb_apply(&f, fence, REQ("update", ",\"label\":\"L\""), &res, &err), 0);
        assert_false(res.not_found);
        assert_int_equal(ddb_apply(&f, fence, REQ("delete", ""), &res, &err), 0);
        assert_false(res.not_found);
        assert_int_equal(ddb_apply(&f, fence, REQ("delete", ""), &res, &err), 0);
        assert_true(res.not_found); /* ALL_OLD without Attributes */
        assert_int_equal(fx_count(f.server), 4);
        expect_call(&f, 0, "PutItem", PUT_W1);
        expect_call(&f, 1, "UpdateItem", UPDATE_W1);
        expect_call(
            &f, 2, "DeleteItem",
            "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"ReturnValues\":\"ALL_OLD\"}");
        assert_true(fx_all_expected(f.server));
        ddb_stop(&f);
    }
}

static void test_apply_fenced_bodies(void **state)
{
    (void)state;
    const struct fx_step steps[] = {
        {"POST", "/", 200, "{}", 0},
        {"POST", "/", 200, "{}", 0},
        {"POST", "/", 200, "{}", 0},
    };
    struct ddb_fx f;
    struct wd_apply_result res;
    struct wd_error err = {0};
    ddb_start(&f, steps, 3);
    assert_int_equal(ddb_apply(&f, &f.fence, REQ("create", ",\"label\":\"L\""), &res, &err), 0);
    f.fence.leadership = 8; /* read at each call */
    assert_int_equal(ddb_apply(&f, &f.fence, REQ("update", ",\"label\":\"L\""), &res, &err), 0);
    assert_false(res.not_found);
    f.fence.leadership = 7;
    assert_int_equal(ddb_apply(&f, &f.fence, REQ("delete", ""), &res, &err), 0);
    assert_false(res.not_found);
    expect_call(&f, 0, "TransactWriteItems", "{\"TransactItems\":[" FENCE_CHECK ",{\"Put\":" PUT_W1 "}]}");
    expect_call(
        &f, 1, "TransactWriteItems",
        "{\"TransactItems\":[{\"ConditionCheck\":{\"TableName\":\"lease\",\"Key\":{\"key\":{\"S\":"
        "\"widgetd#fence-5\"}},\"ConditionExpression\":\"leadership = :n\",\"ExpressionAttributeValues\":"
        "{\":n\":{\"N\":\"8\"}}}},{\"Update\":" UPDATE_W1 "}]}");
    expect_call(&f, 2, "TransactWriteItems",
                "{\"TransactItems\":[" FENCE_CHECK ",{\"Delete\":" DELETE_W1 "}]}");
    assert_int_equal(fx_count(f.server), 3);
    ddb_stop(&f);
}

/* Past the 4 KB expression limit: GetItem, then the whole item put behind the fence, only if it exists. */
static void test_apply_fenced_fallback(void **state)
{
    (void)state;
    char *request = many_attrs(400, "v");
    const struct fx_step steps[] = {
        {"POST", "/", 200, "{\"Item\":{\"id\":{\"S\":\"w1\"},\"owner\":{\"S\":\"A\"}}}", 0},
        {"POST", "/", 200, "{}", 0},
        {"POST", "/", 200, "{}", 0}, /* the no-op update: only a read */
    };
    struct ddb_fx f;
    struct wd_apply_result res;
    struct wd_error err = {0};
    ddb_start(&f, steps, 3);
    assert_int_equal(ddb_apply(&f, &f.fence, request, &res, &err), 0);
    assert_false(res.not_found);
    expect_call(&f, 0, "GetItem",
                "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"ConsistentRead\":true}");
    json_t *body = json_loads(fx_request(f.server, 1)->body, 0, NULL);
    json_t *items = json_object_get(body, "TransactItems");
    assert_int_equal(json_array_size(items), 2);
    char *check = json_dumps(json_array_get(items, 0), JSON_COMPACT);
    assert_string_equal(check, FENCE_CHECK);
    free(check);
    json_t *put = json_object_get(json_array_get(items, 1), "Put");
    assert_string_equal(json_string_value(json_object_get(put, "ConditionExpression")),
                        "attribute_exists(#id)");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(put, "ExpressionAttributeNames"), "#id")), "id");
    json_t *item = json_object_get(put, "Item");
    assert_int_equal(json_object_size(item), 402); /* id, owner, a0..a399: nothing of the fence */
    assert_null(json_object_get(item, "leadership"));
    json_decref(body);

    assert_int_equal(ddb_apply(&f, &f.fence, REQ("update", ""), &res, &err), 0);
    assert_true(res.not_found); /* {} : no Item */
    assert_int_equal(fx_count(f.server), 3);
    expect_call(&f, 2, "GetItem",
                "{\"TableName\":\"widgets\",\"Key\":{\"id\":{\"S\":\"w1\"}},\"ConsistentRead\":true}");
    ddb_stop(&f);
    free(request);
}

/* One answer to a fenced write of request: its outcome. */
static int fenced_answer(const char *request, int status, const char *answer, struct wd_apply_result *res,
                         struct wd_error *err, size_t *calls)
{
    const struct fx_step steps[] = {{"POST", "/", status, answer, 0}, {"POST", "/", 200, "{}", 0}};
    struct ddb_fx f;
    ddb_start(&f, steps, 2);
    *err = (struct wd_error){0};
    int rc = ddb_apply(&f, &f.fence, request, res, err);
    *calls = fx_count(f.server);
    ddb_stop(&f);
    return rc;
}

static void test_fenced_outcomes(void **state)
{
    (void)state;
    struct wd_apply_result res;
    struct wd_error err;
    size_t calls;
    static const char *const requests[] = {REQ("create", ""), REQ("update", ",\"label\":\"L\""),
                                           REQ("delete", "")};

    /* the fence failed: FENCED, never retried, whatever the widget's own reason */
    static const char *const fenced[] = {
        CANCELLED("{\"Code\":\"ConditionalCheckFailed\",\"Message\":\"The conditional request failed.\"}",
                  R_NONE),
        CANCELLED(R_CCF, R_CCF),
        CANCELLED(R_CCF, R_TOO_LARGE),
        /* no CancellationReasons: the list at the end of the message */
        "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\",\"message\":"
        "\"Transaction "
        "cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]\"}",
    };
    for (size_t r = 0; r < 3; r++)
        for (size_t i = 0; i < sizeof(fenced) / sizeof(fenced[0]); i++) {
            assert_int_equal(fenced_answer(requests[r], 400, fenced[i], &res, &err, &calls), -1);
            assert_int_equal(err.cls, WD_ERR_FENCED);
            assert_int_equal(calls, 1);
            assert_non_null(
                strstr(err.message, "\"widgetd#fence-5\" in table \"lease\" does not hold leadership 7"));
            assert_false(wd_store_ddb_ops.rejects_content(&err));
        }

    /* the widget's condition failed: not found (update and delete) */
    for (size_t r = 1; r < 3; r++) {
        assert_int_equal(fenced_answer(requests[r], 400, CANCELLED(R_NONE, R_CCF), &res, &err, &calls), 0);
        assert_true(res.not_found);
        assert_int_equal(calls, 1);
        assert_int_equal(
            fenced_answer(requests[r], 400,
                          "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
                          "\"Message\":\"Transaction cancelled, please refer cancellation reasons for "
                          "specific reasons [None, ConditionalCheckFailed]\"}",
                          &res, &err, &calls),
            0);
        assert_true(res.not_found);
    }
    /* a create has no condition of its own: a failure of the widget's item is not "not found" */
    assert_int_equal(fenced_answer(requests[0], 400, CANCELLED(R_NONE, R_CCF), &res, &err, &calls), -1);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);

    /* the fence item busy with another transaction (a new leader raising it): the widget is not judged */
    assert_int_equal(fenced_answer(requests[1], 400, CANCELLED(R_CONFLICT, R_CCF), &res, &err, &calls), -1);
    assert_int_equal(err.cls, WD_ERR_TRANSIENT);
    assert_false(res.not_found);

    /* reasons that cannot be read: the failed condition is not guessed */
    assert_int_equal(
        fenced_answer(requests[1], 400,
                      "{\"__type\":\"com.amazonaws.dynamodb.v20120810#TransactionCanceledException\","
                      "\"CancellationReasons\":[{\"Code\":\"ConditionalCheckFailed\"}],\"Message\":\"x\"}",
                      &res, &err, &calls),
        -1);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
    assert_false(res.not_found);
}

/* TransactionConflict is transient: the call is tried again (DynamoDB Local never sends it). */
static void test_fenced_conflict_retried(void **state)
{
    (void)state;
    static const char *const answers[] = {CANCELLED(R_NONE, R_CONFLICT), CANCELLED(R_CONFLICT, R_NONE)};
    for (size_t i = 0; i < 2; i++) {
        struct wd_apply_result res;
        struct wd_error err;
        size_t calls;
        assert_int_equal(
            fenced_answer(REQ("update", ",\"label\":\"L\""), 400, answers[i], &res, &err, &calls), 0);
        assert_false(res.not_found);
        assert_int_equal(calls, 2);
    }
}

/* An item over 400 KB goes to the dead letters, fenced too: in DynamoDB Local's form and in AWS's. */
static void test_fenced_content_too_large(void **state)
{
    (void)state;
    struct wd_apply_result res;
    struct wd_error err;
    size_t calls;
    assert_int_equal(fenced_answer(REQ("create", ""), 400, TOO_LARGE_LOCAL, &res, &err, &calls), -1);
    assert_int_equal(err.cls, WD_ERR_CLIENT);
    assert_true(wd_store_ddb_ops.rejects_content(&err));
    assert_int_equal(fenced_answer(REQ("update", ",\"label\":\"L\""), 400, CANCELLED(R_NONE, R_TOO_LARGE),
                                   &res, &err, &calls),
                     -1);
    assert_int_equal(err.cls, WD_ERR_CLIENT);
    assert_int_equal(calls, 1);
    assert_true(wd_store_ddb_ops.rejects_content(&err));
    assert_non_null(
        strstr(err.message, "the widget item: ValidationError: Item size to update has exceeded"));
    /* another validation error of the item is the deployment's fault, not the content's */
    assert_int_equal(
        fenced_answer(REQ("update", ",\"label\":\"L\""), 400,
                      CANCELLED(R_NONE, "{\"Code\":\"ValidationError\",\"Message\":\"Type mismatch\"}"), &res,
                      &err, &calls),
        -1);
    assert_int_equal(err.cls, WD_ERR_CLIENT);
    assert_false(wd_store_ddb_ops.rejects_content(&err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserved_names),
        cmocka_unit_test(test_ignored),
        cmocka_unit_test(test_put_item_full),
        cmocka_unit_test(test_put_item_minimal),
        cmocka_unit_test(test_put_item_never_stores_empty),
        cmocka_unit_test(test_put_item_ignores_reserved_attributes),
        cmocka_unit_test(test_put_item_dedup_and_odd_names),
        cmocka_unit_test(test_update_item_body),
        cmocka_unit_test(test_update_item_set_only),
        cmocka_unit_test(test_update_item_remove_only_has_no_values),
        cmocka_unit_test(test_update_item_reserved_never_twice),
        cmocka_unit_test(test_update_item_noop),
        cmocka_unit_test(test_update_item_4kb_limit),
        cmocka_unit_test(test_update_item_300_actions_limit),
        cmocka_unit_test(test_update_item_placeholders_for_any_name),
        cmocka_unit_test(test_update_label_description),
        cmocka_unit_test(test_update_attributes),
        cmocka_unit_test(test_update_ignores_reserved_and_owner),
        cmocka_unit_test(test_merge_not_found),
        cmocka_unit_test(test_merge_keeps_other_types),
        cmocka_unit_test(test_merge_fits_any_size),
        cmocka_unit_test(test_merge_bad_response),
        cmocka_unit_test(test_key_body),
        cmocka_unit_test(test_oracle_sequence),
        cmocka_unit_test(test_fence_shard),
        cmocka_unit_test(test_apply_unfenced_calls),
        cmocka_unit_test(test_apply_fenced_bodies),
        cmocka_unit_test(test_apply_fenced_fallback),
        cmocka_unit_test(test_fenced_outcomes),
        cmocka_unit_test(test_fenced_conflict_retried),
        cmocka_unit_test(test_fenced_content_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
