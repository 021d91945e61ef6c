/* S3 operations: addressing, query building and one function per REST call. */
#include "s3.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "aws_error.h"
#include "uri.h"

static bool dns_compatible(const char *bucket)
{
    size_t len = strlen(bucket);
    if (len < 3 || len > 63)
        return false;
    for (const char *p = bucket; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return bucket[0] != '-' && bucket[len - 1] != '-';
}

int wd_s3_address(const struct wd_s3 *s3, const char *bucket, const char *key, struct wd_buf *host,
                  struct wd_buf *path)
{
    bool virtual_hosted = !s3->path_style && dns_compatible(bucket);
    int rc = 0;
    if (virtual_hosted) {
        rc |= wd_buf_printf(host, "%s.%s", bucket, s3->endpoint.host);
        rc |= wd_buf_append_char(path, '/');
    } else {
        rc |= wd_buf_append_str(host, s3->endpoint.host);
        rc |= wd_buf_append_char(path, '/');
        rc |= wd_uri_encode(path, bucket, strlen(bucket), false);
        if (key != NULL)
            rc |= wd_buf_append_char(path, '/');
    }
    if (key != NULL)
        rc |= wd_uri_encode(path, key, strlen(key), true);
    return rc < 0 ? -1 : 0;
}

static int add_param(struct wd_buf *q, const char *name, const char *value)
{
    if (q->len > 0 && wd_buf_append_char(q, '&') < 0)
        return -1;
    if (wd_buf_append_str(q, name) < 0 || wd_buf_append_char(q, '=') < 0)
        return -1;
    return wd_uri_encode(q, value, strlen(value), false);
}

int wd_s3_list_query(const char *prefix, const char *start_after, const char *token, int max_keys,
                     struct wd_buf *out)
{
    char mk[16];
    snprintf(mk, sizeof(mk), "%d", max_keys);
    const char *server_token = NULL;
    if (token && *token) {
        if (token[0] == WD_S3_TOKEN_AFTER_KEY) {
            /* Start after the later of the two: after both, as the caller asked. */
            if (!(start_after && *start_after && strcmp(start_after, token + 1) > 0))
                start_after = token + 1;
        } else {
            server_token = token[0] == WD_S3_TOKEN_SERVER ? token + 1 : token;
        }
    }
    /* Parameters in sorted order, so the query sent is already the canonical one. */
    if (server_token && *server_token && add_param(out, "continuation-token", server_token) < 0)
        return -1;
    /*
     * Always URL-encoded keys: XML 1.0 cannot carry some characters a key may hold (U+0001, U+FFFE, ...)
     * and turns a CR into a LF, so without it one such key spoils a page or is listed as another key.
     */
    if (add_param(out, "encoding-type", "url") < 0)
        return -1;
    if (add_param(out, "list-type", "2") < 0 || add_param(out, "max-keys", mk) < 0)
        return -1;
    if (prefix && *prefix && add_param(out, "prefix", prefix) < 0)
        return -1;
    if (start_after && *start_after && add_param(out, "start-after", start_after) < 0)
        return -1;
    return 0;
}

/* One S3 call on (bucket, key): addressing, then sign/send/classify/retry. */
static int s3_call(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, enum wd_op op,
                   const char *method, const char *bucket, const char *key, const char *query,
                   const struct wd_header *headers, size_t n_headers, const void *body, size_t len,
                   size_t max_response, struct wd_http_response *resp, struct wd_error *err)
{
    struct wd_buf host = {0}, path = {0};
    int rc = -1;
    if (wd_s3_address(s3, bucket, key, &host, &path) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    struct wd_aws_call call = {
        .op = op,
        .service = "s3",
        .s3_rules = true,
        .method = method,
        .endpoint = &s3->endpoint,
        .host = host.data,
        .path = path.data,
        .query = query,
        .headers = headers,
        .n_headers = n_headers,
        .body = body,
        .body_len = len,
        .max_response = max_response,
        .classify = wd_s3_error_from_response,
    };
    rc = wd_aws_call(aws, http, &call, resp, err);
out:
    wd_buf_free(&host);
    wd_buf_free(&path);
    return rc;
}

int wd_s3_list(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
               const char *prefix, const char *start_after, const char *token, int max_keys,
               struct wd_s3_list *out, struct wd_error *err)
{
    struct wd_buf q = {0};
    struct wd_http_response resp = {0};
    int rc = -1;
    if (wd_s3_list_query(prefix, start_after, token, max_keys, &q) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    if (s3_call(aws, http, s3, WD_OP_S3_LIST, "GET", bucket, NULL, q.data, NULL, 0, NULL, 0, 0, &resp, err) <
        0)
        goto out;
    rc = wd_s3_list_parse(resp.body.data ? resp.body.data : "", resp.body.len, out, err);
    /* More keys than asked for is a server's (or a proxy's) fault: the caller sized for max_keys. */
    if (rc == 0 && max_keys > 0 && out->n_keys > (size_t)max_keys) {
        size_t n = out->n_keys;
        wd_s3_list_clear(out);
        rc = wd_error_set(err, WD_ERR_TRANSIENT, resp.status, NULL,
                          "ListObjectsV2 response lists %zu keys, more than the %d asked for", n, max_keys);
    }
out:
    wd_buf_free(&q);
    wd_http_response_clear(&resp);
    return rc;
}

int wd_s3_get(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
              const char *key, size_t max, struct wd_buf *body, char etag[WD_S3_ETAG_SIZE],
              struct wd_error *err)
{
    struct wd_http_response resp = {0};
    int rc =
        s3_call(aws, http, s3, WD_OP_S3_GET, "GET", bucket, key, NULL, NULL, 0, NULL, 0, max, &resp, err);
    if (rc == 0) {
        wd_buf_free(body);
        *body = resp.body;
        resp.body = (struct wd_buf){0};
        if (etag != NULL)
            memcpy(etag, resp.etag, WD_S3_ETAG_SIZE);
    }
    wd_http_response_clear(&resp);
    return rc;
}

int wd_s3_head(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
               const char *key, struct wd_error *err)
{
    return wd_s3_head_etag(aws, http, s3, bucket, key, NULL, err);
}

int wd_s3_head_etag(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
                    const char *key, char etag[WD_S3_ETAG_SIZE], struct wd_error *err)
{
    struct wd_http_response resp = {0};
    int rc =
        s3_call(aws, http, s3, WD_OP_S3_HEAD, "HEAD", bucket, key, NULL, NULL, 0, NULL, 0, 0, &resp, err);
    if (rc == 0 && etag != NULL)
        memcpy(etag, resp.etag, WD_S3_ETAG_SIZE);
    wd_http_response_clear(&resp);
    return rc;
}

int wd_s3_delete(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
                 const char *key, const char *if_match, struct wd_error *err)
{
    struct wd_http_response resp = {0};
    struct wd_header cond = {"If-Match", if_match};
    bool conditional = if_match != NULL && if_match[0] != '\0';
    int rc = s3_call(aws, http, s3, WD_OP_S3_DELETE, "DELETE", bucket, key, NULL, conditional ? &cond : NULL,
                     conditional ? 1 : 0, NULL, 0, 0, &resp, err);
    wd_http_response_clear(&resp);
    return rc;
}

#define MAX_META 8

/* Appends "X-Amz-Meta-<name>: value" headers to h[*n]; the names are built in names[]. */
static int add_meta(const struct wd_header *meta, size_t n_meta, struct wd_buf names[MAX_META],
                    struct wd_header *h, size_t *n, struct wd_error *err)
{
    if (n_meta > MAX_META)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "too many metadata entries");
    for (size_t i = 0; i < n_meta; i++) {
        if (wd_buf_printf(&names[i], "X-Amz-Meta-%s", meta[i].name) < 0)
            return wd_error_nomem(err);
        h[(*n)++] = (struct wd_header){names[i].data, meta[i].value};
    }
    return 0;
}

static void free_meta(struct wd_buf names[MAX_META])
{
    for (size_t i = 0; i < MAX_META; i++)
        wd_buf_free(&names[i]);
}

/* PutObject with metadata and at most one condition header (cond: If-Match or If-None-Match, or NULL). */
static int put(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
               const char *key, const void *body, size_t len, const char *content_type,
               const struct wd_header *meta, size_t n_meta, const struct wd_header *cond,
               struct wd_error *err)
{
    struct wd_http_response resp = {0};
    struct wd_buf names[MAX_META] = {{0}};
    struct wd_header h[2 + MAX_META];
    size_t n = 0;
    int rc = -1;
    h[n++] = (struct wd_header){"Content-Type", content_type};
    if (cond != NULL)
        h[n++] = *cond;
    if (add_meta(meta, n_meta, names, h, &n, err) == 0)
        rc = s3_call(aws, http, s3, WD_OP_S3_PUT, "PUT", bucket, key, NULL, h, n, body, len, 0, &resp, err);
    free_meta(names);
    wd_http_response_clear(&resp);
    return rc;
}

int wd_s3_put(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
              const char *key, const void *body, size_t len, const char *content_type,
              const struct wd_header *meta, size_t n_meta, struct wd_error *err)
{
    return put(aws, http, s3, bucket, key, body, len, content_type, meta, n_meta, NULL, err);
}

int wd_s3_put_if(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
                 const char *key, const void *body, size_t len, const char *content_type,
                 const char *if_match, bool if_none_match, struct wd_error *err)
{
    bool match = if_match != NULL && if_match[0] != '\0';
    if (match && if_none_match)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "a PUT cannot be both If-Match and If-None-Match");
    struct wd_header cond =
        match ? (struct wd_header){"If-Match", if_match} : (struct wd_header){"If-None-Match", "*"};
    return put(aws, http, s3, bucket, key, body, len, content_type, NULL, 0,
               match || if_none_match ? &cond : NULL, err);
}

int wd_s3_copy(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *src_bucket,
               const char *src_key, const char *dst_bucket, const char *dst_key, const struct wd_header *meta,
               size_t n_meta, struct wd_error *err)
{
    struct wd_http_response resp = {0};
    struct wd_buf source = {0};
    struct wd_buf names[MAX_META] = {{0}};
    struct wd_header h[3 + MAX_META];
    int rc = -1;

    if (wd_buf_append_char(&source, '/') < 0 ||
        wd_uri_encode(&source, src_bucket, strlen(src_bucket), false) < 0 ||
        wd_buf_append_char(&source, '/') < 0 || wd_uri_encode(&source, src_key, strlen(src_key), true) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    size_t n = 0;
    h[n++] = (struct wd_header){"Content-Type", "application/json"};
    h[n++] = (struct wd_header){"X-Amz-Copy-Source", source.data};
    h[n++] = (struct wd_header){"X-Amz-Metadata-Directive", "REPLACE"};
    if (add_meta(meta, n_meta, names, h, &n, err) < 0)
        goto out;
    if (s3_call(aws, http, s3, WD_OP_S3_COPY, "PUT", dst_bucket, dst_key, NULL, h, n, NULL, 0, 0, &resp,
                err) < 0)
        goto out;
    /* CopyObject can fail after its 200 status line: the error is then in the body. */
    if (resp.body.len > 0 && wd_s3_body_is_error(resp.body.data, resp.body.len)) {
        wd_s3_error_from_response(500, resp.body.data, resp.body.len, err);
        goto out;
    }
    rc = 0;
out:
    free_meta(names);
    wd_buf_free(&source);
    wd_http_response_clear(&resp);
    return rc;
}
