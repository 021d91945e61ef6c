/* Widget requests: strict parsing and validation (SPEC 2), and a widget's S3 and DynamoDB forms (SPEC 3). */
#include "widget.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAME_BYTES 255 /* owner and otherAttributes names */
#define MAX_WIDGET_ID_BYTES 512
#define DDB_MAX_EXPRESSION 4096 /* "The maximum length of any expression string is 4 KB" */
/* DynamoDB also caps "operators or functions" in an UpdateExpression at 300. Counting each SET/REMOVE
 * action as one keeps us safely inside it (301 REMOVEs still fit in 4 KB); past it *fits is false too. */
#define DDB_MAX_ACTIONS 300
#define EXCERPT_BYTES 80 /* quoted user values in messages: enough to recognise, never flooding */
#define JSON_DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

static const char *const reserved_ddb_names[] = {"id", "owner", "label", "description"};

/* --- printable messages --- */

/* Length of the valid UTF-8 sequence at p (at most n bytes) and its code point, or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, c = p[0] & 0x1f, min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, c = p[0] & 0x0f, min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/*
 * Writes s[0..len) into dst (cap bytes, NUL-terminated) so that it is printable and cannot break the
 * message around it: quotes and backslashes are escaped, control characters (C0, DEL, C1) become \uXXXX
 * and bytes that are not UTF-8 \xXX. Printable non-ASCII text stays as it is, for people to read. When
 * it does not fit, it ends in "...". With quote, the result is wrapped in double quotes.
 */
static const char *printable(char *dst, size_t cap, const char *s, size_t len, bool quote)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, room = cap - 5; /* keeps space for '...', the closing quote and the NUL */
    if (quote)
        dst[o++] = '"';
    for (size_t i = 0; i < len;) {
        char unit[8];
        size_t ulen = 1, step = 1;
        uint32_t cp;
        unit[0] = (char)p[i];
        if (p[i] >= 0x80) {
            if ((step = utf8_seq(p + i, len - i, &cp)) == 0) {
                step = 1;
                ulen = (size_t)snprintf(unit, sizeof(unit), "\\x%02x", p[i]);
            } else if (cp < 0xa0) { /* C1 control */
                ulen = (size_t)snprintf(unit, sizeof(unit), "\\u%04x", (unsigned)cp);
            } else {
                ulen = step;
                memcpy(unit, p + i, step);
            }
        } else if (p[i] < 0x20 || p[i] == 0x7f) {
            ulen = (size_t)snprintf(unit, sizeof(unit), "\\u%04x", p[i]);
        } else if (quote && (p[i] == '"' || p[i] == '\\')) {
            ulen = 2;
            unit[0] = '\\', unit[1] = (char)p[i];
        }
        if (o + ulen > room) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(dst + o, unit, ulen);
        o += ulen;
        i += step;
    }
    if (quote)
        dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}

/* The quoted excerpt of a string for a message; `q` is a char[EXCERPT_BYTES] of the caller. */
#define QUOTE(q, s) printable((q), sizeof(q), (s), strlen(s), true)

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

/* --- requests --- */

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
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return wd_error_nomem(err);
        /* jansson quotes the input near the error, which may be anything: make it printable. */
        char text[2 * JSON_ERROR_TEXT_LENGTH]; /* keeps the whole message within wd_error */
        printable(text, sizeof(text), jerr.text, strnlen(jerr.text, sizeof(jerr.text)), false);
        return wd_error_set(err, WD_ERR_BAD_INPUT, 0, NULL,
                            "request is not strictly valid JSON: %s (line %d, column %d)", text, jerr.line,
                            jerr.column);
    }
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

int wd_owner_slug(const char *owner, struct wd_buf *out)
{
    size_t len = strlen(owner), start = out->len;
    if (wd_buf_reserve(out, len) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = owner[i];
        /* ASCII only on purpose: a validated owner is [A-Za-z ]+ and tolower() would follow the locale. */
        out->data[start + i] = c == ' ' ? '-' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out->len = start + len;
    out->data[out->len] = '\0';
    return 0;
}

int wd_widget_s3_key(const struct wd_request *req, struct wd_buf *out)
{
    size_t start = out->len;
    if (wd_buf_append_str(out, "widgets/") < 0 || wd_owner_slug(req->owner, out) < 0 ||
        wd_buf_append_char(out, '/') < 0 || wd_buf_append_str(out, req->widget_id) < 0) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return -1;
    }
    return 0;
}

