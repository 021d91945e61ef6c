/* Unit tests of widget request parsing and validation (SPEC section 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "request.h"

/* A valid request with `extra` members spliced in before the closing brace. */
#define REQ(extra)                                                                                           \
    "{\"type\":\"create\",\"requestId\":\"r1\",\"widgetId\":\"w1\",\"owner\":\"Mary Matthews\"" extra "}"

/* True when s is valid UTF-8 without C0, DEL or C1 controls: what "printable" means for messages. */
static bool is_printable(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
        if (*p < 0xc2 || *p > 0xf4 || (*p == 0xc2 && p[1] < 0xa0))
            return false;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += n;
    }
    return true;
}

static struct wd_request *parse_ok_len(const char *body, size_t len)
{
    struct wd_request *req = NULL;
    struct wd_error err = {0};
    int rc = wd_request_parse(body, len, &req, &err);
    if (rc != 0)
        fail_msg("rejected: %s", err.message);
    assert_non_null(req);
    return req;
}

static struct wd_request *parse_ok(const char *body)
{
    return parse_ok_len(body, strlen(body));
}

/* The request must be a bad request whose message contains `needle`, is printable and fits. */
static void expect_bad_len(const char *body, size_t len, const char *needle)
{
    struct wd_request *req = (struct wd_request *)0x1; /* must stay untouched */
    struct wd_error err = {0};
    assert_int_equal(wd_request_parse(body, len, &req, &err), -1);
    assert_ptr_equal(req, (struct wd_request *)0x1);
    assert_int_equal(err.cls, WD_ERR_BAD_INPUT);
    if (strstr(err.message, needle) == NULL)
        fail_msg("message \"%s\" does not contain \"%s\"", err.message, needle);
    assert_true(is_printable(err.message));
    assert_true(strlen(err.message) < sizeof(err.message) - 1); /* not cut off */
}

static void expect_bad(const char *body, const char *needle)
{
    expect_bad_len(body, strlen(body), needle);
}

/* A request whose label is `n` copies of `unit`, for size and depth edge cases. */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), ul = strlen(unit), sl = strlen(suffix);
    char *s = malloc(pl + ul * n + sl + 1);
    assert_non_null(s);
    memcpy(s, prefix, pl);
    for (size_t i = 0; i < n; i++)
        memcpy(s + pl + i * ul, unit, ul);
    memcpy(s + pl + ul * n, suffix, sl + 1);
    return s;
}

/* --- accepted requests --- */

static void test_minimal_create(void **state)
{
    (void)state;
    struct wd_request *req = parse_ok(REQ(""));
    assert_int_equal(req->type, WD_REQ_CREATE);
    assert_string_equal(req->request_id, "r1");
    assert_string_equal(req->widget_id, "w1");
    assert_string_equal(req->owner, "Mary Matthews");
    assert_null(req->label);
    assert_null(req->description);
    assert_null(req->attrs);
    assert_int_equal(req->n_attrs, 0);
    wd_request_free(req);
}

static void test_spec_example(void **state)
{
    (void)state;
    const char *body =
        "{\"type\": \"create\", \"requestId\": \"e80fab52-71a5-4a76-8c4d-11b66b83ca2a\",\n"
        " \"widgetId\": \"8123f304-f23f-440b-a6d3-80e979fa4cd6\", \"owner\": \"Mary Matthews\",\n"
        " \"label\": \"JWJYY\", \"description\": \"THBRNVNQPYAWNHGRGUKIOWCKXIVNDLWOIQ\",\n"
        " \"otherAttributes\": [{\"name\": \"width-unit\", \"value\": \"cm\"}, {\"name\": \"length\", "
        "\"value\": "
        "\"838\"}]}\n";
    struct wd_request *req = parse_ok(body);
    assert_string_equal(req->request_id, "e80fab52-71a5-4a76-8c4d-11b66b83ca2a");
    assert_string_equal(req->widget_id, "8123f304-f23f-440b-a6d3-80e979fa4cd6");
    assert_string_equal(req->label, "JWJYY");
    assert_string_equal(req->description, "THBRNVNQPYAWNHGRGUKIOWCKXIVNDLWOIQ");
    assert_int_equal(req->n_attrs, 2);
    assert_string_equal(req->attrs[0].name, "width-unit");
    assert_string_equal(req->attrs[0].value, "cm");
    assert_string_equal(req->attrs[1].name, "length");
    assert_string_equal(req->attrs[1].value, "838");
    wd_request_free(req);
}

