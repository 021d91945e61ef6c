/* Signed AWS calls: builds the URL and headers, signs them, sends them and retries by the policy. */
#include "aws.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credentials.h"
#include "sigv4.h"

#define MAX_CALL_HEADERS 16

/* The derived SigV4 key of one service for the current day, so a call needs one HMAC instead of five. */
struct signing_key_cache {
    pthread_mutex_t lock;
    char date8[9];
    char *secret; /* the secret it was derived from (a copy, wiped); NULL: empty cache */
    unsigned char key[WD_SIGV4_KEY_SIZE];
};

/* Read-only during calls except the atomics and the key caches (under their locks). */
struct wd_aws {
    char *region;
    struct wd_credentials_provider *creds; /* borrowed; refreshed credentials are fetched per attempt */
    struct wd_retry_policy retry;
    atomic_ulong calls[WD_OP_COUNT];  /* attempts sent, retries included */
    atomic_ulong retries;             /* attempts after the first */
    atomic_ulong attempts_done;       /* attempts that ended, answered or not: proof of progress */
    atomic_ulong quota_refusals;      /* retries refused because the retry quota was empty */
    atomic_ulong throttled;           /* attempts answered with a throttling error */
    struct wd_retry_quota quota[2];   /* per endpoint: [0] S3, [1] DynamoDB */
    atomic_long skew_s;               /* see struct wd_aws_stats */
    struct signing_key_cache keys[2]; /* [0] S3, [1] DynamoDB */
    int keys_ready;                   /* how many of keys[] have their lock initialised */
};

static const char *const op_names[WD_OP_COUNT] = {
    [WD_OP_S3_LIST] = "ListObjectsV2",
    [WD_OP_S3_GET] = "GetObject",
    [WD_OP_S3_HEAD] = "HeadObject",
    [WD_OP_S3_PUT] = "PutObject",
    [WD_OP_S3_COPY] = "CopyObject",
    [WD_OP_S3_DELETE] = "DeleteObject",
    [WD_OP_DDB_PUT_ITEM] = "PutItem",
    [WD_OP_DDB_UPDATE_ITEM] = "UpdateItem",
    [WD_OP_DDB_GET_ITEM] = "GetItem",
    [WD_OP_DDB_DELETE_ITEM] = "DeleteItem",
    [WD_OP_DDB_TRANSACT_WRITE_ITEMS] = "TransactWriteItems",
};

const char *wd_op_name(enum wd_op op)
{
    return op < WD_OP_COUNT ? op_names[op] : "?";
}

int wd_endpoint_parse(const char *url, struct wd_endpoint *out, struct wd_error *err)
{
    const char *sep = strstr(url, "://");
    if (sep == NULL)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "endpoint \"%s\" is not an http:// or https:// URL",
                            url);
    size_t slen = (size_t)(sep - url);
    if (!((slen == 4 && strncmp(url, "http", 4) == 0) || (slen == 5 && strncmp(url, "https", 5) == 0)))
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "endpoint \"%s\" is not an http:// or https:// URL",
                            url);
    const char *host = sep + 3;
    size_t hlen = strcspn(host, "/?#@");
    if (hlen == 0 || host[hlen] == '@')
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "endpoint \"%s\" has no usable host", url);
    /* A lone trailing slash is harmless; any other path would change what is signed. */
    if (host[hlen] != '\0' && strcmp(host + hlen, "/") != 0)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "endpoint \"%s\" must not have a path or query",
                            url);
    struct wd_endpoint e = {strndup(url, slen), strndup(host, hlen)};
    if (e.scheme == NULL || e.host == NULL) {
        wd_endpoint_clear(&e);
        return wd_error_nomem(err);
    }
    *out = e;
    return 0;
}

void wd_endpoint_clear(struct wd_endpoint *e)
{
    free(e->scheme);
    free(e->host);
    e->scheme = e->host = NULL;
}

static void clear_key(struct signing_key_cache *k)
{
    if (k->secret != NULL) {
        OPENSSL_cleanse(k->secret, strlen(k->secret));
        free(k->secret);
        k->secret = NULL;
    }
    OPENSSL_cleanse(k->key, sizeof(k->key));
}

void wd_aws_free(struct wd_aws *aws)
{
    if (aws == NULL)
        return;
    for (int i = 0; i < aws->keys_ready; i++) {
        clear_key(&aws->keys[i]);
        pthread_mutex_destroy(&aws->keys[i].lock);
    }
    free(aws->region);
    free(aws);
}

