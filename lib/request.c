/* Widget requests (SPEC section 2): strict JSON parsing and the validation of every field. */
#include "request.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "escape.h"
#include "json.h"

#define MAX_NAME_BYTES 255 /* owner and otherAttributes names */
#define MAX_WIDGET_ID_BYTES 512
#define EXCERPT_BYTES 80 /* quoted user values in messages: enough to recognise, never flooding */

/* The quoted, escaped excerpt of a user value for a message; `q` is a char[EXCERPT_BYTES] of the caller. */
#define QUOTE(q, s) wd_escape_quoted((q), sizeof(q), (s), strlen(s))

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

void wd_request_free(struct wd_request *req)
{
    if (req == NULL)
        return;
    free(req->request_id);
    free(req->widget_id);
    free(req->owner);
    free(req->label);
    free(req->description);
    for (size_t i = 0; i < req->n_attrs; i++) {
        free(req->attrs[i].name);
        free(req->attrs[i].value);
    }
    free(req->attrs);
    free(req);
}

const char *wd_request_type_name(enum wd_request_type t)
{
    switch (t) {
    case WD_REQ_CREATE:
        return "create";
    case WD_REQ_UPDATE:
        return "update";
    case WD_REQ_DELETE:
        return "delete";
    }
    return "unknown";
}

/* Returns the required string member `key` of root, or NULL with err set. */
static const char *required_string(json_t *root, const char *key, struct wd_error *err)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL)
        wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "required field %s is missing", key);
    else if (!json_is_string(v))
        wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "field %s must be a string, not %s", key, json_kind(v));
    else
        return json_string_value(v);
    return NULL;
}

/* Reads the optional string member `key` (null = absent) into *dst (owned). 0, or -1 with err. */
static int optional_string(json_t *root, const char *key, char **dst, struct wd_error *err)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "field %s must be a string or null, not %s", key,
                            json_kind(v));
    if ((*dst = strdup(json_string_value(v))) == NULL)
        return wd_error_nomem(err);
    return 0;
}

static int check_widget_id(const char *id, struct wd_error *err)
{
    char q[EXCERPT_BYTES];
    size_t len = strlen(id); /* jansson rejects \u0000, so a string's length is its strlen */
    if (len == 0)
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "widgetId is empty");
    if (len > MAX_WIDGET_ID_BYTES)
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "widgetId %s is %zu bytes, more than %d",
                            QUOTE(q, id), len, MAX_WIDGET_ID_BYTES);
    /* UTF-8 continuation and lead bytes are >= 0x80, so a byte scan finds exactly U+0000-U+001F, U+007F. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7f)
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                                "widgetId %s contains the control character U+%04X", QUOTE(q, id), c);
    }
    return 0;
}

static int check_owner(const char *owner, struct wd_error *err)
{
    char q[EXCERPT_BYTES];
    size_t len = strlen(owner);
    bool ok = len > 0;
    for (size_t i = 0; ok && i < len; i++) {
        char c = owner[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' ';
    }
    if (!ok)
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "owner %s does not match [A-Za-z ]+",
                            QUOTE(q, owner));
    if (len > MAX_NAME_BYTES)
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "owner %s is %zu bytes, more than %d",
                            QUOTE(q, owner), len, MAX_NAME_BYTES);
    return 0;
}

/*
 * Validates otherAttributes and stores them in req with duplicate names merged (the last value, in the
 * place of the first). A jansson object maps each name to its index so that a request of many thousands
 * of attributes is not quadratic.
 */
static int parse_attrs(json_t *arr, struct wd_request *req, struct wd_error *err)
{
    char q[EXCERPT_BYTES];
    if (json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                            "otherAttributes must be an array or null, not %s", json_kind(arr));
    size_t n = json_array_size(arr);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_object(e))
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                                "otherAttributes[%zu] must be an object, not %s", i, json_kind(e));
        json_t *name = json_object_get(e, "name"), *value = json_object_get(e, "value");
        if (name == NULL)
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "otherAttributes[%zu] has no name", i);
        if (!json_is_string(name))
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                                "otherAttributes[%zu].name must be a string, not %s", i, json_kind(name));
        size_t nlen = json_string_length(name);
        if (nlen == 0)
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "otherAttributes[%zu].name is empty", i);
        if (nlen > MAX_NAME_BYTES)
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                                "otherAttributes[%zu].name %s is %zu bytes, more than %d", i,
                                QUOTE(q, json_string_value(name)), nlen, MAX_NAME_BYTES);
        if (value == NULL)
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "otherAttributes[%zu] (name %s) has no value",
                                i, QUOTE(q, json_string_value(name)));
        if (!json_is_string(value))
            return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                                "otherAttributes[%zu] (name %s) value must be a string, not %s", i,
                                QUOTE(q, json_string_value(name)), json_kind(value));
    }
    if (n == 0)
        return 0;

    int rc = -1;
    json_t *index = json_object();
    if (index == NULL || (req->attrs = calloc(n, sizeof(*req->attrs))) == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        char *value = strdup(json_string_value(json_object_get(e, "value")));
        if (value == NULL)
            goto nomem;
        json_t *seen = json_object_get(index, name);
        if (seen != NULL) {
            struct wd_attr *a = &req->attrs[json_integer_value(seen)];
            free(a->value);
            a->value = value;
            continue;
        }
        struct wd_attr *a = &req->attrs[req->n_attrs];
        if ((a->name = strdup(name)) == NULL ||
            json_object_set_new(index, name, json_integer((json_int_t)req->n_attrs)) < 0) {
            free(a->name);
            a->name = NULL;
            free(value);
            goto nomem;
        }
        a->value = value;
        req->n_attrs++;
    }
    rc = 0;
    goto out;
