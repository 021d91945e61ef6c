/*
 * The widget store interface (SPEC section 3): a table of operations that each store (store_s3.c,
 * store_dynamodb.c) fills in, so the pipeline applies a request without knowing which store it has.
 */
#ifndef WD_STORE_H
#define WD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws.h"
#include "buf.h"
#include "error.h"
#include "http.h"
#include "request.h"
#include "s3.h"

/* The kinds a configuration names ("s3", "dynamodb"); the daemon picks the matching operations. */
enum wd_store_kind { WD_STORE_S3, WD_STORE_DYNAMODB };

/* At most as many as the DynamoDB store's reserved names, since attributes are merged by name. */
#define WD_STORE_MAX_IGNORED 4

/* What applying a request did besides storing its effect. */
struct wd_apply_result {
    bool not_found; /* update/delete of a widget that does not exist: done, with a warning */
    /* otherAttributes the store cannot hold and left out (borrowed from the request), to warn about. */
    const char *ignored[WD_STORE_MAX_IGNORED];
    size_t n_ignored;
};

struct wd_store;

struct wd_store_ops {
    const char *kind; /* "s3", "dynamodb": for log lines */
    /*
     * The widget identity that orders requests (SPEC 4), appended to out: on S3 the owner is part of
     * the object key, so two owners' widgets with one ID are two widgets. Returns 0 or -1 (OOM).
     */
    int (*identity)(const struct wd_request *req, struct wd_buf *out);
    /*
     * Applies req. Returns 0 (the effect is durably in the store; res filled) or -1 with err: retryable
     * classes mean "try later", WD_ERR_CLIENT that the store refused it (see rejects_content).
     */
    int (*apply)(const struct wd_store *store, struct wd_aws *aws, struct wd_http *http,
                 const struct wd_request *req, struct wd_apply_result *res, struct wd_error *err);
    /*
     * True when a failed apply is the store refusing this request's own content for good (an item over
     * DynamoDB's 400 KB), so it belongs in the dead-letter location. Any other rejection (a bad table
     * name, a permission, a bug) is the deployment's fault: the request is kept and retried.
     */
    bool (*rejects_content)(const struct wd_error *err);
};

/*
 * Fencing (SPEC 9): with a lease, every store write is conditional on this instance's leadership still
 * being the newest, so that a deposed leader's late write cannot change the store. On DynamoDB each
 * write is a TransactWriteItems with a ConditionCheck "leadership = N" on one of WD_FENCE_SHARDS fence
 * items in the lease table (sharded by widget so that concurrent transactions rarely touch the same
 * item; a new leader raises them all when it acquires the lease). On S3 each write is conditional on the
 * widget object being as this instance read it (If-Match / If-None-Match). A failed fence is
 * WD_ERR_FENCED.
 */
#define WD_FENCE_SHARDS 32

struct wd_fence {
    const char *table;     /* the lease table */
    const char *lease_key; /* the lease item's key; fence item i is "<lease_key>#fence-<i>" */
    uint64_t leadership;   /* this instance's leadership; written by the lease's owner, read by the store */
    bool s3_conditions;    /* S3 store: write with If-Match / If-None-Match (test-only off switch) */
    bool ddb_conditions;   /* DynamoDB store: the ConditionCheck on the fence item (test-only off switch) */
};

/* One configured store. Borrows everything. */
struct wd_store {
    const struct wd_store_ops *ops;
    const char *name;              /* bucket or table */
    const struct wd_s3 *s3;        /* the S3 service, for the S3 store */
    const struct wd_endpoint *ddb; /* the DynamoDB endpoint, for the DynamoDB store */
    const struct wd_fence *fence;  /* NULL without a lease: writes are unconditional */
};

#endif
