/* The lease's DynamoDB calls (lease_ddb.h): the JSON bodies, the lease item read back and checked, and each
 * answer mapped onto an outcome of the state machine. */
#include "lease_ddb.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dynamodb.h"
#include "escape.h"
#include "json.h"
#include "lease_ddb_internal.h"

#define KEY_MAX 1024         /* the lease key; DynamoDB allows 2048 bytes, the fence keys add a suffix */
#define LEADERSHIP_DIGITS 18 /* below 2^63: the machine adds one without overflow */

static const char *op_name(enum wd_lease_op op)
{
    switch (op) {
    case WD_LEASE_OP_READ:
        return "read";
    case WD_LEASE_OP_ACQUIRE:
        return "acquisition";
    case WD_LEASE_OP_RENEW:
        return "renewal";
    case WD_LEASE_OP_RELEASE:
        return "release";
    default:
        return "call";
    }
}

/* {"S": s} */
static json_t *str_value(const char *s)
{
    return json_pack("{s:s}", "S", s);
}

static json_t *num_value(uint64_t n)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRIu64, n);
    return json_pack("{s:s}", "N", text);
}

/* The wall-clock time for the item's "updated": for people reading the table, never for a decision. */
static void wall_clock(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "unknown");
}

static json_t *key_of(const char *key)
{
    return json_pack("{s:{s:s}}", "key", "S", key);
}

static int body_text(json_t *body, struct wd_buf *out, struct wd_error *err)
{
    int rc = wd_json_append(body, out, err); /* body NULL (out of memory while packing) fails here */
    json_decref(body);
    return rc;
}

static int read_body(const struct wd_fence *fence, struct wd_buf *out, struct wd_error *err)
{
    return body_text(json_pack("{s:s, s:o, s:b}", "TableName", fence->table, "Key", key_of(fence->lease_key),
                               "ConsistentRead", 1),
                     out, err);
}

/* RENEW and RELEASE: one UpdateItem on condition that this owner's rvn is still there. */
static int update_body(const struct wd_fence *fence, const char *name, const struct wd_lease_call *call,
                       struct wd_buf *out, struct wd_error *err)
{
    char now[32];
    wall_clock(now);
    bool release = call->op == WD_LEASE_OP_RELEASE;
    json_t *names = json_pack("{s:s, s:s, s:s}", "#r", "rvn", "#u", "updated", "#o", "owner");
    json_t *values = json_pack("{s:o, s:o, s:o, s:o}", ":new", str_value(call->new_rvn), ":now",
                               str_value(now), ":old", str_value(call->expect.rvn), ":me", str_value(name));
    if (release && names != NULL && values != NULL &&
        (json_object_set_new(names, "#rel", json_string("released")) < 0 ||
         json_object_set_new(values, ":true", json_pack("{s:b}", "BOOL", 1)) < 0)) {
        json_decref(names);
        json_decref(values);
        return wd_error_nomem(err);
    }
    return body_text(
        json_pack("{s:s, s:o, s:s, s:s, s:o, s:o}", "TableName", fence->table, "Key",
                  key_of(fence->lease_key), "UpdateExpression",
                  release ? "SET #rel = :true, #r = :new, #u = :now" : "SET #r = :new, #u = :now",
                  "ConditionExpression", "#r = :old AND #o = :me", "ExpressionAttributeNames", names,
                  "ExpressionAttributeValues", values),
        out, err);
}

/*
 * ACQUIRE: one transaction that writes the lease item on condition that it is still as read (or absent),
 * and raises each fence item to the new leadership on condition that it is lower (or absent), so that
 * store writes of an older leadership fail from the moment this one exists.
 */
