/*
 * The instance's role under a lease (SPEC 9): builds the lease runner from [lease], turns its events into
 * log lines (who leads, since when, with which leadership; who took over; what failed), and says whether
 * a poll may start.
 */
#include "role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"
#include "service.h"

/* Names come from the lease table, which anyone with access may write: quoted for the log. */
static const char *quoted(char *buf, size_t size, const char *s)
{
    return wd_escape_fixed(buf, size, WD_ESCAPE_LOG, s, strlen(s));
}

static void on_event(enum wd_lease_event ev, const struct wd_lease *lease, const struct wd_lease_record *prev,
                     const struct wd_error *err, void *ctx)
{
    struct wd_role *r = ctx;
    char who[WD_LEASE_NAME_MAX * 4];
    unsigned long long n = (unsigned long long)wd_lease_leadership(lease);

    if (ev == WD_LEASE_EV_NONE) {
        /* A lease call failed. Logged once per episode: a standby would repeat it every renew_ms. */
        if (!r->failing)
            wd_log(LOG_WARNING, "lease: a call to the lease table failed: %s error: %s; trying again",
                   wd_error_class_name(err->cls), err->message);
        r->failing = true;
        return;
    }
    /* A LOST may come from the failure itself (no renewal in time): that is no answer from the table. */
    if (r->failing && ev != WD_LEASE_EV_LOST) {
        wd_log(LOG_NOTICE, "lease: the lease table answers again");
        r->failing = false;
    }
    switch (ev) {
    case WD_LEASE_EV_ACQUIRED:
        r->since = time(NULL);
        r->takeovers++;
        if (prev == NULL || !prev->exists)
            wd_log(LOG_NOTICE, "lease: now the leader (leadership %llu) (the lease was free)", n);
        else
            wd_log(LOG_NOTICE, "lease: now the leader (leadership %llu) (%s '%s')", n,
                   prev->released ? "handed over by" : "took over from",
                   quoted(who, sizeof(who), prev->owner));
        break;
    case WD_LEASE_EV_LOST:
        r->since = time(NULL);
        r->losses++;
        wd_log(LOG_WARNING, "lease: lost the lease (leadership %llu): %s; standing by", n,
               wd_lease_why(lease));
        break;
    case WD_LEASE_EV_RELEASED:
        r->since = time(NULL);
        wd_log(LOG_NOTICE, "lease: released the lease (leadership %llu)", n);
        break;
    case WD_LEASE_EV_HOLDER:
        r->since = time(NULL);
        wd_log(LOG_INFO, "lease: standby behind '%s' (leadership %llu)",
               quoted(who, sizeof(who), wd_lease_holder(lease)), n);
        break;
    case WD_LEASE_EV_NONE:
        break;
    }
    /* HOLDER too: a standby's STATUS= names the holder as soon as it knows it, not at the next 5 s tick. */
    if (r->changed != NULL)
        r->changed(ev, r->ctx);
}

