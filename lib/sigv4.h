/* AWS Signature Version 4: a pure function of (request, credentials, region, service, time). */
#ifndef WD_SIGV4_H
#define WD_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "credentials.h"
#include "error.h"
#include "header.h"

/* The request to sign; everything borrowed. */
struct wd_sigv4_request {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* the path exactly as sent on the wire (already URI-encoded), e.g. "/b/my%20key" */
    const char *query;  /* the query string as sent, without '?', already encoded; NULL or "" for none */
    const struct wd_header *headers; /* as sent; "host" must be present */
    size_t n_headers;
    const void *payload; /* body; hashed unless payload_hash is given */
    size_t payload_len;
    const char *payload_hash; /* lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"; NULL: compute */
};

struct wd_sigv4_params {
    const char *region;  /* "us-east-1" */
    const char *service; /* "s3", "dynamodb" */
    time_t time;         /* signing time, UTC seconds (the caller applies any clock-skew offset) */
    /* S3 rules: false, false. Every other service: true, true. */
    bool normalize_path;     /* remove "." / ".." segments and duplicate slashes before encoding */
    bool double_encode_path; /* URI-encode the wire path once more for the canonical request */
    bool sign_body;          /* add and sign x-amz-content-sha256 (S3 requires it) */
    bool omit_session_token; /* add X-Amz-Security-Token after signing, unsigned (STS style) */
    /* The key wd_sigv4_signing_key() derived for this secret, day, region and service, or NULL. Borrowed. */
    const unsigned char *signing_key;
};

#define WD_SIGV4_KEY_SIZE 32

/*
 * The signing key of a secret for one day (date8: "YYYYMMDD", or an X-Amz-Date, of which the first 8
 * characters count), region and service. It is as sensitive as the secret for that scope: wipe it.
 */
int wd_sigv4_signing_key(const char *secret, const char *date8, const char *region, const char *service,
                         unsigned char key[WD_SIGV4_KEY_SIZE], struct wd_error *err);

/* The headers to add to the request. Owned by the result; free with wd_sigv4_result_clear(). */
struct wd_sigv4_result {
    char *amz_date;       /* X-Amz-Date value, "20150830T123600Z" */
    char *content_sha256; /* X-Amz-Content-Sha256 value when sign_body, else NULL */
    char *security_token; /* X-Amz-Security-Token value when the credentials have one, else NULL */
    char *authorization;  /* Authorization value */
};

/*
 * Signs req. On success fills out and returns 0; on failure returns -1 with err set (class
 * WD_ERR_INTERNAL for a malformed request, WD_ERR_NOMEM) and leaves out zeroed. Never logs, never
 * reads the clock or the environment.
 */
int wd_sigv4_sign(const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                  const struct wd_sigv4_params *params, struct wd_sigv4_result *out, struct wd_error *err);

/* Frees and wipes (the Authorization value is derived from the secret). Accepts a zeroed result. */
void wd_sigv4_result_clear(struct wd_sigv4_result *r);

/* Lowercase hex SHA-256 of data into hex[65]. */
void wd_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
