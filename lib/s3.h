/* S3 REST operations the daemon needs: ListObjectsV2, GetObject, HeadObject, PutObject, DeleteObject,
 * CopyObject. */
#ifndef WD_S3_H
#define WD_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "aws.h"
#include "buf.h"
#include "error.h"
#include "http.h"
#include "s3_xml.h"

/* Where S3 is and how buckets are addressed. */
struct wd_s3 {
    struct wd_endpoint endpoint;
    bool path_style; /* false: virtual-hosted (bucket.host), when the bucket name allows it */
};

/*
 * The Host header and the URI-encoded path for (bucket, key); key may be NULL (bucket-level calls).
 * Each key byte outside the unreserved set is %-encoded once; '/' and "."/".." segments are kept.
 * Virtual-hosted addressing is used only for DNS-compatible bucket names without dots (TLS wildcards
 * do not cover dotted names); others fall back to path style, as the AWS SDKs do.
 */
int wd_s3_address(const struct wd_s3 *s3, const char *bucket, const char *key, struct wd_buf *host,
                  struct wd_buf *path);

/*
 * The ListObjectsV2 query string (encoded) for these parameters, always with encoding-type=url; NULL/""
 * parameters are left out. token is a wd_s3_list next_token (s3_xml.h): "after this key" becomes
 * start-after (the later of it and start_after), a server's token continuation-token. A token without
 * either tag is sent as a continuation-token as it is.
 */
int wd_s3_list_query(const char *prefix, const char *start_after, const char *token, int max_keys,
                     struct wd_buf *out);

/*
 * One page of keys under prefix, after start_after, from token (a previous page's next_token) on. Keys
 * are byte-exact (URL-encoded on the wire). A page that cannot be used, or lists more than max_keys
 * keys, fails with WD_ERR_TRANSIENT.
 */
int wd_s3_list(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
               const char *prefix, const char *start_after, const char *token, int max_keys,
               struct wd_s3_list *out, struct wd_error *err);

/* The size of an ETag as kept: the http response's (quotes included; "" when absent or too long). */
#define WD_S3_ETAG_SIZE sizeof(((struct wd_http_response *)0)->etag)

/*
 * Fills body (replacing its contents) and, when etag is not NULL, the object's ETag (for a conditional
 * DELETE of exactly what was read). A body over max bytes fails with code "ResponseTooLarge".
 */
int wd_s3_get(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
              const char *key, size_t max, struct wd_buf *body, char etag[WD_S3_ETAG_SIZE],
              struct wd_error *err);

/* 0 when the object exists, -1 with WD_ERR_NOT_FOUND when it does not. */
int wd_s3_head(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
               const char *key, struct wd_error *err);

/* wd_s3_head() that also fills etag (when not NULL) with the object's ETag, for a conditional write. */
int wd_s3_head_etag(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
                    const char *key, char etag[WD_S3_ETAG_SIZE], struct wd_error *err);

/* meta: user metadata (names without the x-amz-meta- prefix), n_meta of them (may be 0). */
int wd_s3_put(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
              const char *key, const void *body, size_t len, const char *content_type,
              const struct wd_header *meta, size_t n_meta, struct wd_error *err);

/*
 * A conditional PutObject (no metadata): if_match non-empty sends If-Match (the object must exist with
 * that ETag), if_none_match sends If-None-Match: * (no object may exist); not both. A failed condition is
 * WD_ERR_CONDITION (412 PreconditionFailed, 409 ConditionalRequestConflict) or, when the object is gone,
 * WD_ERR_NOT_FOUND (404), and nothing is written. A server that ignores the headers writes anyway.
 */
int wd_s3_put_if(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
                 const char *key, const void *body, size_t len, const char *content_type,
                 const char *if_match, bool if_none_match, struct wd_error *err);

/*
 * if_match: NULL or "" for an unconditional DELETE; else the ETag the object must still have, or the
 * call fails with WD_ERR_CONDITION (412) and the object stays. S3 honours If-Match on DELETE; a server
 * that ignores it deletes unconditionally, as before.
 */
int wd_s3_delete(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *bucket,
                 const char *key, const char *if_match, struct wd_error *err);

/* Server-side copy with the metadata replaced by meta (names without the x-amz-meta- prefix). */
int wd_s3_copy(struct wd_aws *aws, struct wd_http *http, const struct wd_s3 *s3, const char *src_bucket,
               const char *src_key, const char *dst_bucket, const char *dst_key, const struct wd_header *meta,
               size_t n_meta, struct wd_error *err);

#endif