static void test_types(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
        "{\"type\":\"update\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
        "{\"type\":\"delete\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
    };
    static const enum wd_request_type types[] = {WD_REQ_CREATE, WD_REQ_UPDATE, WD_REQ_DELETE};
    for (size_t i = 0; i < 3; i++) {
        struct wd_request *req = parse_ok(bodies[i]);
        assert_int_equal(req->type, types[i]);
        wd_request_free(req);
    }
    assert_string_equal(wd_request_type_name(WD_REQ_CREATE), "create");
    assert_string_equal(wd_request_type_name(WD_REQ_UPDATE), "update");
    assert_string_equal(wd_request_type_name(WD_REQ_DELETE), "delete");
}

static void test_null_optionals_are_absent(void **state)
{
    (void)state;
    struct wd_request *req = parse_ok(REQ(",\"label\":null,\"description\":null,\"otherAttributes\":null"));
    assert_null(req->label);
    assert_null(req->description);
    assert_int_equal(req->n_attrs, 0);
    wd_request_free(req);
}

static void test_empty_strings_are_kept(void **state)
{
    (void)state;
    /* "" is not absent: in an update it removes the field, so the parser must keep it apart from NULL */
    struct wd_request *req = parse_ok(REQ(",\"label\":\"\",\"description\":\"\",\"otherAttributes\":[]"));
    assert_non_null(req->label);
    assert_string_equal(req->label, "");
    assert_string_equal(req->description, "");
    assert_int_equal(req->n_attrs, 0);
    wd_request_free(req);
}

static void test_unknown_fields_ignored(void **state)
{
    (void)state;
    struct wd_request *req = parse_ok(REQ(",\"color\":\"red\",\"nested\":{\"a\":[1,2.5,true,false,null,{}]},"
                                          "\"label\":\"L\",\"Label\":5,\"x\":null"));
    assert_string_equal(req->label, "L");
    wd_request_free(req);
}

static void test_unusual_widget_ids(void **state)
{
    (void)state;
    static const struct {
        const char *json, *raw;
    } cases[] = {
        {"a/b", "a/b"},
        {"with space", "with space"},
        {"a+b%20c?d#e", "a+b%20c?d#e"},
        {".", "."},
        {"..", ".."},
        {"../../etc/passwd", "../../etc/passwd"},
        {"\\u00e9t\\u00e9", "\xc3\xa9t\xc3\xa9"},
        {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},
        {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"},
        {"\\u0080", "\xc2\x80"}, /* C1 is not among SPEC's control characters */
        {"~!@$&*()[]{};:'\\\"\\\\,<>", "~!@$&*()[]{};:'\"\\,<>"},
        {"\\/", "/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"type\":\"update\",\"requestId\":\"r\",\"widgetId\":\"%s\",\"owner\":\"A\"}",
                 cases[i].json);
        struct wd_request *req = parse_ok(body);
        assert_string_equal(req->widget_id, cases[i].raw);
        wd_request_free(req);
    }
}

static void test_widget_id_length_limits(void **state)
{
    (void)state;
    /* 512 bytes made of 2-byte characters: the limit counts UTF-8 bytes, not characters */
    char *ok = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"owner\":\"A\",\"widgetId\":\"", "\xc3\xa9",
                      256, "\"}");
    struct wd_request *req = parse_ok(ok);
    assert_int_equal(strlen(req->widget_id), 512);
    wd_request_free(req);
    free(ok);

    char *ascii =
        repeat("{\"type\":\"create\",\"requestId\":\"r\",\"owner\":\"A\",\"widgetId\":\"", "x", 512, "\"}");
    req = parse_ok(ascii);
    assert_int_equal(strlen(req->widget_id), 512);
    wd_request_free(req);
    free(ascii);

    char *bad = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"owner\":\"A\",\"widgetId\":\"", "\xc3\xa9",
                       256, "x\"}");
    expect_bad(bad, "513 bytes, more than 512");
    free(bad);

    char *escaped = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"owner\":\"A\",\"widgetId\":\"",
                           "\\u00e9", 257, "\"}");
    expect_bad(escaped, "514 bytes");
    free(escaped);
}

