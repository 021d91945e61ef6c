/*
 * The AWS CLI's credentials chain (static sources, then the container endpoint, then instance metadata)
 * as a provider that hands out copies and refreshes temporary credentials before they expire.
 */
#include "credentials_chain.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "credentials_files.h"
#include "credentials_metadata.h"

/* Refresh temporary credentials when they expire within this many seconds. */
#define REFRESH_WINDOW_S 300
/*
 * No refresh attempt sooner than this after the previous one (or the first fetch): a dead endpoint costs
 * one caller one timeout per period, and a source still handing out the old credentials is not hammered.
 */
#define REFRESH_RETRY_S 10

struct wd_credentials_provider {
    char *profile; /* as given (NULL: the environment's or "default") */
    char *source;  /* NULL until the chain has found credentials; set once, under lock */
    /* Where temporary credentials are refreshed from (NULL: static ones, which never expire); used only
     * by the one refreshing thread. */
    struct wd_metadata_source *endpoint;

    pthread_mutex_t lock;
    pthread_cond_t refreshed;
    int sync_ready; /* 1: lock initialised, 2: refreshed too */
    /* Under lock. */
    struct wd_credentials current;
    bool refreshing;   /* one thread is fetching, without the lock */
    time_t not_before; /* no refresh attempt before this time */
    bool failed;       /* the last attempt failed, with last_error */
    struct wd_error last_error;
};

void wd_credentials_provider_free(struct wd_credentials_provider *p)
{
    if (p == NULL)
        return;
    wd_credentials_clear(&p->current);
    wd_metadata_free(p->endpoint);
    free(p->source);
    free(p->profile);
    if (p->sync_ready >= 2)
        pthread_cond_destroy(&p->refreshed);
    if (p->sync_ready >= 1)
        pthread_mutex_destroy(&p->lock);
    free(p);
}

const char *wd_credentials_provider_source(const struct wd_credentials_provider *p)
{
    return p->source != NULL ? p->source : "none yet";
}

struct wd_credentials_provider *wd_credentials_provider_create(const char *profile, struct wd_error *err)
{
    struct wd_credentials_provider *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        wd_error_nomem(err);
        return NULL;
    }
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto nomem;
    p->sync_ready = 1;
    if (pthread_cond_init(&p->refreshed, NULL) != 0)
        goto nomem;
    p->sync_ready = 2;
    if (profile != NULL && (p->profile = strdup(profile)) == NULL)
        goto nomem;
    return p;
nomem:
    wd_error_nomem(err);
    wd_credentials_provider_free(p);
    return NULL;
}

int wd_credentials_provider_resolve(struct wd_credentials_provider *p, struct wd_error *err)
{
    struct wd_buf source = {0}, tried = {0};
    struct wd_credentials found = {0};
    struct wd_metadata_source *endpoint = NULL;
    pthread_mutex_lock(&p->lock);
    bool have = p->source != NULL;
    pthread_mutex_unlock(&p->lock);
    if (have)
        return 0;

    /* Without the lock: the endpoints may take seconds, and nobody uses a provider without a source. */
    int rc = wd_credentials_files_resolve(p->profile, &found, &source, &tried, err);
    if (rc == 0)
        rc = wd_metadata_container_open(&endpoint, &found, &source, &tried, err);
    if (rc == 0)
        rc = wd_metadata_imds_open(&endpoint, &found, &source, &tried, err);
    if (rc == 0)
        wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "no AWS credentials: %s", tried.data);
    char *name = rc > 0 ? wd_buf_steal(&source) : NULL;
    if (rc > 0 && name == NULL)
        rc = wd_error_nomem(err);
    wd_buf_free(&source);
    wd_buf_free(&tried);
    if (rc <= 0) {
        wd_credentials_clear(&found);
        wd_metadata_free(endpoint);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    p->current = found;
    p->endpoint = endpoint;
    p->source = name;
    /* A source that hands out credentials already within the window is not asked again at once. */
    p->not_before = wd_credentials_wall_now() + REFRESH_RETRY_S;
    pthread_mutex_unlock(&p->lock);
    return 1;
}

struct wd_credentials_provider *wd_credentials_provider_new(const char *profile, struct wd_error *err)
{
    struct wd_credentials_provider *p = wd_credentials_provider_create(profile, err);
    if (p != NULL && wd_credentials_provider_resolve(p, err) < 0) {
        wd_credentials_provider_free(p);
        return NULL;
    }
    return p;
}

int wd_credentials_provider_get(struct wd_credentials_provider *p, struct wd_credentials *out,
                                struct wd_error *err)
{
    int rc;
    pthread_mutex_lock(&p->lock);
    if (p->source == NULL) {
        pthread_mutex_unlock(&p->lock);
        return wd_error_set(err, WD_ERR_AUTH, 0, "NoCredentials", "no AWS credentials yet");
    }
    for (;;) {
        time_t now = wd_credentials_wall_now();
        time_t exp = p->current.expiration;
        bool expired = exp != 0 && exp <= now;
        bool due =
            exp != 0 && exp - now <= REFRESH_WINDOW_S && (now >= p->not_before || (expired && !p->failed));

        if (due && !p->refreshing) {
            /* This thread refreshes; the others keep using the current copy meanwhile. */
            struct wd_credentials fresh = {0};
            struct wd_error why = {0};
            p->refreshing = true;
            pthread_mutex_unlock(&p->lock);
            int fetched = wd_metadata_fetch(p->endpoint, &fresh, &why);
            pthread_mutex_lock(&p->lock);
            p->refreshing = false;
            p->not_before = wd_credentials_wall_now() + REFRESH_RETRY_S;
            p->failed = fetched < 0;
            if (fetched == 0) {
                wd_credentials_clear(&p->current);
                p->current = fresh;
            } else {
                p->last_error = why;
            }
            pthread_cond_broadcast(&p->refreshed);
            continue; /* not due any more: take what there is now */
        }
        if (!expired) {
            rc = wd_credentials_copy(&p->current, out) < 0 ? wd_error_nomem(err) : 0;
            break;
        }
        if (p->refreshing) { /* expired: nothing to use until the refresh ends */
            pthread_cond_wait(&p->refreshed, &p->lock);
            continue;
        }
        if (p->failed) {
            if (err != NULL)
                *err = p->last_error;
            rc = -1;
        } else {
            rc = wd_error_set(err, WD_ERR_TRANSIENT, 0, NULL, "the credentials from %s have expired",
                              p->source);
        }
        break;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}
