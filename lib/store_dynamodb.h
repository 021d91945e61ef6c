/*
 * The DynamoDB widget store (SPEC section 3, "DynamoDB store representation"): one item per widget,
 * hash key id (S). Its operations, and the pure functions that build the request bodies.
 */
#ifndef WD_STORE_DYNAMODB_H
#define WD_STORE_DYNAMODB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * Fencing (SPEC 9, store.h): the fence item that guards a widget's writes, one of WD_FENCE_SHARDS. The
 * shard is FNV-1a (32 bits: offset basis 2166136261, prime 16777619) over the bytes of the widget ID as
 * stored (UTF-8), modulo WD_FENCE_SHARDS, the same in every instance and version (pinned by the FNV test
 * vectors in test_store_dynamodb.c). Safety does not depend on it, since every acquisition raises every
 * shard; spreading does: transactions that check one item at once conflict (TransactionConflict), so
 * concurrent writes of different widgets should rarely meet on one fence item.
 */
uint32_t wd_store_ddb_fence_shard(const char *widget_id);

/*
 * TransactWriteItems body for one fenced write: first a ConditionCheck "leadership = :n" (n =
 * fence->leadership, read now) on the fence item "<fence->lease_key>#fence-<shard>" of fence->table, then
 * the widget's own write, action "Put", "Update" or "Delete", whose members are those of write_body (a
 * PutItem, UpdateItem or key-only DeleteItem body from the functions above, without ReturnValues: a
 * transaction's writes return nothing). With must_exist, the write also carries ConditionExpression
 * attribute_exists(#id) (unless it has a condition already), so that a missing widget cancels the
 * transaction instead of being created or ignored: its cancellation reason tells it apart from a failed
 * fence. The widget item itself is exactly SPEC 3's: nothing of the fence goes into it.
 */
int wd_store_ddb_fenced_body(const struct wd_fence *fence, const char *widget_id, const char *action,
                             const char *write_body, size_t len, bool must_exist, struct wd_buf *out,
                             struct wd_error *err);

/* The cancellation reasons of a fenced write's two items: fence first, then the widget's. */
struct wd_store_ddb_cancel {
    char fence[64], widget[64]; /* reason codes as sent ("None" where an item had none), cut to fit */
    char widget_message[256];   /* the widget item's reason message, escaped (WD_ESCAPE_REASON), or "" */
};

/*
 * Reads the reasons of a TransactionCanceledException from its body: CancellationReasons when present
 * (the JSON protocol sends them), else the list AWS writes at the end of the message ("... specific
 * reasons [ConditionalCheckFailed, None]"), which older documentation calls the only one outside Java.
 * False (out zeroed) when neither names exactly two reasons. body may be NULL.
 */
bool wd_store_ddb_cancel_reasons(const char *body, size_t len, struct wd_store_ddb_cancel *out);

#endif