static void test_owner_edges(void **state)
{
    (void)state;
    char *max = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"", "Ab c", 63,
                       "xyz\"}");
    struct wd_request *req = parse_ok(max);
    assert_int_equal(strlen(req->owner), 255);
    wd_request_free(req);
    free(max);

    /* ^[A-Za-z ]+$ admits an owner of spaces only; the oracle agrees */
    req = parse_ok("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\" \"}");
    assert_string_equal(req->owner, " ");
    wd_request_free(req);
}

static void test_attribute_dedup_last_value_first_place(void **state)
{
    (void)state;
    struct wd_request *req =
        parse_ok(REQ(",\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},"
                     "{\"name\":\"b\",\"value\":\"2\"},{\"name\":\"a\",\"value\":\"3\"},"
                     "{\"name\":\"c\",\"value\":\"\"},{\"name\":\"b\",\"value\":\"\"},"
                     "{\"name\":\"c\",\"value\":\"4\"},{\"name\":\"A\",\"value\":\"5\"}]"));
    assert_int_equal(req->n_attrs, 4);
    assert_string_equal(req->attrs[0].name, "a");
    assert_string_equal(req->attrs[0].value, "3");
    assert_string_equal(req->attrs[1].name, "b");
    assert_string_equal(req->attrs[1].value, "");
    assert_string_equal(req->attrs[2].name, "c");
    assert_string_equal(req->attrs[2].value, "4");
    assert_string_equal(req->attrs[3].name, "A"); /* names are case-sensitive */
    assert_string_equal(req->attrs[3].value, "5");
    wd_request_free(req);
}

static void test_attribute_entry_extra_members(void **state)
{
    (void)state;
    /* like the oracle, an entry may carry more than name and value; the extras are not kept */
    struct wd_request *req =
        parse_ok(REQ(",\"otherAttributes\":[{\"value\":\"v\",\"unit\":\"cm\",\"name\":\"n\"}]"));
    assert_int_equal(req->n_attrs, 1);
    assert_string_equal(req->attrs[0].name, "n");
    assert_string_equal(req->attrs[0].value, "v");
    wd_request_free(req);
}

static void test_attribute_name_limits(void **state)
{
    (void)state;
    char *name255 = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\","
                           "\"otherAttributes\":[{\"value\":\"v\",\"name\":\"",
                           "n", 255, "\"}]}");
    struct wd_request *req = parse_ok(name255);
    assert_int_equal(strlen(req->attrs[0].name), 255);
    wd_request_free(req);
    free(name255);

    char *name256 = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\","
                           "\"otherAttributes\":[{\"value\":\"v\",\"name\":\"",
                           "n", 256, "\"}]}");
    expect_bad(name256, "otherAttributes[0].name");
    expect_bad(name256, "256 bytes, more than 255");
    free(name256);

    /* 128 two-byte characters: 256 bytes */
    char *wide = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\","
                        "\"otherAttributes\":[{\"value\":\"v\",\"name\":\"",
                        "\xc3\xbc", 128, "\"}]}");
    expect_bad(wide, "256 bytes");
    free(wide);
}

static void test_numbers_in_range_accepted(void **state)
{
    (void)state;
    /* the limits are int64 and double overflow; underflow to 0 is fine (strtod and Python agree) */
    struct wd_request *req =
        parse_ok(REQ(",\"a\":9223372036854775807,\"b\":-9223372036854775808,\"c\":1e-400,"
                     "\"d\":1.7976931348623157e308,\"e\":-0,\"f\":0.5E+3"));
    wd_request_free(req);
}

