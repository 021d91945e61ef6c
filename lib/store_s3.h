/*
 * The S3 widget store (SPEC section 3, "S3 store representation"): one JSON object per widget at
 * widgets/<owner-slug>/<widgetId>. Its operations, and the pure functions that build keys and bodies.
 */
#ifndef WD_STORE_S3_H
#define WD_STORE_S3_H

#include "buf.h"
#include "error.h"
#include "request.h"
#include "store.h"

extern const struct wd_store_ops wd_store_s3_ops;

/* Appends the owner slug ("Mary Matthews" -> "mary-matthews"). Returns 0 or -1 (OOM). */
int wd_store_s3_owner_slug(const char *owner, struct wd_buf *out);

/* Appends the object key of the request's widget: "widgets/<owner-slug>/<widgetId>" (raw, unencoded). */
int wd_store_s3_key(const struct wd_request *req, struct wd_buf *out);

/* The object body a create stores. Returns 0, or -1 with err. */
int wd_store_s3_create_body(const struct wd_request *req, struct wd_buf *out, struct wd_error *err);

/*
 * The object body after applying an update to the stored body (stored[0..len)). A stored body that is
 * not a widget JSON object is WD_ERR_INTERNAL (the store was changed behind our back).
 */
int wd_store_s3_update_body(const char *stored, size_t len, const struct wd_request *req, struct wd_buf *out,
                            struct wd_error *err);

#endif
