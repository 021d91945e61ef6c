/* Waiting for AWS credentials: one look along the chain per call, the episode logged at its edges. */
#include "credentials_wait.h"

#include <stdio.h>

#include "log.h"

bool wd_credentials_wait_check(struct wd_credentials_wait *w, struct wd_credentials_provider *p)
{
    struct wd_error err = {0};
    int rc = wd_credentials_provider_resolve(p, &err);
    if (rc == 0)
        return true;
    if (rc > 0) {
        if (w->waiting)
            wd_log(LOG_NOTICE, "AWS credentials found after %u looks: from %s; polling", w->tries,
                   wd_credentials_provider_source(p));
        else
            wd_log(LOG_INFO, "AWS credentials from %s", wd_credentials_provider_source(p));
        *w = (struct wd_credentials_wait){0};
        return true;
    }
    if (!w->waiting)
        /* Once per episode: the retries only show in STATUS=, until credentials appear. */
        wd_log(LOG_WARNING, "%s; not polling until credentials appear (looking again with back-off)",
               err.message);
    w->waiting = true;
    w->tries++;
    snprintf(w->why, sizeof(w->why), "%s", err.message);
    return false;
}