/* --- JSON output --- */

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return wd_buf_append(data, buffer, size);
}

/* Appends the compact JSON text of j to out, which is left unchanged on failure. */
static int append_json(const json_t *j, struct wd_buf *out, struct wd_error *err)
{
    struct wd_buf tmp = {0};
    int rc = 0;
    if (j == NULL || json_dump_callback(j, dump_cb, &tmp, JSON_DUMP_FLAGS) < 0 ||
        wd_buf_append(out, tmp.data, tmp.len) < 0)
        rc = wd_error_nomem(err);
    wd_buf_free(&tmp);
    return rc;
}

/* Sets obj[key] = new string value; false when out of memory (json_object_set_new takes NULL as failure). */
static bool set_string(json_t *obj, const char *key, const char *value)
{
    return json_object_set_new(obj, key, json_string(value)) == 0;
}

/* --- S3 store --- */

/*
 * A widget as the S3 store keeps it. Strings are borrowed (from the request or the parsed stored body);
 * attrs keep their order, a removed one is a NULL value left in place, and `index` (name -> position)
 * finds a name without a scan.
 */
struct s3_widget {
    const char *widget_id, *owner, *label, *description;
    struct s3_attr {
        const char *name, *value;
    } * attrs;
    size_t n, cap;
    json_t *index;
};

static void s3_widget_clear(struct s3_widget *w)
{
    free(w->attrs);
    json_decref(w->index);
}

/* Sets (value non-empty) or removes (value "") one attribute: a known name keeps its place. -1: OOM. */
static int s3_widget_apply_attr(struct s3_widget *w, const char *name, const char *value)
{
    if (w->index == NULL && (w->index = json_object()) == NULL)
        return -1;
    json_t *pos = json_object_get(w->index, name);
    if (pos != NULL) {
        size_t i = (size_t)json_integer_value(pos);
        if (value[0] != '\0') {
            w->attrs[i].value = value;
        } else {
            w->attrs[i].value = NULL;
            json_object_del(w->index, name); /* so that a later set goes last, as a new attribute */
        }
        return 0;
    }
    if (value[0] == '\0')
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 8;
        struct s3_attr *p = realloc(w->attrs, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        w->attrs = p;
        w->cap = cap;
    }
    if (json_object_set_new(w->index, name, json_integer((json_int_t)w->n)) < 0)
        return -1;
    w->attrs[w->n++] = (struct s3_attr){name, value};
    return 0;
}

/* label/description of an update: NULL keeps the current value, "" removes it, anything else sets it. */
static const char *updated_field(const char *current, const char *update)
{
    if (update == NULL)
        return current;
    return update[0] != '\0' ? update : NULL;
}

static int s3_widget_render(const struct s3_widget *w, struct wd_buf *out, struct wd_error *err)
{
    json_t *o = json_object(), *arr = NULL;
    int rc = -1;
    if (o == NULL || !set_string(o, "widgetId", w->widget_id) || !set_string(o, "owner", w->owner))
        goto nomem;
    if (w->label != NULL && w->label[0] != '\0' && !set_string(o, "label", w->label))
        goto nomem;
    if (w->description != NULL && w->description[0] != '\0' && !set_string(o, "description", w->description))
        goto nomem;
    for (size_t i = 0; i < w->n; i++) {
        if (w->attrs[i].value == NULL || w->attrs[i].value[0] == '\0')
            continue;
        if (arr == NULL && ((arr = json_array()) == NULL || json_object_set(o, "otherAttributes", arr) < 0))
            goto nomem;
        if (json_array_append_new(
                arr, json_pack("{s:s,s:s}", "name", w->attrs[i].name, "value", w->attrs[i].value)) < 0)
            goto nomem;
    }
    rc = append_json(o, out, err);
    goto out;
nomem:
    rc = wd_error_nomem(err);
out:
    json_decref(arr);
    json_decref(o);
    return rc;
}