struct wd_aws *wd_aws_new(const char *region, struct wd_credentials_provider *creds,
                          const struct wd_retry_policy *retry, struct wd_error *err)
{
    struct wd_aws *aws = calloc(1, sizeof(*aws));
    if (aws == NULL || (aws->region = strdup(region)) == NULL)
        goto nomem;
    aws->creds = creds;
    aws->retry = retry != NULL ? *retry : wd_retry_policy_default();
    for (int op = 0; op < WD_OP_COUNT; op++)
        atomic_init(&aws->calls[op], 0);
    atomic_init(&aws->retries, 0);
    atomic_init(&aws->attempts_done, 0);
    atomic_init(&aws->quota_refusals, 0);
    atomic_init(&aws->skew_s, 0);
    for (int i = 0; i < 2; i++) {
        wd_retry_quota_init(&aws->quota[i], aws->retry.quota_capacity);
        if (pthread_mutex_init(&aws->keys[i].lock, NULL) != 0)
            goto nomem;
        aws->keys_ready++;
    }
    return aws;
nomem:
    wd_aws_free(aws);
    wd_error_nomem(err);
    return NULL;
}

void wd_aws_stats_get(const struct wd_aws *aws, struct wd_aws_stats *out)
{
    for (int op = 0; op < WD_OP_COUNT; op++)
        out->calls[op] = atomic_load(&aws->calls[op]);
    out->retries = atomic_load(&aws->retries);
    out->attempts_done = atomic_load(&aws->attempts_done);
    out->quota_refusals = atomic_load(&aws->quota_refusals);
    out->throttled = atomic_load(&aws->throttled);
    out->clock_skew_s = atomic_load(&aws->skew_s);
}

unsigned long wd_aws_throttled(const struct wd_aws *aws)
{
    return atomic_load(&aws->throttled);
}

void wd_aws_set_clock_skew(struct wd_aws *aws, long skew_s)
{
    atomic_store(&aws->skew_s, skew_s);
}

/* The signing key for this secret, day and service: from the cache, or derived once and cached. */
static int signing_key(struct wd_aws *aws, const struct wd_aws_call *call, const char *secret, time_t t,
                       unsigned char key[WD_SIGV4_KEY_SIZE], struct wd_error *err)
{
    struct signing_key_cache *k = &aws->keys[call->s3_rules ? 0 : 1];
    char date8[9];
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(date8, sizeof(date8), "%Y%m%d", &tm) != 8)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "cannot format the signing date");
    int rc = 0;
    pthread_mutex_lock(&k->lock);
    if (k->secret == NULL || strcmp(k->date8, date8) != 0 || strcmp(k->secret, secret) != 0) {
        clear_key(k);
        if (wd_sigv4_signing_key(secret, date8, aws->region, call->service, k->key, err) < 0)
            rc = -1;
        else if ((k->secret = strdup(secret)) == NULL)
            rc = wd_error_nomem(err);
        else
            memcpy(k->date8, date8, sizeof(date8));
    }
    if (rc == 0)
        memcpy(key, k->key, WD_SIGV4_KEY_SIZE);
    pthread_mutex_unlock(&k->lock);
    return rc;
}

/* One attempt (the first when !retry); *signed_at is the time the signature carried. */
static int call_once(struct wd_aws *aws, struct wd_http *http, const struct wd_aws_call *call, bool retry,
                     struct wd_http_response *resp, time_t *signed_at, struct wd_error *err)
{
    struct wd_header h[MAX_CALL_HEADERS + 5];
    struct wd_sigv4_result sig = {0};
    struct wd_credentials creds = {0};
    unsigned char key[WD_SIGV4_KEY_SIZE] = {0};
    struct wd_buf url = {0};
    int rc = -1;
    const char *host = call->host ? call->host : call->endpoint->host;