static int acquire_body(const struct wd_fence *fence, const char *name, const struct wd_lease_call *call,
                        struct wd_buf *out, struct wd_error *err)
{
    char now[32];
    wall_clock(now);
    json_t *items = json_array();
    json_t *put = json_pack("{s:s, s:{s:o, s:o, s:o, s:o, s:{s:b}, s:o}}", "TableName", fence->table, "Item",
                            "key", str_value(fence->lease_key), "owner", str_value(name), "rvn",
                            str_value(call->new_rvn), "leadership", num_value(call->new_leadership),
                            "released", "BOOL", 0, "updated", str_value(now));
    json_t *cond = call->expect.exists
                       ? json_pack("{s:s, s:{s:s}, s:{s:o}}", "ConditionExpression", "#r = :old",
                                   "ExpressionAttributeNames", "#r", "rvn", "ExpressionAttributeValues",
                                   ":old", str_value(call->expect.rvn))
                       : json_pack("{s:s, s:{s:s}}", "ConditionExpression", "attribute_not_exists(#k)",
                                   "ExpressionAttributeNames", "#k", "key");
    if (put != NULL && json_object_update(put, cond) < 0) { /* a NULL cond fails too */
        json_decref(put);
        put = NULL;
    }
    json_decref(cond);
    if (items == NULL || json_array_append_new(items, json_pack("{s:o}", "Put", put)) < 0)
        goto nomem;
    for (int i = 0; i < WD_FENCE_SHARDS; i++) {
        char key[KEY_MAX + 32];
        snprintf(key, sizeof(key), "%s#fence-%d", fence->lease_key, i);
        json_t *update =
            json_pack("{s:{s:s, s:o, s:s, s:s, s:{s:s, s:s}, s:{s:o}}}", "Update", "TableName", fence->table,
                      "Key", key_of(key), "UpdateExpression", "SET #l = :n", "ConditionExpression",
                      "attribute_not_exists(#k) OR #l < :n", "ExpressionAttributeNames", "#k", "key", "#l",
                      "leadership", "ExpressionAttributeValues", ":n", num_value(call->new_leadership));
        if (json_array_append_new(items, update) < 0)
            goto nomem;
    }
    return body_text(json_pack("{s:o}", "TransactItems", items), out, err);
nomem:
    json_decref(items);
    return wd_error_nomem(err);
}

/* ---- the lease item read back ---- */

static int bad_item(struct wd_error *err, const struct wd_fence *fence, const char *what)
{
    char key[160], table[160];
    wd_escape_fixed(key, sizeof(key), WD_ESCAPE_REASON, fence->lease_key, strlen(fence->lease_key));
    wd_escape_fixed(table, sizeof(table), WD_ESCAPE_REASON, fence->table, strlen(fence->table));
    return wd_error_set(err, WD_ERR_INTERNAL, 200, "BadLeaseItem", "lease item \"%s\" in table \"%s\": %s",
                        key, table, what);
}

/* The one member of an attribute value {"T": v} when its type is T, else NULL. */
static json_t *typed(json_t *item, const char *attr, const char *type)
{
    json_t *v = json_object_get(item, attr);
    if (!json_is_object(v) || json_object_size(v) != 1)
        return NULL;
    return json_object_get(v, type);
}