int wd_widget_s3_create(const struct wd_request *req, struct wd_buf *out, struct wd_error *err)
{
    struct s3_widget w = {.widget_id = req->widget_id,
                          .owner = req->owner,
                          .label = req->label,
                          .description = req->description};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < req->n_attrs; i++)
        if (s3_widget_apply_attr(&w, req->attrs[i].name, req->attrs[i].value) < 0)
            rc = wd_error_nomem(err);
    if (rc == 0)
        rc = s3_widget_render(&w, out, err);
    s3_widget_clear(&w);
    return rc;
}

/* Reads a stored body into w (borrowing from root). 1 when it is not a widget, -1 on OOM. */
static int s3_widget_load(json_t *root, struct s3_widget *w)
{
    json_t *id = json_object_get(root, "widgetId"), *owner = json_object_get(root, "owner");
    json_t *label = json_object_get(root, "label"), *desc = json_object_get(root, "description");
    json_t *attrs = json_object_get(root, "otherAttributes");
    /* null counts as absent, as in a request */
    if (!json_is_string(id) || !json_is_string(owner) ||
        (label != NULL && !json_is_string(label) && !json_is_null(label)) ||
        (desc != NULL && !json_is_string(desc) && !json_is_null(desc)) ||
        (attrs != NULL && !json_is_array(attrs) && !json_is_null(attrs)))
        return 1;
    w->widget_id = json_string_value(id);
    w->owner = json_string_value(owner);
    w->label = json_string_value(label); /* NULL when absent */
    w->description = json_string_value(desc);
    size_t i;
    json_t *e;
    json_array_foreach(attrs, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *value = json_string_value(json_object_get(e, "value"));
        if (name == NULL || value == NULL)
            return 1;
        if (s3_widget_apply_attr(w, name, value) < 0)
            return -1;
    }
    return 0;
}

int wd_widget_s3_update(const char *stored, size_t len, const struct wd_request *req, struct wd_buf *out,
                        struct wd_error *err)
{
    json_error_t jerr;
    struct s3_widget w = {0};
    int rc = -1;
    json_t *root = json_loadb(stored != NULL ? stored : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return wd_error_nomem(err);
        char text[2 * JSON_ERROR_TEXT_LENGTH]; /* keeps the whole message within wd_error */
        printable(text, sizeof(text), jerr.text, strnlen(jerr.text, sizeof(jerr.text)), false);
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                            "stored widget is not JSON: %s (line %d, column %d)", text, jerr.line,
                            jerr.column);
    }
    int loaded = json_is_object(root) ? s3_widget_load(root, &w) : 1;
    if (loaded < 0) {
        wd_error_nomem(err);
        goto out;
    }
    if (loaded > 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "stored widget is not a widget object");
        goto out;
    }
    /* widgetId and owner stay the stored ones: an update never moves or renames a widget. */
    w.label = updated_field(w.label, req->label);
    w.description = updated_field(w.description, req->description);
    for (size_t i = 0; i < req->n_attrs; i++)
        if (s3_widget_apply_attr(&w, req->attrs[i].name, req->attrs[i].value) < 0) {
            wd_error_nomem(err);
            goto out;
        }
    rc = s3_widget_render(&w, out, err);
out:
    s3_widget_clear(&w);
    json_decref(root);
    return rc;
}

/* --- DynamoDB store --- */

bool wd_ddb_attr_is_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved_ddb_names) / sizeof(reserved_ddb_names[0]); i++)
        if (strcmp(name, reserved_ddb_names[i]) == 0)
            return true;
    return false;
}

/* Reports reserved names whether they set or remove: either way the request asked for something that
 * will not happen, which is worth a warning. */
void wd_ddb_foreach_ignored(const struct wd_request *req, void (*fn)(const char *name, void *ctx), void *ctx)
{
    for (size_t i = 0; i < req->n_attrs; i++)
        if (wd_ddb_attr_is_reserved(req->attrs[i].name))
            fn(req->attrs[i].name, ctx);
}

/* {"S": s} */
static json_t *ddb_string(const char *s)
{
    return json_pack("{s:s}", "S", s);
}

static bool ddb_set(json_t *item, const char *name, const char *value)
{
    return json_object_set_new(item, name, ddb_string(value)) == 0;
}

