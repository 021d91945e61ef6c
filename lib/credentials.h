/* AWS credentials as a value: a key pair, an optional session token and their expiry, wiped when cleared. */
#ifndef WD_CREDENTIALS_H
#define WD_CREDENTIALS_H

#include <time.h>

/* Owns its strings; wd_credentials_clear() wipes them. session_token may be NULL. */
struct wd_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    time_t expiration; /* when they stop working (UTC seconds, by wd_credentials_wall_now()), 0 = never */
};

/* Wipes (OPENSSL_cleanse) and frees; accepts NULL, a zeroed or a half-filled struct. */
void wd_credentials_clear(struct wd_credentials *c);

/* Copies src into dst (returns owned). Returns 0, or -1 when out of memory with dst untouched. */
int wd_credentials_copy(const struct wd_credentials *src, struct wd_credentials *dst);

/* Wipes and frees a string that held a secret, then sets *s to NULL; accepts *s == NULL. */
void wd_credentials_free_secret(char **s);

/* The wall clock that expirations are judged by: time(), or the clock a test set. */
time_t wd_credentials_wall_now(void);

/* For tests only, called before any credentials are fetched: the clock (NULL restores time()). */
void wd_credentials_set_clock_for_tests(time_t (*now)(void));

#endif