/* {"type":...,"deep": n copies of open, then inner, then n copies of close} */
static char *nested(size_t n, const char *open, const char *inner, const char *close)
{
    const char *head =
        "{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\",\"deep\":";
    size_t hl = strlen(head), ol = strlen(open), il = strlen(inner), cl = strlen(close);
    char *s = malloc(hl + n * (ol + cl) + il + 2);
    assert_non_null(s);
    memcpy(s, head, hl);
    size_t o = hl;
    for (size_t i = 0; i < n; i++, o += ol)
        memcpy(s + o, open, ol);
    memcpy(s + o, inner, il);
    o += il;
    for (size_t i = 0; i < n; i++, o += cl)
        memcpy(s + o, close, cl);
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* the top-level object is level 1: 2047 arrays inside it make 2048, jansson's limit and the oracle's */
    char *ok = nested(2046, "[", "[]", "]");
    struct wd_request *req = parse_ok(ok);
    wd_request_free(req);
    free(ok);

    char *deep = nested(2047, "[", "[]", "]");
    expect_bad(deep, "maximum parsing depth");
    free(deep);

    /* objects count as levels too: 1 + 2 * 1023 + 1 = 2048 */
    char *objs_ok = nested(1023, "{\"k\":[", "{}", "]}");
    req = parse_ok(objs_ok);
    wd_request_free(req);
    free(objs_ok);

    char *objs = nested(1023, "{\"k\":[", "{\"k\":{}}", "]}");
    expect_bad(objs, "maximum parsing depth");
    free(objs);

    /*
     * Known difference from SPEC 2 and the oracle, which count containers only: jansson counts the
     * innermost scalar as a level too, so 2048 containers around a number are refused. Pinned here so a
     * change of jansson's behaviour is noticed (see the issue note).
     */
    char *scalar = nested(2046, "[", "[1]", "]");
    expect_bad(scalar, "maximum parsing depth");
    free(scalar);
    char *scalar_ok = nested(2045, "[", "[1]", "]");
    req = parse_ok(scalar_ok);
    wd_request_free(req);
    free(scalar_ok);
}

static void test_size_limit(void **state)
{
    (void)state;
    /* exactly 256 KiB, padded with whitespace after the object, is accepted */
    size_t max = WD_REQUEST_MAX_BYTES;
    char *body = malloc(max + 1);
    assert_non_null(body);
    const char *r = REQ("");
    size_t rl = strlen(r);
    memcpy(body, r, rl);
    memset(body + rl, ' ', max + 1 - rl);
    struct wd_request *req = parse_ok_len(body, max);
    wd_request_free(req);
    expect_bad_len(body, max + 1, "262145 bytes, more than the limit of 262144");
    free(body);
}

static void test_many_attributes_are_fast(void **state)
{
    (void)state;
    /* 8,000 entries of 200 names (about 250 KB): merging duplicates must not be quadratic in entries */
    struct wd_buf b = {0};
    assert_int_equal(wd_buf_append_str(&b, "{\"type\":\"update\",\"requestId\":\"r\",\"widgetId\":\"w\","
                                           "\"owner\":\"A\",\"otherAttributes\":["),
                     0);
    for (int i = 0; i < 8000; i++)
        assert_int_equal(wd_buf_printf(&b, "%s{\"name\":\"n%d\",\"value\":\"%d\"}", i ? "," : "", i % 200, i),
                         0);
    assert_int_equal(wd_buf_append_str(&b, "]}"), 0);
    assert_true(b.len <= WD_REQUEST_MAX_BYTES);
    struct wd_request *req = parse_ok_len(b.data, b.len);
    assert_int_equal(req->n_attrs, 200);
    assert_string_equal(req->attrs[0].name, "n0");
    assert_string_equal(req->attrs[0].value, "7800");
    assert_string_equal(req->attrs[199].name, "n199");
    assert_string_equal(req->attrs[199].value, "7999");
    wd_request_free(req);
    wd_buf_free(&b);
}

static void test_body_not_nul_terminated(void **state)
{
    (void)state;
    const char *r = REQ("");
    size_t len = strlen(r);
    char *copy = malloc(len); /* no terminator: ASan catches a read past the end */
    assert_non_null(copy);
    memcpy(copy, r, len);
    struct wd_request *req = parse_ok_len(copy, len);
    wd_request_free(req);
    free(copy);
}

/* --- bad requests: strict JSON --- */