/* {"TableName": table, member: value} with value stolen; NULL when out of memory. */
static json_t *ddb_body(const char *table, const char *member, json_t *value)
{
    json_t *body = json_pack("{s:s}", "TableName", table);
    if (body == NULL) {
        json_decref(value);
        return NULL;
    }
    if (json_object_set_new(body, member, value) < 0) { /* which releases value too */
        json_decref(body);
        return NULL;
    }
    return body;
}

int wd_ddb_put_item_body(const struct wd_request *req, const char *table, struct wd_buf *out,
                         struct wd_error *err)
{
    json_t *item = json_object();
    if (item == NULL || !ddb_set(item, "id", req->widget_id) || !ddb_set(item, "owner", req->owner) ||
        (req->label != NULL && req->label[0] != '\0' && !ddb_set(item, "label", req->label)) ||
        (req->description != NULL && req->description[0] != '\0' &&
         !ddb_set(item, "description", req->description))) {
        json_decref(item);
        return wd_error_nomem(err);
    }
    for (size_t i = 0; i < req->n_attrs; i++) {
        const struct wd_attr *a = &req->attrs[i];
        if (a->value[0] == '\0' || wd_ddb_attr_is_reserved(a->name))
            continue;
        if (!ddb_set(item, a->name, a->value)) {
            json_decref(item);
            return wd_error_nomem(err);
        }
    }
    json_t *body = ddb_body(table, "Item", item);
    int rc = append_json(body, out, err);
    json_decref(body);
    return rc;
}

static json_t *ddb_key(const char *widget_id)
{
    return json_pack("{s:{s:s}}", "id", "S", widget_id);
}

/*
 * One change to a top-level attribute: value NULL removes it. After the request's dedup and with the
 * reserved names skipped, every name here is distinct (label and description come only from the
 * request's fields), so no attribute path appears twice in the expression, which DynamoDB rejects.
 */
struct ddb_change {
    const char *name, *value;
};

/* The changes an update makes, SETs first: label, description, then attributes in request order. */
static size_t ddb_changes(const struct wd_request *req, struct ddb_change *ch)
{
    size_t n = 0;
    for (int set = 1; set >= 0; set--) {
        if (req->label != NULL && (req->label[0] != '\0') == set)
            ch[n++] = (struct ddb_change){"label", set ? req->label : NULL};
        if (req->description != NULL && (req->description[0] != '\0') == set)
            ch[n++] = (struct ddb_change){"description", set ? req->description : NULL};
        for (size_t i = 0; i < req->n_attrs; i++) {
            const struct wd_attr *a = &req->attrs[i];
            if (!wd_ddb_attr_is_reserved(a->name) && (a->value[0] != '\0') == set)
                ch[n++] = (struct ddb_change){a->name, set ? a->value : NULL};
        }
    }
    return n;
}

int wd_ddb_update_item_body(const struct wd_request *req, const char *table, struct wd_buf *out, bool *fits,
                            bool *noop, struct wd_error *err)
{
    struct ddb_change *ch = calloc(req->n_attrs + 2, sizeof(*ch));
    struct wd_buf expr = {0};
    json_t *names = NULL, *values = NULL, *body = NULL;
    int rc = -1;
    if (ch == NULL)
        return wd_error_nomem(err);
    size_t n = ddb_changes(req, ch), n_set = 0;
    while (n_set < n && ch[n_set].value != NULL)
        n_set++;
    if (n == 0) {
        *fits = true;
        *noop = true;
        free(ch);
        return 0;
    }

    /* Every name is a placeholder: attribute names may be reserved words (size, name, status) or hold
     * characters that the expression grammar reads as operators (a.b, height-cm). */
    if ((names = json_pack("{s:s}", "#id", "id")) == NULL || (n_set > 0 && (values = json_object()) == NULL))
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        char ph[32];
        bool first_remove = i == n_set;
        snprintf(ph, sizeof(ph), "#n%zu", i);
        if (!set_string(names, ph, ch[i].name))
            goto nomem;
        if (i < n_set) {
            char vph[32];
            snprintf(vph, sizeof(vph), ":v%zu", i);
            if (json_object_set_new(values, vph, ddb_string(ch[i].value)) < 0 ||
                wd_buf_printf(&expr, "%s%s = %s", i == 0 ? "SET " : ", ", ph, vph) < 0)
                goto nomem;
        } else if (wd_buf_printf(&expr, "%s%s", first_remove ? (i == 0 ? "REMOVE " : " REMOVE ") : ", ", ph) <
                   0) {
            goto nomem;
        }
    }
    if (expr.len > DDB_MAX_EXPRESSION || n > DDB_MAX_ACTIONS) {
        *fits = false;
        *noop = false;
        rc = 0;
        goto out;
    }
    if ((body = ddb_body(table, "Key", ddb_key(req->widget_id))) == NULL ||
        !set_string(body, "UpdateExpression", expr.data) ||
        !set_string(body, "ConditionExpression", "attribute_exists(#id)") ||
        json_object_set(body, "ExpressionAttributeNames", names) < 0 ||
        (values != NULL && json_object_set(body, "ExpressionAttributeValues", values) < 0))
        goto nomem;
    if (append_json(body, out, err) < 0)
        goto out;
    *fits = true;
    *noop = false;
    rc = 0;
    goto out;
