/* One signed AWS call: sign (SigV4), send (http), classify the answer (per service), retry (policy). */
#ifndef WD_AWS_H
#define WD_AWS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "credentials_chain.h"
#include "error.h"
#include "http.h"
#include "retry.h"
#include "sigv4.h"

/* A service endpoint: "https://s3.us-east-1.amazonaws.com" -> scheme "https", host "s3.us-east-1...". */
struct wd_endpoint {
    char *scheme;
    char *host; /* host[:port], as sent in the Host header */
};

/* Parses an http(s) URL without path, query or user info. Returns 0 or -1 with WD_ERR_CONFIG. */
int wd_endpoint_parse(const char *url, struct wd_endpoint *out, struct wd_error *err);
void wd_endpoint_clear(struct wd_endpoint *e);

/* Counts of calls made, by operation, for STATUS= and the benchmark. */
enum wd_op {
    WD_OP_S3_LIST,
    WD_OP_S3_GET,
    WD_OP_S3_HEAD,
    WD_OP_S3_PUT,
    WD_OP_S3_COPY,
    WD_OP_S3_DELETE,
    WD_OP_DDB_PUT_ITEM,
    WD_OP_DDB_UPDATE_ITEM,
    WD_OP_DDB_GET_ITEM,
    WD_OP_DDB_DELETE_ITEM,
    WD_OP_COUNT
};
const char *wd_op_name(enum wd_op op);

/* The derived SigV4 key of one service for the current day, so a call needs one HMAC instead of five. */
struct wd_signing_key_cache {
    pthread_mutex_t lock;
    char date8[9];
    char *secret; /* the secret it was derived from (a copy, wiped); NULL: empty cache */
    unsigned char key[WD_SIGV4_KEY_SIZE];
};

/* What every call shares: region, credentials, retry policy, counters. Read-only during calls except
 * the atomic counters. Owned by the caller (the consumer); lives as long as the calls. */
struct wd_aws {
    char *region;
    struct wd_credentials_provider *creds; /* borrowed; refreshed credentials are fetched per attempt */
    struct wd_retry_policy retry;
    atomic_ulong calls[WD_OP_COUNT]; /* attempts sent, retries included */
    atomic_ulong retries;            /* attempts after the first */
    atomic_ulong attempts_done;      /* attempts that ended, answered or not: proof of progress */
    atomic_ulong quota_refusals;     /* retries refused because the retry quota was empty */
    struct wd_retry_quota quota[2];  /* per endpoint: [0] S3, [1] DynamoDB */
    /*
     * Seconds the servers' clocks are ahead of ours, learnt from the Date header of a response that
     * refused a signature as too old or too new. Every signature uses time(NULL) + skew_s.
     */
    atomic_long skew_s;
    struct wd_signing_key_cache keys[2]; /* [0] S3, [1] DynamoDB */
};

/* Sets up the counters, quotas, clock offset and key caches of a zeroed struct wd_aws. */
void wd_aws_init(struct wd_aws *aws);
/* Wipes the key caches (the credentials are the caller's). */
void wd_aws_cleanup(struct wd_aws *aws);

/* True when err is a refusal because of the signing time, and the Date header shows the time the request
 * was signed with (signed_at) is off by more than 4 minutes; *offset is then the server's time minus it. */
bool wd_aws_clock_skewed(const struct wd_error *err, const char *date_header, time_t signed_at, long *offset);

/* Maps a response with a failing status (or an error body) to err. Returns -1. */
typedef int (*wd_classify_fn)(long status, const char *body, size_t len, struct wd_error *err);

struct wd_aws_call {
    enum wd_op op;
    const char *service; /* signing name: "s3", "dynamodb" */
    bool s3_rules;       /* S3 signing: no path normalisation, encode once, x-amz-content-sha256 */
    const char *method;
    const struct wd_endpoint *endpoint;
    const char *host;  /* Host header when it differs from endpoint->host (virtual-hosted S3), or NULL */
    const char *path;  /* URI-encoded, as sent */
    const char *query; /* encoded, without '?', or NULL */
    const struct wd_header *headers; /* extra headers to send and sign (content-type, x-amz-target, ...) */
    size_t n_headers;
    const void *body;
    size_t body_len;
    size_t max_response; /* 0: http's default */
    wd_classify_fn classify;
};

/*
 * Makes the call, retrying what the policy allows. Returns 0 when the final answer is 2xx (resp holds
 * it), else -1 with err classified by call->classify (or by http for no answer). A 404 on HEAD comes back
 * as WD_ERR_NOT_FOUND via the classifier.
 */
int wd_aws_call(struct wd_aws *aws, struct wd_http *http, const struct wd_aws_call *call,
                struct wd_http_response *resp, struct wd_error *err);

#endif
