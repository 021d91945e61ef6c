/*
 * The DynamoDB widget store (SPEC 3): the PutItem, UpdateItem (with its read-modify-write fallback past
 * DynamoDB's 4 KB expression limit) and DeleteItem bodies, the same writes fenced in a TransactWriteItems
 * (SPEC 9), and applying a request with them.
 */
#include "store_dynamodb.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynamodb.h"
#include "escape.h"
#include "json.h"

#define DDB_MAX_EXPRESSION 4096 /* "The maximum length of any expression string is 4 KB" */
/* DynamoDB also caps "operators or functions" in an UpdateExpression at 300. Counting each SET/REMOVE
 * action as one keeps us safely inside it (301 REMOVEs still fit in 4 KB); past it *fits is false too. */
#define DDB_MAX_ACTIONS 300

static const char *const reserved_names[] = {"id", "owner", "label", "description"};

bool wd_store_ddb_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved_names) / sizeof(reserved_names[0]); i++)
        if (strcmp(name, reserved_names[i]) == 0)
            return true;
    return false;
}

/* Reports reserved names whether they set or remove: either way the request asked for something that
 * will not happen, which is worth a warning. */
size_t wd_store_ddb_ignored(const struct wd_request *req, const char *names[WD_STORE_MAX_IGNORED])
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_attrs && n < WD_STORE_MAX_IGNORED; i++)
        if (wd_store_ddb_reserved(req->attrs[i].name))
            names[n++] = req->attrs[i].name;
    return n;
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

int wd_store_ddb_put_item_body(const struct wd_request *req, const char *table, struct wd_buf *out,
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
        if (a->value[0] == '\0' || wd_store_ddb_reserved(a->name))
            continue;
        if (!ddb_set(item, a->name, a->value)) {
            json_decref(item);
            return wd_error_nomem(err);
        }
    }
    json_t *body = ddb_body(table, "Item", item);
    int rc = wd_json_append(body, out, err);
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
            if (!wd_store_ddb_reserved(a->name) && (a->value[0] != '\0') == set)
                ch[n++] = (struct ddb_change){a->name, set ? a->value : NULL};
        }
    }
    return n;
}

int wd_store_ddb_update_item_body(const struct wd_request *req, const char *table, struct wd_buf *out,
                                  bool *fits, bool *noop, struct wd_error *err)
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
        if (!wd_json_set_string(names, ph, ch[i].name))
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
        !wd_json_set_string(body, "UpdateExpression", expr.data) ||
        !wd_json_set_string(body, "ConditionExpression", "attribute_exists(#id)") ||
        json_object_set(body, "ExpressionAttributeNames", names) < 0 ||
        (values != NULL && json_object_set(body, "ExpressionAttributeValues", values) < 0))
        goto nomem;
    if (wd_json_append(body, out, err) < 0)
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

int wd_store_ddb_merge_item_body(const char *getitem_response, size_t len, const struct wd_request *req,
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
    if (wd_json_append(body, out, err) < 0)
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

int wd_store_ddb_key_body(const char *table, const char *widget_id, const char *extra, struct wd_buf *out,
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
    rc = wd_json_append(body, out, err);
out:
    json_decref(more);
    json_decref(body);
    return rc;
}

uint32_t wd_store_ddb_fence_shard(const char *widget_id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)widget_id; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h % WD_FENCE_SHARDS;
}

/* The fence item's key: "<lease_key>#fence-<shard>". */
static int fence_key(const struct wd_fence *fence, uint32_t shard, struct wd_buf *out)
{
    return wd_buf_printf(out, "%s#fence-%u", fence->lease_key, (unsigned)shard);
}