nomem:
    rc = wd_error_nomem(err);
out:
    json_decref(body);
    json_decref(values);
    json_decref(names);
    wd_buf_free(&expr);
    free(ch);
    return rc;
}

int wd_ddb_merge_item_body(const char *getitem_response, size_t len, const struct wd_request *req,
                           const char *table, struct wd_buf *out, bool *found, struct wd_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(getitem_response != NULL ? getitem_response : "", len, 0, &jerr), *body = NULL;
    int rc = -1;
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return wd_error_nomem(err);
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL,
                            "GetItem response is not JSON (line %d, column %d)", jerr.line, jerr.column);
    }
    json_t *item = json_is_object(root) ? json_object_get(root, "Item") : NULL;
    if (!json_is_object(root) || (item != NULL && !json_is_object(item))) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "GetItem response is not an object with an Item object");
        goto out;
    }
    if (item == NULL) {
        *found = false;
        rc = 0;
        goto out;
    }
    /* The same changes as the UpdateItem expression, applied to the stored item; other members, even of
     * types this program never writes, stay as they are. */
    struct ddb_change *ch = calloc(req->n_attrs + 2, sizeof(*ch));
    if (ch == NULL)
        goto nomem;
    size_t n = ddb_changes(req, ch);
    for (size_t i = 0; i < n; i++) {
        if (ch[i].value == NULL) {
            json_object_del(item, ch[i].name);
        } else if (!ddb_set(item, ch[i].name, ch[i].value)) {
            free(ch);
            goto nomem;
        }
    }
    free(ch);
    if ((body = ddb_body(table, "Item", json_incref(item))) == NULL)
        goto nomem;
    if (append_json(body, out, err) < 0)
        goto out;
    *found = true;
    rc = 0;
    goto out;
nomem:
    rc = wd_error_nomem(err);
out:
    json_decref(body);
    json_decref(root);
    return rc;
}

int wd_ddb_key_body(const char *table, const char *widget_id, const char *extra, struct wd_buf *out,
                    struct wd_error *err)
{
    json_t *body = ddb_body(table, "Key", ddb_key(widget_id)), *more = NULL;
    int rc = -1;
    if (body == NULL)
        return wd_error_nomem(err);
    if (extra != NULL && extra[0] != '\0') {
        /* The fragment comes from our own code; parsing it still beats pasting text into JSON. */
        struct wd_buf frag = {0};
        json_error_t jerr;
        if (wd_buf_printf(&frag, "{%s}", extra) < 0) {
            wd_error_nomem(err);
            goto out;
        }
        more = json_loadb(frag.data, frag.len, JSON_REJECT_DUPLICATES, &jerr);
        wd_buf_free(&frag);
        if (more == NULL) {
            wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "bad extra members for a DynamoDB key body: %s",
                         jerr.text);
            goto out;
        }
        if (json_object_update(body, more) < 0) {
            wd_error_nomem(err);
            goto out;
        }
    }
    rc = append_json(body, out, err);
out:
    json_decref(more);
    json_decref(body);
    return rc;
}