static void test_bad_json_syntax(void **state)
{
    (void)state;
    expect_bad("{\"type\":\"create\",", "line 1, column");
    expect_bad("{\"type\":\"create\"\n,,}", "line 2, column");
    expect_bad(REQ("") " x", "end of file expected");
    expect_bad("", "not strictly valid JSON");
    expect_bad_len(NULL, 0, "not strictly valid JSON");
    expect_bad("{'type':'create'}", "not strictly valid JSON");
    expect_bad(REQ(",\"a\":01"), "not strictly valid JSON");
    expect_bad(REQ(",\"a\":[1,]"), "not strictly valid JSON");
    expect_bad(REQ(",\"a\":\"tab\there\""), "control character");
    expect_bad("\xef\xbb\xbf" REQ(""), "not strictly valid JSON"); /* a BOM is not JSON */
}

static void test_bad_nul_escape(void **state)
{
    (void)state;
    expect_bad(REQ(",\"label\":\"a\\u0000b\""), "\\u0000");
    expect_bad(REQ(",\"ignored\\u0000\":1"), "NUL");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\\u0000\",\"owner\":\"A\"}",
               "\\u0000");
}

static void test_bad_raw_nul_byte(void **state)
{
    (void)state;
    /* jansson alone would accept these: its lexer drops a NUL that follows a number or keyword */
    static const char a[] =
        "{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\",\"n\":1\0}";
    static const char b[] =
        "{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\",\"n\":null\0}";
    static const char c[] = "{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}\0";
    char needle[64];
    snprintf(needle, sizeof(needle), "NUL byte at offset %zu", sizeof(a) - 3);
    expect_bad_len(a, sizeof(a) - 1, needle);
    expect_bad_len(b, sizeof(b) - 1, "NUL byte");
    expect_bad_len(c, sizeof(c) - 1, "NUL byte");
}

static void test_bad_surrogates(void **state)
{
    (void)state;
    expect_bad(REQ(",\"label\":\"\\ud800\""), "invalid Unicode");
    expect_bad(REQ(",\"label\":\"\\udc00\""), "invalid Unicode");
    expect_bad(REQ(",\"label\":\"\\ud800x\""), "invalid Unicode");
    expect_bad(REQ(",\"ignored\":[\"\\ud83d\"]"), "invalid Unicode");
    struct wd_request *req = parse_ok(REQ(",\"label\":\"\\ud83d\\ude00\""));
    assert_string_equal(req->label, "\xf0\x9f\x98\x80");
    wd_request_free(req);
}

static void test_bad_utf8(void **state)
{
    (void)state;
    expect_bad(REQ(",\"label\":\"\xff\""), "unable to decode byte 0xff");
    expect_bad(REQ(",\"label\":\"\xc0\xaf\""), "0xc0");         /* overlong '/' */
    expect_bad(REQ(",\"label\":\"\xed\xa0\x80\""), "0xed");     /* UTF-8-encoded surrogate */
    expect_bad(REQ(",\"label\":\"\xc3\""), "unable to decode"); /* truncated sequence */
    expect_bad(REQ(",\"label\":\"\xf4\x90\x80\x80\""), "0xf4"); /* above U+10FFFF */
    expect_bad(REQ(",\"k\xfe\":1"), "unable to decode");
    expect_bad(REQ(",\"n\":1\xa0"), "not strictly valid JSON"); /* outside a string */
}

static void test_bad_nan_infinity(void **state)
{
    (void)state;
    expect_bad(REQ(",\"n\":NaN"), "invalid token");
    expect_bad(REQ(",\"n\":Infinity"), "invalid token");
    expect_bad(REQ(",\"n\":-Infinity"), "invalid token");
    expect_bad(REQ(",\"n\":nan"), "invalid token");
}

static void test_bad_duplicate_keys(void **state)
{
    (void)state;
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\",\"owner\":\"A\"}",
               "duplicate object key");
    expect_bad(REQ(",\"label\":\"x\",\"label\":\"x\""), "duplicate object key");
    expect_bad(REQ(",\"ignored\":{\"a\":1,\"b\":{\"c\":1,\"c\":2}}"), "duplicate object key");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"a\",\"name\":\"b\",\"value\":\"v\"}]"),
               "duplicate object key");
    /* unknown fields that differ only in case are different keys */
    struct wd_request *req = parse_ok(REQ(",\"x\":1,\"X\":2"));
    wd_request_free(req);
}