int wd_store_ddb_fenced_body(const struct wd_fence *fence, const char *widget_id, const char *action,
                             const char *write_body, size_t len, bool must_exist, struct wd_buf *out,
                             struct wd_error *err)
{
    struct wd_buf key = {0};
    char n[24];
    json_error_t jerr;
    json_t *write = json_loadb(write_body, len, JSON_REJECT_DUPLICATES, &jerr), *body = NULL;
    int rc = -1;
    if (write == NULL)
        return wd_json_load_error(err, WD_ERR_INTERNAL, "write body to fence", &jerr);
    /* One value for the whole transaction: the leadership as it is now, when the call is made. */
    snprintf(n, sizeof(n), "%llu", (unsigned long long)fence->leadership);
    if (fence_key(fence, wd_store_ddb_fence_shard(widget_id), &key) < 0)
        goto nomem;
    if (must_exist && json_object_get(write, "ConditionExpression") == NULL) {
        json_t *names = json_object_get(write, "ExpressionAttributeNames");
        if (!wd_json_set_string(write, "ConditionExpression", "attribute_exists(#id)"))
            goto nomem;
        if (names == NULL && ((names = json_object()) == NULL ||
                              json_object_set_new(write, "ExpressionAttributeNames", names) < 0))
            goto nomem;
        if (!wd_json_set_string(names, "#id", "id"))
            goto nomem;
    }
    body = json_pack("{s:[{s:{s:s,s:{s:{s:s}},s:s,s:{s:{s:s}}}},{s:O}]}", "TransactItems", "ConditionCheck",
                     "TableName", fence->table, "Key", "key", "S", key.data, "ConditionExpression",
                     "leadership = :n", "ExpressionAttributeValues", ":n", "N", n, action, write);
    if (body == NULL)
        goto nomem;
    rc = wd_json_append(body, out, err);
    goto out;
nomem:
    rc = wd_error_nomem(err);
out:
    json_decref(body);
    json_decref(write);
    wd_buf_free(&key);
    return rc;
}

/* Copies a reason code: a missing or null code (AWS's "Null code") is "None". */
static void reason_code(char *dst, size_t cap, const char *code, size_t len)
{
    if (code == NULL || len == 0)
        code = "None", len = 4;
    snprintf(dst, cap, "%.*s", (int)(len < cap ? len : cap - 1), code);
}

bool wd_store_ddb_cancel_reasons(const char *body, size_t len, struct wd_store_ddb_cancel *out)
{
    json_t *root = json_loadb(body != NULL ? body : "", body != NULL ? len : 0, 0, NULL);
    json_t *list = json_object_get(root, "CancellationReasons");
    bool ok = false;
    *out = (struct wd_store_ddb_cancel){0};
    if (json_is_array(list) && json_array_size(list) == 2) {
        json_t *f = json_array_get(list, 0), *w = json_array_get(list, 1);
        const char *fc = json_string_value(json_object_get(f, "Code"));
        const char *wc = json_string_value(json_object_get(w, "Code"));
        const char *wm = json_string_value(json_object_get(w, "Message"));
        reason_code(out->fence, sizeof(out->fence), fc, fc ? strlen(fc) : 0);
        reason_code(out->widget, sizeof(out->widget), wc, wc ? strlen(wc) : 0);
        if (wm != NULL)
            wd_escape_fixed(out->widget_message, sizeof(out->widget_message), WD_ESCAPE_REASON, wm,
                            strlen(wm));
        ok = true;
    } else {
        const char *msg = json_string_value(json_object_get(root, "message"));
        if (msg == NULL)
            msg = json_string_value(json_object_get(root, "Message"));
        const char *open = msg ? strrchr(msg, '[') : NULL;
        const char *comma = open ? strchr(open, ',') : NULL;
        const char *close = comma ? strchr(comma, ']') : NULL;
        if (close != NULL && strchr(comma + 1, ',') == NULL) {
            const char *w = comma + 1;
            while (*w == ' ')
                w++;
            reason_code(out->fence, sizeof(out->fence), open + 1, (size_t)(comma - open - 1));
            reason_code(out->widget, sizeof(out->widget), w, (size_t)(close - w));
            ok = true;
        }
    }
    json_decref(root);
    return ok;
}

/*
 * What a failed fenced write means, from its answer (resp) and the error wd_ddb_call() classified.
 * The fence item's reason decides first: a failed check is WD_ERR_FENCED whatever the widget's reason
 * (a deposed leader must neither write nor judge the widget's content); a fence item busy with another
 * transaction (the new leader raising it) leaves everything open, so the write is tried again later.
 * Only with the fence passed does the widget's reason count: a failed attribute_exists is "not found"
 * (*not_found, returns 0), a ValidationError carries its message (an item over 400 KB: rejects_content).
 */
