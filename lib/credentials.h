/* AWS credentials and where they come from: the AWS CLI's chain, and a provider that refreshes them. */
#ifndef WD_CREDENTIALS_H
#define WD_CREDENTIALS_H

#include <time.h>

#include "error.h"

/* Owns its strings; wd_credentials_clear() wipes them. session_token may be NULL. */
struct wd_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    time_t expiration; /* when they stop working (UTC seconds), 0 = never */
};

/*
 * Resolves the static sources in the AWS CLI's order: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN; then the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 * ~/.aws/credentials; $CREDENTIALS_DIRECTORY/aws-credentials when systemd passed one); then the config
 * file (AWS_CONFIG_FILE, default ~/.aws/config: [default] or [profile NAME] with static keys), both with
 * the profile `profile` (NULL or "": AWS_PROFILE, else "default"). A profile that names a source widgetd
 * does not support (role_arn, source_profile, credential_process, sso_*, web identity) is an error rather
 * than a reason to use another identity. On failure out is untouched and err has class WD_ERR_CONFIG
 * with a message that names what was tried (files, profile) but never a secret.
 */
int wd_credentials_load(const char *profile, struct wd_credentials *out, struct wd_error *err);

/* Wipes (OPENSSL_cleanse) and frees; accepts a zeroed or half-filled struct. */
void wd_credentials_clear(struct wd_credentials *c);

/*
 * The whole chain, refreshed: the static sources above, then the container endpoint
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI under http://169.254.170.2, or AWS_CONTAINER_CREDENTIALS_FULL_URI
 * when https or on loopback; Authorization from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, re-read at each
 * refresh, else AWS_CONTAINER_AUTHORIZATION_TOKEN), then EC2 instance metadata, IMDSv2 only
 * (AWS_EC2_METADATA_DISABLED=true skips it; AWS_EC2_METADATA_SERVICE_ENDPOINT moves it). The metadata
 * calls use a 1 s connect and 2 s total timeout.
 */
struct wd_credentials_provider;

/*
 * Resolves the chain once, so that start-up reports a clear error. Reads the environment and files now;
 * borrows nothing after return. Needs wd_http_global_init(). Returns the provider, or NULL with err:
 * WD_ERR_CONFIG when no source has credentials (the message lists what was tried) or one is unusable,
 * WD_ERR_TRANSIENT when the container or instance metadata endpoint that should answer did not.
 */
struct wd_credentials_provider *wd_credentials_provider_new(const char *profile, struct wd_error *err);

/*
 * Copies the current credentials into out (returns owned: the caller wd_credentials_clear()s them).
 * Temporary credentials are refreshed first when they expire within 5 minutes, by one caller at a time;
 * the others keep getting the current copy meanwhile and only wait when it has already expired. A failed
 * refresh keeps credentials that are still valid (and returns 0) and is retried 10 s later at the
 * earliest. Returns -1 with err (out untouched) only when the credentials have expired and could not be
 * renewed: WD_ERR_TRANSIENT when the endpoint failed to answer or answered 5xx. Thread-safe.
 */
int wd_credentials_provider_get(struct wd_credentials_provider *p, struct wd_credentials *out,
                                struct wd_error *err);

/*
 * Where the credentials come from, for the log: "environment", "shared credentials file /path (profile
 * x)", "config file /path (profile x)", "container endpoint http://169.254.170.2", "instance metadata
 * (role r)". Never a secret. Valid until the provider is freed.
 */
const char *wd_credentials_provider_source(const struct wd_credentials_provider *p);

/* Wipes and frees; accepts NULL. No other thread may be inside wd_credentials_provider_get(). */
void wd_credentials_provider_free(struct wd_credentials_provider *p);

/*
 * For tests only, called before any provider exists: the container endpoint's base instead of
 * "http://169.254.170.2" (NULL restores it), and the clock (NULL restores time()).
 */
void wd_credentials_set_container_host_for_tests(const char *base);
void wd_credentials_set_clock_for_tests(time_t (*now)(void));

#endif
