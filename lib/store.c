/* Dispatch to the configured store, and the widget identity that orders requests. */
#include "store.h"

#include <string.h>

int wd_store_apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                   const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err)
{
    res->not_found = false;
    if (store->kind == WD_STORE_S3)
        return wd_store_s3_apply(store, aws, http, req, res, err);
    return wd_store_ddb_apply(store, aws, http, req, res, err);
}

int wd_store_identity(enum wd_store_kind kind, const struct wd_request *req, struct wd_buf *out)
{
    /* On S3 the owner is part of the key, so two owners' widgets with one ID are two widgets. */
    if (kind == WD_STORE_S3)
        return wd_widget_s3_key(req, out);
    return wd_buf_append_str(out, req->widget_id);
}

bool wd_store_rejects_content(const struct wd_error *err)
{
    if (err->cls != WD_ERR_CLIENT)
        return false;
    /* DynamoDB: "Item size has exceeded the maximum allowed size" (PutItem) and "Item size to update has
     * exceeded the maximum allowed size" (UpdateItem). S3: an object or key over its limits. */
    if (strcmp(err->code, "ValidationException") == 0)
        return strstr(err->message, "maximum allowed size") != NULL;
    return strcmp(err->code, "EntityTooLarge") == 0 || strcmp(err->code, "KeyTooLongError") == 0;
}