int wd_role_init(struct wd_role *r, const struct wd_config *cfg, void (*changed)(enum wd_lease_event, void *),
                 void *ctx, struct wd_error *err)
{
    *r = (struct wd_role){.changed = changed, .ctx = ctx, .since = time(NULL)};
    if (cfg->lease_table == NULL)
        return 0;

    char name[WD_LEASE_NAME_MAX];
    if (cfg->lease_name != NULL) {
        snprintf(name, sizeof(name), "%s", cfg->lease_name);
    } else {
        /* Unique per process, and says to a person where the leader runs. */
        char host[200] = "";
        if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "localhost");
        snprintf(name, sizeof(name), "%s-%ld", host, (long)getpid());
    }
    struct wd_buf key = {0};
    /* One lease per requests bucket and prefix: the instances that would otherwise compete for them. */
    if (wd_buf_printf(&key, "widgetd/%s/%s", cfg->requests_bucket,
                      cfg->requests_prefix ? cfg->requests_prefix : "") < 0 ||
        (r->table = strdup(cfg->lease_table)) == NULL || (r->name = strdup(name)) == NULL) {
        wd_buf_free(&key);
        wd_role_clear(r);
        return wd_error_nomem(err);
    }

    /* Lease calls are not retried by the signer: the state machine retries them in time, or steps down. */
    struct wd_retry_policy once = wd_retry_policy_default();
    once.max_attempts = 1;
    if (wd_service_endpoint(cfg, cfg->dynamodb_endpoint, "dynamodb", &r->ddb, err) < 0 ||
        (r->creds = wd_credentials_provider_create(cfg->profile, err)) == NULL ||
        (r->aws = wd_aws_new(cfg->region, r->creds, &once, err)) == NULL)
        goto fail;

    struct wd_lease_runner_config lc = {
        .lease = {.name = name,
                  .duration_ms = (uint64_t)cfg->lease_duration_ms,
                  .renew_ms = (uint64_t)cfg->lease_renew_ms,
                  .call_bound_ms = (uint64_t)(cfg->connect_timeout_ms + cfg->timeout_ms)},
        .table = cfg->lease_table,
        .lease_key = key.data,
        .ddb = &r->ddb,
        .creds = r->creds,
        .http = {.connect_timeout_ms = cfg->connect_timeout_ms,
                 .timeout_ms = cfg->timeout_ms,
                 .ca_file = cfg->ca_file,
                 .verify_tls = cfg->verify_tls},
        /* Test-only: lets a test show that without the fence a deposed leader's late write lands. */
        .fencing = getenv("WIDGETD_TEST_UNFENCED") == NULL,
    };
    if ((r->runner = wd_lease_runner_new(&lc, r->aws, on_event, r, err)) == NULL)
        goto fail;
    wd_buf_free(&key);
    return 0;
fail:
    wd_buf_free(&key);
    wd_role_clear(r);
    return -1;
}

void wd_role_clear(struct wd_role *r)
{
    wd_lease_runner_free(r->runner);
    wd_aws_free(r->aws);
    wd_credentials_provider_free(r->creds);
    wd_endpoint_clear(&r->ddb);
    free(r->table);
    free(r->name);
    *r = (struct wd_role){0};
}

bool wd_role_may_poll(const struct wd_role *r)
{
    return r->runner == NULL || wd_lease_runner_gate(r->runner);
}

void wd_role_status(const struct wd_role *r, char *out, size_t size)
{
    if (r->runner == NULL) {
        out[0] = '\0';
        return;
    }
    const struct wd_lease *lease = wd_lease_runner_lease(r->runner);
    char who[WD_LEASE_NAME_MAX * 4], at[16];
    struct tm tm;
    localtime_r(&r->since, &tm);
    strftime(at, sizeof(at), "%H:%M:%S", &tm);
    unsigned long long n = (unsigned long long)wd_lease_leadership(lease);
    if (wd_lease_role(lease) == WD_LEASE_LEADER)
        snprintf(out, size, "leader since %s (leadership %llu)", at, n);
    else if (wd_lease_holder(lease)[0] != '\0')
        snprintf(out, size, "standby behind '%s' (leadership %llu)",
                 quoted(who, sizeof(who), wd_lease_holder(lease)), n);
    else
        snprintf(out, size, "standby since %s", at);
}

void wd_role_calls(const struct wd_role *r, struct wd_buf *out)
{
    if (r->aws == NULL)
        return;
    struct wd_aws_stats st;
    wd_aws_stats_get(r->aws, &st);
    wd_buf_printf(out, "; lease calls:");
    bool any = false;
    for (int op = 0; op < WD_OP_COUNT; op++)
        if (st.calls[op] > 0) {
            wd_buf_printf(out, " %s=%lu", wd_op_name((enum wd_op)op), st.calls[op]);
            any = true;
        }
    if (!any)
        wd_buf_printf(out, " none");
    wd_buf_printf(out, "; takeovers %lu, leases lost %lu", r->takeovers, r->losses);
}

void wd_role_check_reload(const struct wd_role *r, const struct wd_config *fresh)
{
    bool had = r->runner != NULL, has = fresh->lease_table != NULL;
    if (had != has || (had && strcmp(r->table, fresh->lease_table) != 0) ||
        (had && fresh->lease_name != NULL && strcmp(r->name, fresh->lease_name) != 0))
        wd_log(LOG_WARNING, "reload: [lease] changed; the lease keeps its start-up settings until widgetd "
                            "is restarted");
}