static int fenced_outcome(const struct wd_fence *fence, const char *widget_id,
                          const struct wd_http_response *resp, bool must_exist, bool *not_found,
                          struct wd_error *err)
{
    struct wd_store_ddb_cancel r;
    if (strcmp(err->code, "TransactionCanceledException") != 0)
        return -1; /* not about the items (a missing table, throttling, no answer): as classified */
    if (!wd_store_ddb_cancel_reasons(resp->body.data, resp->body.len, &r)) {
        if (err->cls == WD_ERR_CONDITION)
            return wd_error_set(err, WD_ERR_INTERNAL, err->http_status, err->code,
                                "%s (the reasons do not say which condition failed)", err->message);
        return -1;
    }
    char table[96], key[160];
    struct wd_buf k = {0};
    if (fence_key(fence, wd_store_ddb_fence_shard(widget_id), &k) < 0)
        return wd_error_nomem(err);
    wd_escape_fixed(table, sizeof(table), WD_ESCAPE_REASON, fence->table, strlen(fence->table));
    wd_escape_fixed(key, sizeof(key), WD_ESCAPE_REASON, k.data, k.len);
    wd_buf_free(&k);
    long status = err->http_status;
    if (strcmp(r.fence, "ConditionalCheckFailed") == 0)
        return wd_error_set(err, WD_ERR_FENCED, status, "TransactionCanceledException",
                            "fence item \"%s\" in table \"%s\" does not hold leadership %llu: another "
                            "leadership has begun; nothing was written",
                            key, table, (unsigned long long)fence->leadership);
    if (strcmp(r.fence, "None") != 0) {
        char why[64];
        if (err->cls == WD_ERR_CONDITION)
            return wd_error_set(
                err, WD_ERR_TRANSIENT, status, "TransactionCanceledException",
                "fence item \"%s\": %s, so the widget's own condition is not judged; "
                "nothing was written",
                key, wd_escape_fixed(why, sizeof(why), WD_ESCAPE_REASON, r.fence, strlen(r.fence)));
        return -1;
    }
    if (strcmp(r.widget, "ConditionalCheckFailed") == 0 && must_exist) {
        *not_found = true;
        return 0;
    }
    if (strcmp(r.widget, "ValidationError") == 0)
        return wd_error_set(err, WD_ERR_CLIENT, status, "TransactionCanceledException",
                            "DynamoDB %ld TransactionCanceledException: the widget item: ValidationError%s%s",
                            status, r.widget_message[0] ? ": " : "", r.widget_message);
    if (err->cls == WD_ERR_CONDITION)
        return wd_error_set(err, WD_ERR_INTERNAL, status, err->code, "%s (an unexpected condition failed)",
                            err->message);
    return -1;
}

static bool fenced(const struct wd_store *store)
{
    return store->fence != NULL && store->fence->ddb_conditions;
}

/*
 * One write behind the fence: write_body (a PutItem, UpdateItem or DeleteItem body) as action in a
 * TransactWriteItems with the fence's ConditionCheck. Returns 0 (written, or *not_found) or -1 with err.
 */
static int fenced_write(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                        const struct wd_request *req, const char *action, const struct wd_buf *write_body,
                        bool must_exist, bool *not_found, struct wd_error *err)
{
    struct wd_buf body = {0};
    struct wd_http_response resp = {0};
    int rc = wd_store_ddb_fenced_body(store->fence, req->widget_id, action, write_body->data, write_body->len,
                                      must_exist, &body, err);
    if (rc == 0) {
        rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_TRANSACT_WRITE_ITEMS, body.data, body.len, &resp,
                         err);
        if (rc < 0)
            rc = fenced_outcome(store->fence, req->widget_id, &resp, must_exist, not_found, err);
    }
    wd_buf_free(&body);
    wd_http_response_clear(&resp);
    return rc;
}

/* True when a DeleteItem ALL_OLD answer carries the deleted item. */
static bool has_attributes(const struct wd_buf *body)
{
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    json_t *attrs = json_object_get(root, "Attributes");
    bool found = json_is_object(attrs) && json_object_size(attrs) > 0;
    json_decref(root);
    return found;
}

static int get_item(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                    const struct wd_request *req, const char *extra, struct wd_http_response *resp,
                    struct wd_error *err)
{
    struct wd_buf body = {0};
    int rc = -1;
    if (wd_store_ddb_key_body(store->name, req->widget_id, extra, &body, err) == 0)
        rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_GET_ITEM, body.data, body.len, resp, err);
    wd_buf_free(&body);
    return rc;
}

