/* The S3 widget store: one JSON object per widget at widgets/<owner-slug>/<widgetId>. */
#include "store.h"

#include "widget.h"

int wd_store_s3_apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                      const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err)
{
    struct wd_buf key = {0}, stored = {0}, body = {0};
    int rc = -1;
    if (wd_widget_s3_key(req, &key) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    switch (req->type) {
    case WD_REQ_CREATE:
        if (wd_widget_s3_create(req, &body, err) < 0)
            goto out;
        rc = wd_s3_put(aws, http, store->s3, store->name, key.data, body.data, body.len, "application/json",
                       NULL, 0, err);
        break;
    case WD_REQ_UPDATE:
        /* Requests of one widget run one at a time (consumer.c), so read-modify-write is safe here. */
        if (wd_s3_get(aws, http, store->s3, store->name, key.data, 0, &stored, err) < 0) {
            if (err->cls == WD_ERR_NOT_FOUND) {
                res->not_found = true;
                rc = 0;
            }
            goto out;
        }
        if (wd_widget_s3_update(stored.data ? stored.data : "", stored.len, req, &body, err) < 0)
            goto out;
        rc = wd_s3_put(aws, http, store->s3, store->name, key.data, body.data, body.len, "application/json",
                       NULL, 0, err);
        break;
    case WD_REQ_DELETE:
        /* S3 answers 204 to a DELETE of a missing key; only a HEAD can tell us to warn. */
        if (wd_s3_head(aws, http, store->s3, store->name, key.data, err) < 0) {
            if (err->cls == WD_ERR_NOT_FOUND) {
                res->not_found = true;
                rc = 0;
            }
            goto out;
        }
        rc = wd_s3_delete(aws, http, store->s3, store->name, key.data, err);
        break;
    }
out:
    wd_buf_free(&key);
    wd_buf_free(&stored);
    wd_buf_free(&body);
    return rc;
}
