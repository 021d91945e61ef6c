/* Unit tests of the DynamoDB store representation of a widget (SPEC section 3): PutItem, UpdateItem,
 * the read-modify-write fallback and key bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "store_dynamodb.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
