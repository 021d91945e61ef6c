/* One signed AWS call: sign (SigV4), send (http), classify the answer (per service), retry (policy). */
#ifndef WD_AWS_H
#define WD_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "credentials_chain.h"
#include "error.h"
#include "header.h"
#include "http.h"
#include "retry.h"

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
    WD_OP_DDB_TRANSACT_WRITE_ITEMS,
    WD_OP_COUNT
};
const char *wd_op_name(enum wd_op op);

/*
 * What every call shares: the region, the credentials, the retry policy and its quotas, the clock offset,
 * the signing keys derived so far and the counters. Thread-safe: every worker calls through one.
 */
struct wd_aws;

/*
 * Returns a new one, or NULL with err (WD_ERR_NOMEM). Copies region and retry (NULL:
 * wd_retry_policy_default()); borrows creds, which must outlive it: credentials are fetched from it at
 * every attempt, so that a refresh is picked up by the next one.
 */
struct wd_aws *wd_aws_new(const char *region, struct wd_credentials_provider *creds,
                          const struct wd_retry_policy *retry, struct wd_error *err);
/* Wipes the derived signing keys and frees; accepts NULL. No call may be in flight. */
void wd_aws_free(struct wd_aws *aws);

/* The counters so far, for STATUS=, the exit line, the watchdog and the benchmark. */
struct wd_aws_stats {
    unsigned long calls[WD_OP_COUNT]; /* attempts sent, retries included */
    unsigned long retries;            /* attempts after the first */
    unsigned long attempts_done;      /* attempts that ended, answered or not: proof of progress */
    unsigned long quota_refusals;     /* retries refused because the retry quota was empty */
    unsigned long throttled;          /* attempts answered with a throttling error: the limit backs off */
    /*
     * Seconds the servers' clocks are ahead of ours, learnt from the Date header of a response that
     * refused a signature as too old or too new. Every signature uses time(NULL) + clock_skew_s.
     */
    long clock_skew_s;
};

/* A snapshot of the counters; each is read atomically, the set is not (calls may be in flight). */
void wd_aws_stats_get(const struct wd_aws *aws, struct wd_aws_stats *out);
/* The throttled counter alone (struct wd_aws_stats): read at every turn of the event loop. */
unsigned long wd_aws_throttled(const struct wd_aws *aws);

/* Sets the clock offset that every later signature uses (a new wd_aws starts at 0): the clock does not
 * change with the configuration, so a reload carries it over. */
void wd_aws_set_clock_skew(struct wd_aws *aws, long skew_s);

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
