/* AWS credentials and where they come from: the environment, then the shared credentials file. */
#ifndef WD_CREDENTIALS_H
#define WD_CREDENTIALS_H

#include "error.h"

/* Owns its strings; wd_credentials_clear() wipes them. session_token may be NULL. */
struct wd_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
};

/*
 * Resolves credentials in the AWS CLI's order: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN, then the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 * ~/.aws/credentials; $CREDENTIALS_DIRECTORY/aws-credentials when systemd passed one) with the profile
 * `profile` (NULL: AWS_PROFILE, else "default"). On failure out is untouched and err has class
 * WD_ERR_CONFIG with a message that names the file and profile but never a secret.
 */
int wd_credentials_load(const char *profile, struct wd_credentials *out, struct wd_error *err);

/* Wipes (OPENSSL_cleanse) and frees; accepts a zeroed or half-filled struct. */
void wd_credentials_clear(struct wd_credentials *c);

#endif