static void test_bad_number_ranges(void **state)
{
    (void)state;
    expect_bad(REQ(",\"n\":1e400"), "real number overflow");
    expect_bad(REQ(",\"n\":-1e400"), "real number overflow");
    expect_bad(REQ(",\"n\":[9223372036854775808]"), "too big integer");
    expect_bad(REQ(",\"n\":-9223372036854775809"), "too big negative integer");
}

static void test_bad_not_an_object(void **state)
{
    (void)state;
    expect_bad("[]", "not a JSON object but an array");
    expect_bad("[" REQ("") "]", "not a JSON object but an array");
    expect_bad("\"create\"", "not a JSON object but a string");
    expect_bad("42", "not a JSON object but a number");
    expect_bad("null", "not a JSON object but null");
    expect_bad("true", "not a JSON object but true");
}

/* --- bad requests: the fields --- */

static void test_bad_missing_required(void **state)
{
    (void)state;
    expect_bad("{\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}", "required field type is missing");
    expect_bad("{\"type\":\"create\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "required field requestId is missing");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"owner\":\"A\"}",
               "required field widgetId is missing");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\"}",
               "required field owner is missing");
    expect_bad("{}", "required field type is missing");
    /* names are case-sensitive */
    expect_bad("{\"Type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "type is missing");
}

static void test_bad_required_not_string(void **state)
{
    (void)state;
    expect_bad("{\"type\":1,\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "type must be a string, not a number");
    expect_bad("{\"type\":\"create\",\"requestId\":7,\"widgetId\":\"w\",\"owner\":\"A\"}",
               "requestId must be a string, not a number");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":[\"w\"],\"owner\":\"A\"}",
               "widgetId must be a string, not an array");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":{\"n\":\"A\"}}",
               "owner must be a string, not an object");
    expect_bad("{\"type\":null,\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "type must be a string, not null");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":true,\"owner\":\"A\"}", "not true");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":2.5}", "not a number");
}

static void test_bad_type(void **state)
{
    (void)state;
    expect_bad("{\"type\":\"upsert\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "type \"upsert\" is not create, update or delete");
    expect_bad("{\"type\":\"Create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}", "\"Create\"");
    expect_bad("{\"type\":\"\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}", "type \"\" is not");
    expect_bad("{\"type\":\"create \",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "\"create \"");
}

static void test_bad_empty_request_id(void **state)
{
    (void)state;
    expect_bad("{\"type\":\"create\",\"requestId\":\"\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "requestId is empty");
}

static void test_bad_widget_id(void **state)
{
    (void)state;
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"\",\"owner\":\"A\"}",
               "widgetId is empty");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"a\\u0001b\",\"owner\":\"A\"}",
               "widgetId \"a\\x01b\" contains the control character U+0001");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"a\\tb\",\"owner\":\"A\"}", "U+0009");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"a\\nb\",\"owner\":\"A\"}", "U+000A");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"\\u001f\",\"owner\":\"A\"}",
               "U+001F");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"del\\u007f\",\"owner\":\"A\"}",
               "U+007F");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"raw\x7f\",\"owner\":\"A\"}",
               "U+007F");
}

static void test_bad_owner(void **state)
{
    (void)state;
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"a1!\"}",
               "owner \"a1!\" does not match [A-Za-z ]+");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"Mary2\"}",
               "does not match");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"\"}",
               "owner \"\" does not match");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"Mary-Ann\"}",
               "does not match");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"Mary\\tAnn\"}",
               "owner \"Mary\\x09Ann\" does not match");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"Jos\\u00e9\"}",
               "owner \"Jos\xc3\xa9\" does not match");
    expect_bad("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"a\\\"b\"}",
               "owner \"a\\\"b\" does not match");
    char *long_owner =
        repeat("{\"type\":\"create\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"", "ab", 128, "\"}");
    expect_bad(long_owner, "256 bytes, more than 255");
    free(long_owner);
}

static void test_bad_label_description_type(void **state)
{
    (void)state;
    expect_bad(REQ(",\"label\":5"), "label must be a string or null, not a number");
    expect_bad(REQ(",\"label\":true"), "label must be a string or null, not true");
    expect_bad(REQ(",\"label\":[\"x\"]"), "not an array");
    expect_bad(REQ(",\"description\":{}"), "description must be a string or null, not an object");
    expect_bad(REQ(",\"description\":false"), "not false");
}