    if (call->n_headers > MAX_CALL_HEADERS)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "too many headers");
    size_t n = 0;
    h[n++] = (struct wd_header){"Host", host};
    for (size_t i = 0; i < call->n_headers; i++)
        h[n++] = call->headers[i];

    struct wd_sigv4_request sreq = {
        .method = call->method,
        .path = call->path,
        .query = call->query,
        .headers = h,
        .n_headers = n,
        .payload = call->body,
        .payload_len = call->body_len,
    };
    time_t now = time(NULL) + atomic_load(&aws->skew_s);
    *signed_at = now;
    /* Per attempt, on this worker: a refresh never blocks the event loop, and a retry picks up new keys. */
    if (wd_credentials_provider_get(aws->creds, &creds, err) < 0 ||
        signing_key(aws, call, creds.secret_access_key ? creds.secret_access_key : "", now, key, err) < 0)
        goto out;
    struct wd_sigv4_params params = {
        .region = aws->region,
        .service = call->service,
        .signing_key = key,
        .time = now,
        .normalize_path = !call->s3_rules,
        .double_encode_path = !call->s3_rules,
        .sign_body = call->s3_rules,
    };
    if (wd_sigv4_sign(&sreq, &creds, &params, &sig, err) < 0)
        goto out;
    h[n++] = (struct wd_header){"X-Amz-Date", sig.amz_date};
    if (sig.content_sha256)
        h[n++] = (struct wd_header){"X-Amz-Content-Sha256", sig.content_sha256};
    if (sig.security_token)
        h[n++] = (struct wd_header){"X-Amz-Security-Token", sig.security_token};
    h[n++] = (struct wd_header){"Authorization", sig.authorization};

    if (wd_buf_printf(&url, "%s://%s%s%s%s", call->endpoint->scheme, host, call->path,
                      call->query && call->query[0] ? "?" : "", call->query ? call->query : "") < 0) {
        wd_error_nomem(err);
        goto out;
    }
    struct wd_http_request hreq = {
        .method = call->method,
        .url = url.data,
        .headers = h,
        .n_headers = n,
        .body = call->body,
        .body_len = call->body_len,
        .max_response = call->max_response,
        .fresh_connection = retry,
    };
    atomic_fetch_add(&aws->calls[call->op], 1);
    int sent = wd_http_send(http, &hreq, resp, err);
    atomic_fetch_add(&aws->attempts_done, 1);
    if (sent < 0)
        goto out;
    if (resp->status >= 200 && resp->status < 300) {
        rc = 0;
        goto out;
    }
    call->classify(resp->status, resp->body.data, resp->body.len, err);
out:
    wd_credentials_clear(&creds);
    OPENSSL_cleanse(key, sizeof(key));
    wd_sigv4_result_clear(&sig);
    wd_buf_free(&url);
    return rc;
}

bool wd_aws_clock_skewed(const struct wd_error *err, const char *date_header, time_t now, long *offset)
{
    static const char *const codes[] = {"RequestTimeTooSkewed", "InvalidSignatureException",
                                        "SignatureDoesNotMatch", "RequestExpired"};
    bool about_time = false;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        about_time |= strcmp(err->code, codes[i]) == 0;
    if (!about_time || date_header == NULL || date_header[0] == '\0')
        return false;
    time_t server = wd_http_parse_date(date_header);
    if (server == (time_t)-1)
        return false;
    long diff = (long)(server - now);
    /* SigV4 allows 15 minutes; a few minutes of offset is not what made this call fail. */
    if (diff > -240 && diff < 240)
        return false;
    *offset = diff;
    return true;
}

int wd_aws_call(struct wd_aws *aws, struct wd_http *http, const struct wd_aws_call *call,
                struct wd_http_response *resp, struct wd_error *err)
{
    struct wd_retry_quota *quota = &aws->quota[call->s3_rules ? 0 : 1];
    int cost = 0;
    for (int attempt = 1;; attempt++) {
        time_t signed_at = 0;
        if (call_once(aws, http, call, attempt > 1, resp, &signed_at, err) == 0) {
            wd_retry_quota_success(quota, cost);
            return 0;
        }
        if (err->cls == WD_ERR_THROTTLED)
            atomic_fetch_add(&aws->throttled, 1);
        long offset;
        /*
         * Judged against the time this attempt was signed with, not the clock now: another worker may
         * have corrected the offset meanwhile. The offset is set, not added to, so two workers
         * correcting at once agree instead of doubling it.
         */
        if (attempt < aws->retry.max_attempts && wd_aws_clock_skewed(err, resp->date, signed_at, &offset)) {
            atomic_store(&aws->skew_s, (long)(signed_at + offset - time(NULL)));
            atomic_fetch_add(&aws->retries, 1);
            continue;
        }
        if (!wd_retry_should(&aws->retry, err, attempt))
            return -1;
        if ((cost = wd_retry_quota_acquire(quota, err)) == 0) {
            atomic_fetch_add(&aws->quota_refusals, 1);
            return -1;
        }
        atomic_fetch_add(&aws->retries, 1);
        wd_http_sleep(http, wd_retry_delay(&aws->retry, attempt));
    }
}
