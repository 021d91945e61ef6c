/*
 * Widget requests (SPEC section 2) and the two store representations of a widget (SPEC section 3):
 * parsing and validation, the S3 JSON object, and the DynamoDB request bodies. Pure: no I/O.
 */
#ifndef WD_WIDGET_H
#define WD_WIDGET_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

#define WD_REQUEST_MAX_BYTES (256 * 1024)

enum wd_request_type { WD_REQ_CREATE, WD_REQ_UPDATE, WD_REQ_DELETE };

struct wd_attr {
    char *name;  /* 1..255 bytes */
    char *value; /* "" means "remove" in an update and "absent" in a create */
};

/* A validated request. Owns every string. */
struct wd_request {
    enum wd_request_type type;
    char *request_id;
    char *widget_id;
    char *owner;
    char *label;           /* NULL: absent or null; "" : empty */
    char *description;     /* likewise */
    struct wd_attr *attrs; /* otherAttributes with duplicate names merged: last value, first place */
    size_t n_attrs;
};

/*
 * Parses and validates one request body (len bytes, need not be NUL-terminated). Strict JSON: invalid
 * UTF-8, a lone surrogate, \u0000, NaN/Infinity, duplicate keys, integers outside int64, doubles that
 * overflow, nesting over 2048 are all bad requests, anywhere in the document. On failure returns -1
 * with err->cls == WD_ERR_BAD_INPUT and a message naming the broken rule (or WD_ERR_NOMEM).
 */
int wd_request_parse(const char *body, size_t len, struct wd_request **out, struct wd_error *err);
void wd_request_free(struct wd_request *req);

const char *wd_request_type_name(enum wd_request_type t); /* "create", "update", "delete" */

/* Appends the owner slug ("Mary Matthews" -> "mary-matthews"). Returns 0 or -1 (OOM). */
int wd_owner_slug(const char *owner, struct wd_buf *out);

/* The S3 store's object key of the request's widget: "widgets/<owner-slug>/<widgetId>" (raw, unencoded). */
int wd_widget_s3_key(const struct wd_request *req, struct wd_buf *out);

/* --- S3 store representation (SPEC 3, "S3 store representation") --- */

/* The object body a create stores. Returns 0, or -1 with err. */
int wd_widget_s3_create(const struct wd_request *req, struct wd_buf *out, struct wd_error *err);

/*
 * The object body after applying an update to the stored body (stored[0..len)). A stored body that is
 * not a widget JSON object is WD_ERR_INTERNAL (the store was changed behind our back).
 */
int wd_widget_s3_update(const char *stored, size_t len, const struct wd_request *req, struct wd_buf *out,
                        struct wd_error *err);

/* --- DynamoDB store representation (SPEC 3, "DynamoDB store representation") --- */

/* True for otherAttributes names that DynamoDB ignores (id, owner, label, description). */
bool wd_ddb_attr_is_reserved(const char *name);

/* Calls fn(name, ctx) for each otherAttributes entry of req that is ignored on the DynamoDB store. */
void wd_ddb_foreach_ignored(const struct wd_request *req, void (*fn)(const char *name, void *ctx), void *ctx);

/* PutItem request body (JSON) for a create into `table`. */
int wd_ddb_put_item_body(const struct wd_request *req, const char *table, struct wd_buf *out,
                         struct wd_error *err);

/*
 * UpdateItem request body for an update: one SET/REMOVE expression with #n/:v placeholders (so any
 * attribute name works: size, name, status, a.b, height-cm) and ConditionExpression
 * attribute_exists(id), so a missing widget fails with ConditionalCheckFailedException instead of being
 * created. Sets *fits = false (and writes nothing) when an expression would exceed DynamoDB's 4 KB
 * limit; the caller then falls back to wd_ddb_merge_item_body(). When the update changes nothing
 * (no fields, no usable attributes) sets *noop = true and writes nothing: the caller only checks that
 * the widget exists.
 */
int wd_ddb_update_item_body(const struct wd_request *req, const char *table, struct wd_buf *out, bool *fits,
                            bool *noop, struct wd_error *err);

/*
 * Read-modify-write fallback: given the GetItem response body (JSON with "Item"), the PutItem body of
 * the updated item. Sets *found = false when the response has no Item.
 */
int wd_ddb_merge_item_body(const char *getitem_response, size_t len, const struct wd_request *req,
                           const char *table, struct wd_buf *out, bool *found, struct wd_error *err);

/* Key-only bodies: {"TableName":..., "Key":{"id":{"S":...}}} plus extra members given as a JSON
 * fragment (e.g. "\"ReturnValues\":\"ALL_OLD\""), or NULL. */
int wd_ddb_key_body(const char *table, const char *widget_id, const char *extra, struct wd_buf *out,
                    struct wd_error *err);

#endif