static void test_bad_other_attributes(void **state)
{
    (void)state;
    expect_bad(REQ(",\"otherAttributes\":{}"), "otherAttributes must be an array or null, not an object");
    expect_bad(REQ(",\"otherAttributes\":\"a=b\""), "not a string");
    expect_bad(REQ(",\"otherAttributes\":0"), "not a number");
    expect_bad(REQ(",\"otherAttributes\":[\"x\"]"), "otherAttributes[0] must be an object, not a string");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"a\",\"value\":\"1\"},[]]"),
               "otherAttributes[1] must be an object");
    expect_bad(REQ(",\"otherAttributes\":[null]"), "not null");
    expect_bad(REQ(",\"otherAttributes\":[{\"value\":\"1\"}]"), "otherAttributes[0] has no name");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"\",\"value\":\"1\"}]"),
               "otherAttributes[0].name is empty");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":1,\"value\":\"1\"}]"),
               "name must be a string, not a number");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":null,\"value\":\"1\"}]"),
               "name must be a string, not null");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"w\"}]"),
               "otherAttributes[0] (name \"w\") has no value");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"w\",\"value\":null}]"),
               "value must be a string, not null");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"w\",\"value\":838}]"),
               "value must be a string, not a number");
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"w\",\"value\":[\"v\"]}]"), "not an array");
    /* the first bad entry is reported even after good ones */
    expect_bad(REQ(",\"otherAttributes\":[{\"name\":\"a\",\"value\":\"\"},{\"name\":\"a\",\"value\":1}]"),
               "otherAttributes[1] (name \"a\")");
}

static void test_messages_are_printable(void **state)
{
    (void)state;
    /* jansson quotes the input near an error: raw bytes must come out escaped */
    expect_bad(REQ(",\"n\":tru\x01"), "not strictly valid JSON");
    expect_bad(REQ(",\"n\":\xc2\x85"), "not strictly valid JSON");
    expect_bad(REQ(",\"n\":\xe2\x82"), "not strictly valid JSON");
    expect_bad("{\"type\":\"\\u0085\\u001b[31m\",\"requestId\":\"r\",\"widgetId\":\"w\",\"owner\":\"A\"}",
               "type \"\\xC2\\x85\\x1B[31m\"");
    /* long values are cut at a character boundary and marked */
    char *long_id = repeat("{\"type\":\"create\",\"requestId\":\"r\",\"owner\":\"A\",\"widgetId\":\"",
                           "\xe2\x82\xac", 200, "\"}");
    expect_bad(long_id, "...\" is 600 bytes");
    free(long_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_create),
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_null_optionals_are_absent),
        cmocka_unit_test(test_empty_strings_are_kept),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_unusual_widget_ids),
        cmocka_unit_test(test_widget_id_length_limits),
        cmocka_unit_test(test_owner_edges),
        cmocka_unit_test(test_attribute_dedup_last_value_first_place),
        cmocka_unit_test(test_attribute_entry_extra_members),
        cmocka_unit_test(test_attribute_name_limits),
        cmocka_unit_test(test_numbers_in_range_accepted),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_many_attributes_are_fast),
        cmocka_unit_test(test_body_not_nul_terminated),
        cmocka_unit_test(test_bad_json_syntax),
        cmocka_unit_test(test_bad_nul_escape),
        cmocka_unit_test(test_bad_raw_nul_byte),
        cmocka_unit_test(test_bad_surrogates),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_bad_nan_infinity),
        cmocka_unit_test(test_bad_duplicate_keys),
        cmocka_unit_test(test_bad_number_ranges),
        cmocka_unit_test(test_bad_not_an_object),
        cmocka_unit_test(test_bad_missing_required),
        cmocka_unit_test(test_bad_required_not_string),
        cmocka_unit_test(test_bad_type),
        cmocka_unit_test(test_bad_empty_request_id),
        cmocka_unit_test(test_bad_widget_id),
        cmocka_unit_test(test_bad_owner),
        cmocka_unit_test(test_bad_label_description_type),
        cmocka_unit_test(test_bad_other_attributes),
        cmocka_unit_test(test_messages_are_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
