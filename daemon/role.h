/* The instance's role under a lease (SPEC 9): the lease runner built from [lease], its log lines and STATUS=.
 */
#ifndef WD_ROLE_H
#define WD_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws.h"
#include "buf.h"
#include "config.h"
#include "lease_runner.h"

struct wd_role {
    /* The lease's own credentials, signer and counters: they live as long as the process, not a reload. */
    struct wd_credentials_provider *creds;
    struct wd_aws *aws;
    struct wd_endpoint ddb;
    struct wd_lease_runner *runner; /* NULL without [lease]: one instance, no role */
    char *table, *name;             /* as configured at start, to tell a reload that changes them */
    time_t since;                   /* when the role began (wall clock, for STATUS=) */
    bool failing;                   /* lease calls fail: logged once per episode */
    unsigned long takeovers, losses;
    /* The loop's hook: the role changed (ACQUIRED, LOST, RELEASED). */
    void (*changed)(enum wd_lease_event ev, void *ctx);
    void *ctx;
};

/*
 * Builds the lease from cfg when it has [lease] table (else r->runner stays NULL). Nothing touches the
 * network here. Returns -1 with err (WD_ERR_CONFIG for a bad endpoint or lease settings).
 */
int wd_role_init(struct wd_role *r, const struct wd_config *cfg, void (*changed)(enum wd_lease_event, void *),
                 void *ctx, struct wd_error *err);
void wd_role_clear(struct wd_role *r);

/* True when a poll may start: no lease, or the lease held long enough for a call. */
bool wd_role_may_poll(const struct wd_role *r);

/* "leader since 12:00:01 (leadership 3)" or "standby behind 'NAME' (leadership 3)", or "" without lease. */
void wd_role_status(const struct wd_role *r, char *out, size_t size);

/* "; lease calls: GetItem=.. UpdateItem=.. TransactWriteItems=.." for the exit line, or nothing. */
void wd_role_calls(const struct wd_role *r, struct wd_buf *out);

/* Logs what a reload would change in [lease]: it takes effect at the next start. */
void wd_role_check_reload(const struct wd_role *r, const struct wd_config *fresh);

#endif