static int update(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                  const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err)
{
    struct wd_buf body = {0};
    struct wd_http_response resp = {0};
    bool fits = true, noop = false, found = true;
    int rc = -1;

    if (wd_store_ddb_update_item_body(req, store->name, &body, &fits, &noop, err) < 0)
        goto out;
    if (fits && !noop && fenced(store)) {
        rc = fenced_write(store, aws, http, req, "Update", &body, true, &res->not_found, err);
        goto out;
    }
    if (fits && !noop) {
        /* One conditional UpdateItem: no read, and a missing widget is not created. */
        rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_UPDATE_ITEM, body.data, body.len, &resp, err);
        if (rc < 0 && err->cls == WD_ERR_CONDITION) {
            res->not_found = true;
            rc = 0;
        }
        goto out;
    }
    /* Nothing to change, or an expression over DynamoDB's 4 KB limit: read, then write the whole item. */
    if (get_item(store, aws, http, req, "\"ConsistentRead\":true", &resp, err) < 0)
        goto out;
    wd_buf_reset(&body);
    if (wd_store_ddb_merge_item_body(resp.body.data ? resp.body.data : "{}", resp.body.len, req, store->name,
                                     &body, &found, err) < 0)
        goto out;
    if (!found) {
        res->not_found = true;
        rc = 0;
        goto out;
    }
    if (noop) {
        rc = 0;
        goto out;
    }
    /* Fenced, the whole item is put only where it still exists: an update never creates a widget. */
    if (fenced(store))
        rc = fenced_write(store, aws, http, req, "Put", &body, true, &res->not_found, err);
    else
        rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_PUT_ITEM, body.data, body.len, &resp, err);
out:
    wd_buf_free(&body);
    wd_http_response_clear(&resp);
    return rc;
}

static int apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                 const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err)
{
    struct wd_buf body = {0};
    struct wd_http_response resp = {0};
    int rc = -1;
    *res = (struct wd_apply_result){0};
    switch (req->type) {
    case WD_REQ_CREATE:
        if (wd_store_ddb_put_item_body(req, store->name, &body, err) < 0)
            break;
        if (fenced(store))
            rc = fenced_write(store, aws, http, req, "Put", &body, false, &res->not_found, err);
        else
            rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_PUT_ITEM, body.data, body.len, &resp, err);
        break;
    case WD_REQ_UPDATE:
        rc = update(store, aws, http, req, res, err);
        break;
    case WD_REQ_DELETE:
        /* Fenced, a transaction's Delete returns no old item: its attribute_exists condition tells. */
        if (fenced(store)) {
            if (wd_store_ddb_key_body(store->name, req->widget_id, NULL, &body, err) == 0)
                rc = fenced_write(store, aws, http, req, "Delete", &body, true, &res->not_found, err);
            break;
        }
        if (wd_store_ddb_key_body(store->name, req->widget_id, "\"ReturnValues\":\"ALL_OLD\"", &body, err) <
            0)
            break;
        rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_DELETE_ITEM, body.data, body.len, &resp, err);
        if (rc == 0 && !has_attributes(&resp.body))
            res->not_found = true;
        break;
    }
    /* The warning belongs to a write that happened: not to a delete, nor to an update of nothing. */
    if (rc == 0 && req->type != WD_REQ_DELETE && !res->not_found)
        res->n_ignored = wd_store_ddb_ignored(req, res->ignored);
    wd_buf_free(&body);
    wd_http_response_clear(&resp);
    return rc;
}

static int identity(const struct wd_request *req, struct wd_buf *out)
{
    return wd_buf_append_str(out, req->widget_id);
}

/*
 * "Item size has exceeded the maximum allowed size" (PutItem) and "Item size to update has exceeded the
 * maximum allowed size" (UpdateItem): the item this request makes is over 400 KB. Fenced, in a
 * TransactWriteItems, DynamoDB Local still answers a ValidationException with these messages, while AWS
 * documents a TransactionCanceledException whose reason for the item is ValidationError with the same
 * messages (fenced_outcome() puts that reason's message into err, and only for the widget's item).
 */
static bool rejects_content(const struct wd_error *err)
{
    return err->cls == WD_ERR_CLIENT &&
           (strcmp(err->code, "ValidationException") == 0 ||
            strcmp(err->code, "TransactionCanceledException") == 0) &&
           strstr(err->message, "maximum allowed size") != NULL;
}

const struct wd_store_ops wd_store_ddb_ops = {
    .kind = "dynamodb",
    .identity = identity,
    .apply = apply,
    .rejects_content = rejects_content,
};
