/* AWS credentials from a metadata endpoint over HTTP: the container endpoint, or EC2 instance metadata. */
#ifndef WD_CREDENTIALS_METADATA_H
#define WD_CREDENTIALS_METADATA_H

#include "buf.h"
#include "credentials.h"
#include "error.h"

/*
 * One endpoint that hands out temporary credentials, with its own HTTP client (1 s connect and 2 s total
 * timeouts, never a proxy). Not thread-safe: one caller at a time. Needs wd_http_global_init().
 */
struct wd_metadata_source;

/*
 * The container endpoint (ECS, EKS Pod Identity, local emulators): AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 * under http://169.254.170.2, or AWS_CONTAINER_CREDENTIALS_FULL_URI when https or on loopback;
 * Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, re-read at each fetch, else
 * AWS_CONTAINER_AUTHORIZATION_TOKEN. Reads the environment and asks the endpoint once, as a source of the
 * chain (credentials_source.h): 1 with *src (owned), out and source ("container endpoint ORIGIN") filled;
 * 0 with a note in tried when the environment names no endpoint; -1 with err, also when it names one that
 * fails (WD_ERR_CONFIG when unusable, WD_ERR_TRANSIENT when it did not answer or answered 5xx).
 */
int wd_metadata_container_open(struct wd_metadata_source **src, struct wd_credentials *out,
                               struct wd_buf *source, struct wd_buf *tried, struct wd_error *err);

/*
 * EC2 instance metadata, IMDSv2 only (AWS_EC2_METADATA_DISABLED=true skips it;
 * AWS_EC2_METADATA_SERVICE_ENDPOINT moves it), asked once, as a source of the chain: 1 with *src (owned),
 * out and source ("instance metadata (role r)") filled; 0 with a note in tried when it is disabled, does
 * not answer, or has no credentials to give; -1 with err.
 */
int wd_metadata_imds_open(struct wd_metadata_source **src, struct wd_credentials *out, struct wd_buf *source,
                          struct wd_buf *tried, struct wd_error *err);

/*
 * Asks the endpoint again (a refresh). Returns 0 with out filled (owned), or -1 with err: WD_ERR_TRANSIENT
 * when it failed to answer or answered 5xx or 429.
 */
int wd_metadata_fetch(struct wd_metadata_source *src, struct wd_credentials *out, struct wd_error *err);

/* Frees; accepts NULL. */
void wd_metadata_free(struct wd_metadata_source *src);

/* For tests only, called before any source exists: the container endpoint's base instead of
 * "http://169.254.170.2" (NULL restores it). */
void wd_credentials_set_container_host_for_tests(const char *base);

#endif
