/* The credentials value: copying it, and wiping every secret string before its memory is freed. */
#include "credentials.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static time_t (*clock_now)(void);

void wd_credentials_set_clock_for_tests(time_t (*now)(void))
{
    clock_now = now;
}

time_t wd_credentials_wall_now(void)
{
    return clock_now != NULL ? clock_now() : time(NULL);
}

void wd_credentials_free_secret(char **s)
{
    if (*s != NULL) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void wd_credentials_clear(struct wd_credentials *c)
{
    if (c == NULL)
        return;
    wd_credentials_free_secret(&c->access_key_id);
    wd_credentials_free_secret(&c->secret_access_key);
    wd_credentials_free_secret(&c->session_token);
    c->expiration = 0;
}

int wd_credentials_copy(const struct wd_credentials *src, struct wd_credentials *dst)
{
    struct wd_credentials c = {.expiration = src->expiration};
    c.access_key_id = strdup(src->access_key_id);
    c.secret_access_key = strdup(src->secret_access_key);
    if (src->session_token != NULL)
        c.session_token = strdup(src->session_token);
    if (c.access_key_id == NULL || c.secret_access_key == NULL ||
        (src->session_token != NULL && c.session_token == NULL)) {
        wd_credentials_clear(&c);
        return -1;
    }
    *dst = c;
    return 0;
}
