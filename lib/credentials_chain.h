/* The AWS CLI's credentials chain as a provider: resolved once, refreshed before expiry, thread-safe. */
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

#endif
