/* The DynamoDB widget store: one item per widget, hash key id (S). */
#include "store.h"

#include <jansson.h>
#include <string.h>

#include "dynamodb.h"
#include "widget.h"

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
    if (wd_ddb_key_body(store->name, req->widget_id, extra, &body, err) == 0)
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

    if (wd_ddb_update_item_body(req, store->name, &body, &fits, &noop, err) < 0)
        goto out;
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
    if (wd_ddb_merge_item_body(resp.body.data ? resp.body.data : "{}", resp.body.len, req, store->name, &body,
                               &found, err) < 0)
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
    rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_PUT_ITEM, body.data, body.len, &resp, err);
out:
    wd_buf_free(&body);
    wd_http_response_clear(&resp);
    return rc;
}

int wd_store_ddb_apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                       const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err)
{
    struct wd_buf body = {0};
    struct wd_http_response resp = {0};
    int rc = -1;
    switch (req->type) {
    case WD_REQ_CREATE:
        if (wd_ddb_put_item_body(req, store->name, &body, err) == 0)
            rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_PUT_ITEM, body.data, body.len, &resp, err);
        break;
    case WD_REQ_UPDATE:
        rc = update(store, aws, http, req, res, err);
        break;
    case WD_REQ_DELETE:
        if (wd_ddb_key_body(store->name, req->widget_id, "\"ReturnValues\":\"ALL_OLD\"", &body, err) < 0)
            break;
        rc = wd_ddb_call(aws, http, store->ddb, WD_OP_DDB_DELETE_ITEM, body.data, body.len, &resp, err);
        if (rc == 0 && !has_attributes(&resp.body))
            res->not_found = true;
        break;
    }
    wd_buf_free(&body);
    wd_http_response_clear(&resp);
    return rc;
}