/* A string attribute of 1 to max - 1 printable ASCII characters (what instances write) into out[max]. */
static bool string_attr(json_t *item, const char *attr, char *out, size_t max)
{
    json_t *s = typed(item, attr, "S");
    if (!json_is_string(s))
        return false;
    const char *v = json_string_value(s);
    size_t n = json_string_length(s);
    if (n == 0 || n >= max || strlen(v) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return false;
    memcpy(out, v, n + 1);
    return true;
}

static bool leadership_attr(json_t *item, uint64_t *out)
{
    const char *v = json_string_value(typed(item, "leadership", "N"));
    if (v == NULL)
        return false;
    size_t n = strlen(v);
    if (n == 0 || n > LEADERSHIP_DIGITS || strspn(v, "0123456789") != n)
        return false;
    *out = strtoull(v, NULL, 10);
    return true;
}

int wd_lease_ddb_parse_item(const struct wd_fence *fence, const char *body, size_t len,
                            struct wd_lease_record *out, struct wd_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body != NULL ? body : "", len, 0, &jerr);
    struct wd_lease_record rec = {0};
    int rc = -1;
    if (root == NULL) {
        wd_json_load_error(err, WD_ERR_INTERNAL, "the answer to GetItem of the lease item is not JSON",
                           &jerr);
        goto out;
    }
    if (!json_is_object(root)) {
        bad_item(err, fence, "the answer to GetItem is not a JSON object");
        goto out;
    }
    json_t *item = json_object_get(root, "Item");
    if (item == NULL) { /* GetItem's answer when there is no such item */
        *out = rec;
        rc = 0;
        goto out;
    }
    if (!json_is_object(item)) {
        bad_item(err, fence, "\"Item\" is not an object");
        goto out;
    }
    const char *key = json_string_value(typed(item, "key", "S"));
    if (key == NULL || strcmp(key, fence->lease_key) != 0) {
        bad_item(err, fence, "the answer holds another item (its \"key\" differs)");
        goto out;
    }
    rec.exists = true;
    if (!string_attr(item, "owner", rec.owner, sizeof(rec.owner)))
        bad_item(err, fence, "\"owner\" is not a string (S) of 1 to 255 printable ASCII characters");
    else if (!string_attr(item, "rvn", rec.rvn, sizeof(rec.rvn)))
        bad_item(err, fence, "\"rvn\" is not a string (S) of 1 to 79 printable ASCII characters");
    else if (!leadership_attr(item, &rec.leadership))
        bad_item(err, fence, "\"leadership\" is not a number (N) of at most 18 digits");
    else if (!json_is_boolean(typed(item, "released", "BOOL")))
        bad_item(err, fence, "\"released\" is not a boolean (BOOL)");
    else {
        rec.released = json_is_true(typed(item, "released", "BOOL"));
        *out = rec;
        rc = 0;
    }
out:
    json_decref(root);
    return rc;
}

static int read_item(struct wd_aws *aws, struct wd_http *http, const struct wd_endpoint *ddb,
                     const struct wd_fence *fence, struct wd_lease_record *out, struct wd_error *err)
{
    struct wd_buf body = {0};
    struct wd_http_response resp = {0};
    int rc = -1;
    if (read_body(fence, &body, err) == 0 &&
        wd_ddb_call(aws, http, ddb, WD_OP_DDB_GET_ITEM, body.data, body.len, &resp, err) == 0)
        rc = wd_lease_ddb_parse_item(fence, resp.body.data, resp.body.len, out, err);
    wd_http_response_clear(&resp);
    wd_buf_free(&body);
    return rc;
}

/* ---- outcomes ---- */

/* Another transaction touched one of the items (TransactionConflict): nothing was written; try again. */
static bool conflict(const struct wd_error *e)
{
    /* aws_error.c classes a cancellation transient only for its TransactionConflict reasons. */
    return strcmp(e->code, "TransactionConflictException") == 0 ||
           (strcmp(e->code, "TransactionCanceledException") == 0 && e->cls == WD_ERR_TRANSIENT);
}

static bool as_expected(const struct wd_lease_record *now, const struct wd_lease_record *expect)
{
    if (!expect->exists)
        return !now->exists;
    return now->exists && strcmp(now->rvn, expect->rvn) == 0;
}

/*
 * A write's condition failed. The AWS layer retries an attempt that got no answer, and that attempt may
 * have landed: then the retry fails on our own new rvn. One strongly consistent read tells: our rvn (and
 * name) is there -> OK. For an acquisition, a lease item still as expected means a fence item refused.
 */
