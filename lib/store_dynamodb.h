/*
 * The DynamoDB widget store (SPEC section 3, "DynamoDB store representation"): one item per widget,
 * hash key id (S). Its operations, and the pure functions that build the request bodies.
 */
#ifndef WD_STORE_DYNAMODB_H
#define WD_STORE_DYNAMODB_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "request.h"
#include "store.h"

extern const struct wd_store_ops wd_store_ddb_ops;

/* True for otherAttributes names that the item cannot hold apart from the fields (id, owner, label,
 * description): they are left out, with a warning. */
bool wd_store_ddb_reserved(const char *name);

/* The otherAttributes names of req that are left out (borrowed from req), in request order; returns
 * how many (at most WD_STORE_MAX_IGNORED: attributes are merged by name). */
size_t wd_store_ddb_ignored(const struct wd_request *req, const char *names[WD_STORE_MAX_IGNORED]);

/* PutItem request body (JSON) for a create into `table`. */
int wd_store_ddb_put_item_body(const struct wd_request *req, const char *table, struct wd_buf *out,
                               struct wd_error *err);

/*
 * UpdateItem request body for an update: one SET/REMOVE expression with #n/:v placeholders (so any
 * attribute name works: size, name, status, a.b, height-cm) and ConditionExpression
 * attribute_exists(id), so a missing widget fails with ConditionalCheckFailedException instead of being
 * created. Sets *fits = false (and writes nothing) when an expression would exceed DynamoDB's 4 KB
 * limit; the caller then falls back to wd_store_ddb_merge_item_body(). When the update changes nothing
 * (no fields, no usable attributes) sets *noop = true and writes nothing: the caller only checks that
 * the widget exists.
 */
int wd_store_ddb_update_item_body(const struct wd_request *req, const char *table, struct wd_buf *out,
                                  bool *fits, bool *noop, struct wd_error *err);

/*
 * Read-modify-write fallback: given the GetItem response body (JSON with "Item"), the PutItem body of
 * the updated item. Sets *found = false when the response has no Item.
 */
int wd_store_ddb_merge_item_body(const char *getitem_response, size_t len, const struct wd_request *req,
                                 const char *table, struct wd_buf *out, bool *found, struct wd_error *err);

/* Key-only bodies: {"TableName":..., "Key":{"id":{"S":...}}} plus extra members given as a JSON
 * fragment (e.g. "\"ReturnValues\":\"ALL_OLD\""), or NULL. */
int wd_store_ddb_key_body(const char *table, const char *widget_id, const char *extra, struct wd_buf *out,
                          struct wd_error *err);

#endif
