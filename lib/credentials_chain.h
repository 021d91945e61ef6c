/* The AWS CLI's credentials chain as a provider: resolved until found, refreshed before expiry, thread-safe.
 */
#ifndef WD_CREDENTIALS_CHAIN_H
#define WD_CREDENTIALS_CHAIN_H

#include "credentials.h"
#include "error.h"

/*
 * The whole chain, refreshed: the static sources of credentials_files.h, then the container endpoint,
 * then EC2 instance metadata, IMDSv2 only (credentials_metadata.h).
 */
struct wd_credentials_provider;

/*
 * An empty provider for the profile (NULL: AWS_PROFILE, else "default"): no I/O, no credentials yet.
 * Returns NULL only when out of memory.
 */
struct wd_credentials_provider *wd_credentials_provider_create(const char *profile, struct wd_error *err);

/*
 * Looks for credentials along the chain, unless the provider already has some: reads the environment
 * and files, and may call the container and instance metadata endpoints (each bounded by its timeouts).
 * Needs wd_http_global_init(). Returns 1 when it found them now, 0 when the provider already had them,
 * -1 with err when none were found: WD_ERR_CONFIG when no source has credentials (the message lists what
 * was tried) or one is unusable, WD_ERR_TRANSIENT when the container or instance metadata endpoint that
 * should answer did not. A failure changes nothing: call it again later (the caller owns the timing).
 * Not concurrently with itself.
 */
int wd_credentials_provider_resolve(struct wd_credentials_provider *p, struct wd_error *err);

/* create() + resolve(): a provider that has credentials, or NULL with resolve()'s err. */
struct wd_credentials_provider *wd_credentials_provider_new(const char *profile, struct wd_error *err);

/*
 * Copies the current credentials into out (returns owned: the caller wd_credentials_clear()s them).
 * Temporary credentials are refreshed first when they expire within 5 minutes, by one caller at a time;
 * the others keep getting the current copy meanwhile and only wait when it has already expired. A failed
 * refresh keeps credentials that are still valid (and returns 0) and is retried 10 s later at the
 * earliest. Returns -1 with err (out untouched) only when the credentials have expired and could not be
 * renewed (WD_ERR_TRANSIENT when the endpoint failed to answer or answered 5xx), or when the provider has
 * found none yet (WD_ERR_AUTH, code "NoCredentials"). Thread-safe.
 */
int wd_credentials_provider_get(struct wd_credentials_provider *p, struct wd_credentials *out,
                                struct wd_error *err);

/*
 * Where the credentials come from, for the log: "environment", "shared credentials file /path (profile
 * x)", "config file /path (profile x)", "container endpoint http://169.254.170.2", "instance metadata
 * (role r)"; "none yet" before resolve() found any. Never a secret. Valid until the provider is freed.
 */
const char *wd_credentials_provider_source(const struct wd_credentials_provider *p);

/* Wipes and frees; accepts NULL. No other thread may be inside wd_credentials_provider_get(). */
void wd_credentials_provider_free(struct wd_credentials_provider *p);

#endif