static enum wd_lease_outcome after_condition(struct wd_aws *aws, struct wd_http *http,
                                             const struct wd_endpoint *ddb, const struct wd_fence *fence,
                                             const char *name, const struct wd_lease_call *call,
                                             struct wd_error *err)
{
    struct wd_lease_record now;
    struct wd_error rerr = {0};
    if (read_item(aws, http, ddb, fence, &now, &rerr) < 0) {
        wd_error_set(err, rerr.cls, rerr.http_status, rerr.code,
                     "the lease %s's condition failed, and the lease item could not be read to tell why: %s",
                     op_name(call->op), rerr.message);
        return WD_LEASE_FAILED;
    }
    if (now.exists && strcmp(now.rvn, call->new_rvn) == 0 && strcmp(now.owner, name) == 0)
        return WD_LEASE_OK;
    if (call->op == WD_LEASE_OP_ACQUIRE && as_expected(&now, &call->expect)) {
        char key[160];
        wd_escape_fixed(key, sizeof(key), WD_ESCAPE_REASON, fence->lease_key, strlen(fence->lease_key));
        wd_error_set(err, WD_ERR_CONFIG, 0, "FenceAhead",
                     "lease item \"%s\" says leadership %" PRIu64
                     " but a fence item \"%s#fence-N\" holds %" PRIu64
                     " or more: the lease item was deleted or rewritten by hand; delete the fence items too",
                     key, call->expect.exists ? call->expect.leadership : 0, key, call->new_leadership);
        return WD_LEASE_FAILED;
    }
    return WD_LEASE_CONDITION_FAILED;
}

static int check_args(const struct wd_fence *fence, const char *name, const struct wd_lease_call *call,
                      struct wd_error *err)
{
    if (fence == NULL || fence->table == NULL || fence->table[0] == '\0' || fence->lease_key == NULL ||
        fence->lease_key[0] == '\0')
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "lease: no lease table or key");
    if (strlen(fence->lease_key) > KEY_MAX)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "lease: the lease key is longer than %d bytes",
                            KEY_MAX);
    if (name == NULL || name[0] == '\0' || strlen(name) >= WD_LEASE_NAME_MAX)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "lease: the instance name must be 1 to %d bytes",
                            WD_LEASE_NAME_MAX - 1);
    if (call->op != WD_LEASE_OP_READ && call->new_rvn[0] == '\0')
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "lease: a write without a new record version");
    return 0;
}

enum wd_lease_outcome wd_lease_ddb_call(struct wd_aws *aws, struct wd_http *http,
                                        const struct wd_endpoint *ddb, const struct wd_fence *fence,
                                        const char *name, const struct wd_lease_call *call,
                                        struct wd_lease_record *rec, struct wd_error *err)
{
    if (check_args(fence, name, call, err) < 0)
        return WD_LEASE_FAILED;
    if (call->op == WD_LEASE_OP_READ) {
        struct wd_lease_record r;
        if (read_item(aws, http, ddb, fence, &r, err) < 0)
            return WD_LEASE_FAILED;
        if (rec != NULL)
            *rec = r;
        return WD_LEASE_OK;
    }

    struct wd_buf body = {0};
    struct wd_http_response resp = {0};
    enum wd_op op = WD_OP_DDB_UPDATE_ITEM;
    int built;
    switch (call->op) {
    case WD_LEASE_OP_ACQUIRE:
        op = WD_OP_DDB_TRANSACT_WRITE_ITEMS;
        built = acquire_body(fence, name, call, &body, err);
        break;
    case WD_LEASE_OP_RENEW:
    case WD_LEASE_OP_RELEASE:
        built = update_body(fence, name, call, &body, err);
        break;
    default:
        built = wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "lease: no call to make (op %d)", (int)call->op);
        break;
    }
    if (built < 0)
        return WD_LEASE_FAILED;
    enum wd_lease_outcome outcome = WD_LEASE_OK;
    struct wd_error cerr = {0};
    if (wd_ddb_call(aws, http, ddb, op, body.data, body.len, &resp, &cerr) < 0) {
        if (cerr.cls == WD_ERR_CONDITION) {
            outcome = after_condition(aws, http, ddb, fence, name, call, err);
            if (outcome == WD_LEASE_CONDITION_FAILED && err != NULL)
                *err = cerr;
        } else {
            outcome = conflict(&cerr) ? WD_LEASE_CONFLICT : WD_LEASE_FAILED;
            if (err != NULL)
                *err = cerr;
        }
    }
    wd_http_response_clear(&resp);
    wd_buf_free(&body);
    return outcome;
}