nomem:
    rc = wd_error_nomem(err);
out:
    json_decref(index);
    return rc;
}

static int validate(json_t *root, struct wd_request *req, struct wd_error *err)
{
    char q[EXCERPT_BYTES];
    static const char *const required[] = {"type", "requestId", "widgetId", "owner"};
    const char *val[4];
    /* All four are checked for presence first, in this order, as the oracle does. */
    for (size_t i = 0; i < 4; i++)
        if ((val[i] = required_string(root, required[i], err)) == NULL)
            return -1;

    if (strcmp(val[0], "create") == 0)
        req->type = WD_REQ_CREATE;
    else if (strcmp(val[0], "update") == 0)
        req->type = WD_REQ_UPDATE;
    else if (strcmp(val[0], "delete") == 0)
        req->type = WD_REQ_DELETE;
    else
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "type %s is not create, update or delete",
                            QUOTE(q, val[0]));
    if (val[1][0] == '\0')
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "requestId is empty");
    if (check_widget_id(val[2], err) < 0 || check_owner(val[3], err) < 0)
        return -1;
    if ((req->request_id = strdup(val[1])) == NULL || (req->widget_id = strdup(val[2])) == NULL ||
        (req->owner = strdup(val[3])) == NULL)
        return wd_error_nomem(err);
    if (optional_string(root, "label", &req->label, err) < 0 ||
        optional_string(root, "description", &req->description, err) < 0)
        return -1;
    json_t *attrs = json_object_get(root, "otherAttributes");
    return attrs == NULL ? 0 : parse_attrs(attrs, req, err);
}

int wd_request_parse(const char *body, size_t len, struct wd_request **out, struct wd_error *err)
{
    if (len > WD_REQUEST_MAX_BYTES)
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "request is %zu bytes, more than the limit of %d",
                            len, WD_REQUEST_MAX_BYTES);
    /*
     * jansson's strict decoding is the whole of SPEC 2's "strictly valid JSON": it rejects invalid UTF-8,
     * lone surrogates, \u0000, NaN/Infinity, integers outside int64, doubles that overflow and nesting over
     * JSON_PARSER_MAX_DEPTH (2048) on its own; JSON_REJECT_DUPLICATES adds duplicate keys at any depth.
     * JSON_DECODE_ANY lets "not an object" be reported as that rather than as a syntax error.
     * One gap: jansson 2.14 skips a raw NUL byte that follows a number or true/false/null ({"a":1<NUL>}
     * loads), because its lexer takes a NUL in its one-character pushback buffer for "empty". A raw NUL
     * is never valid JSON (inside strings it must be escaped), so refuse it before jansson sees it.
     */
    const char *nul = len > 0 ? memchr(body, '\0', len) : NULL;
    if (nul != NULL)
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                            "request is not strictly valid JSON: a raw NUL byte at offset %zu",
                            (size_t)(nul - body));
    json_error_t jerr;
    json_t *root = json_loadb(body != NULL ? body : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (root == NULL)
        return wd_json_load_error(err, WD_ERR_BAD_INPUT, "request is not strictly valid JSON", &jerr);
    int rc = -1;
    struct wd_request *req = NULL;
    if (!json_is_object(root)) {
        wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL, "request is not a JSON object but %s", json_kind(root));
        goto out;
    }
    if ((req = calloc(1, sizeof(*req))) == NULL) {
        wd_error_nomem(err);
        goto out;
    }
    if (validate(root, req, err) < 0)
        goto out;
    *out = req;
    req = NULL;
    rc = 0;
out:
    wd_request_free(req);
    json_decref(root);
    return rc;
}
