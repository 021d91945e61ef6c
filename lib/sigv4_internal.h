/* The SigV4 stages behind wd_sigv4_sign(), exposed so tests can check each one against the vectors. */
#ifndef WD_SIGV4_INTERNAL_H
#define WD_SIGV4_INTERNAL_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "credentials.h"
#include "error.h"
#include "sigv4.h"

/* "20150830T123600Z" plus the NUL. */
#define WD_SIGV4_AMZ_DATE_SIZE 17
/* Lowercase hex of a SHA-256 digest plus the NUL. */
#define WD_SIGV4_HEX_SIZE 65

/* Formats t as the X-Amz-Date value. Fails (WD_ERR_INTERNAL) for times outside years 0000-9999. */
int wd_sigv4_amz_date(time_t t, char out[WD_SIGV4_AMZ_DATE_SIZE], struct wd_error *err);

/*
 * Stage 1: appends the canonical request to creq and the SignedHeaders value to signed_headers, using
 * amz_date (borrowed, from wd_sigv4_amz_date()) as the x-amz-date header. Both buffers are owned by the
 * caller and normally empty; on failure neither is changed and err says why (WD_ERR_INTERNAL for a
 * malformed request, WD_ERR_NOMEM).
 */
int wd_sigv4_canonical_request(const struct wd_sigv4_request *req, const struct wd_credentials *creds,
                               const struct wd_sigv4_params *params, const char *amz_date,
                               struct wd_buf *creq, struct wd_buf *signed_headers, struct wd_error *err);

/* Stage 2: appends the string to sign for creq[0..creq_len) to sts (owned by the caller; unchanged on
 * failure). */
int wd_sigv4_string_to_sign(const struct wd_sigv4_params *params, const char *amz_date, const char *creq,
                            size_t creq_len, struct wd_buf *sts, struct wd_error *err);

/*
 * Stage 3: derives the signing key from the secret and the scope (amz_date's day, region, service) and
 * writes the lowercase hex HMAC-SHA256 of sts[0..sts_len) to sig_hex. Every intermediate key is wiped.
 * sig_hex is untouched on failure.
 */
int wd_sigv4_signature(const struct wd_credentials *creds, const struct wd_sigv4_params *params,
                       const char *amz_date, const char *sts, size_t sts_len, char sig_hex[WD_SIGV4_HEX_SIZE],
                       struct wd_error *err);

#endif
