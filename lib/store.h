/* The widget store: applying one validated request to an S3 bucket or a DynamoDB table (SPEC section 3). */
#ifndef WD_STORE_H
#define WD_STORE_H

#include <stdbool.h>

#include "aws.h"
#include "error.h"
#include "http.h"
#include "s3.h"
#include "widget.h"

enum wd_store_kind { WD_STORE_S3, WD_STORE_DYNAMODB };

struct wd_store {
    enum wd_store_kind kind;
    const char *name;              /* bucket or table; borrowed */
    const struct wd_s3 *s3;        /* for WD_STORE_S3; borrowed */
    const struct wd_endpoint *ddb; /* for WD_STORE_DYNAMODB; borrowed */
};

struct wd_apply_result {
    bool not_found; /* update/delete of a widget that does not exist: done, with a warning */
};

/*
 * Applies req. Returns 0 (the effect is durably in the store) or -1 with err: retryable classes mean
 * "try later", WD_ERR_CLIENT means the store permanently rejects this request's content.
 */
int wd_store_apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                   const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err);

int wd_store_s3_apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                      const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err);
int wd_store_ddb_apply(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                       const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err);

/*
 * True when a failed apply is the store refusing this request's own content for good (a DynamoDB item
 * over 400 KB), so it belongs in the dead-letter location. Any other rejection (a bad table name, a
 * permission, a bug) is the deployment's fault: the request is kept and retried, never set aside.
 */
bool wd_store_rejects_content(const struct wd_error *err);

/* The widget identity used for ordering (SPEC 3): "<owner-slug>/<widgetId>" on S3, widgetId on DynamoDB. */
int wd_store_identity(enum wd_store_kind kind, const struct wd_request *req, struct wd_buf *out);

#endif
