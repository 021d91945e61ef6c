/* The static credential sources: the environment, then the shared credentials and config files. */
#ifndef WD_CREDENTIALS_FILES_H
#define WD_CREDENTIALS_FILES_H

#include "buf.h"
#include "credentials.h"
#include "error.h"

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

/*
 * The same, as one source of a longer chain (credentials_source.h): returns 1 with out filled and
 * source ("environment", "shared credentials file /path (profile x)", "config file /path (profile x)")
 * appended; 0 when none of them has keys, with "; "-separated notes on each appended to tried; -1 with
 * err (out untouched).
 */
int wd_credentials_files_resolve(const char *profile, struct wd_credentials *out, struct wd_buf *source,
                                 struct wd_buf *tried, struct wd_error *err);

#endif
