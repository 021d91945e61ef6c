/*
 * The lease at work: one lease call at a time, made from a fiber on a small HTTP pool of the lease's own
 * (a renewal must not queue behind hundreds of pipeline calls, or a busy leader would lose its lease), its
 * outcome fed to the state machine, which says what to do next and when.
 */
#include "lease_runner.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "fiber.h"
#include "http_pool.h"
#include "lease_ddb.h"

struct wd_lease_runner {
    struct wd_lease *lease;
    struct wd_aws *aws;
    struct wd_credentials_provider *creds;
    struct wd_http_pool *pool;
    struct wd_http *http;
    struct wd_fiber *fiber;
    const struct wd_endpoint *ddb;
    char *table, *key, *name;
    char nonce[33];
    struct wd_fence fence;
    wd_lease_event_fn fn;
    void *ctx;

    /* The call in flight (busy), and its outcome once done. */
    bool busy, done;
    struct wd_lease_call call;
    struct wd_lease_record rec;
    enum wd_lease_outcome outcome;
    struct wd_error err;
    uint64_t sent_ms, answered_ms;

    struct wd_lease_record last_read; /* the lease item as last read: who holds it */
};

uint64_t wd_lease_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void emit(struct wd_lease_runner *r, enum wd_lease_event ev, const struct wd_lease_record *prev)
{
    if (ev == WD_LEASE_EV_NONE)
        return;
    /* The fence moves before any caller hears of the leadership, so no write can carry the old one. */
    if (ev == WD_LEASE_EV_ACQUIRED)
        r->fence.leadership = wd_lease_leadership(r->lease);
    r->fn(ev, r->lease, prev, NULL, r->ctx);
}

/* The fiber: one lease call from start to end. */
static void call_run(void *arg)
{
    struct wd_lease_runner *r = arg;
    wd_error_clear(&r->err);
    memset(&r->rec, 0, sizeof(r->rec));
    r->sent_ms = wd_lease_now_ms();
    /* Credentials missing at start are looked for again before each call (no-op once found). */
    if (wd_credentials_provider_resolve(r->creds, &r->err) < 0)
        r->outcome = WD_LEASE_FAILED;
    else
        r->outcome =
            wd_lease_ddb_call(r->aws, r->http, r->ddb, &r->fence, r->name, &r->call, &r->rec, &r->err);
    r->answered_ms = wd_lease_now_ms();
    r->done = true;
}

/* Feeds the finished call's outcome to the state machine. */
static void finish_call(struct wd_lease_runner *r)
{
    r->busy = false;
    r->done = false;
    bool read_ok = r->call.op == WD_LEASE_OP_READ && r->outcome == WD_LEASE_OK;
    if (read_ok)
        r->last_read = r->rec;
    if (r->outcome == WD_LEASE_FAILED)
        r->fn(WD_LEASE_EV_NONE, r->lease, &r->last_read, &r->err, r->ctx);
    enum wd_lease_event ev =
        wd_lease_result(r->lease, r->sent_ms, r->answered_ms, r->outcome, read_ok ? &r->rec : NULL,
                        r->outcome == WD_LEASE_FAILED ? r->err.message : NULL);
    emit(r, ev, r->call.op == WD_LEASE_OP_ACQUIRE ? &r->call.expect : &r->last_read);
}

int wd_lease_runner_process(struct wd_lease_runner *r, uint64_t now_ms, uint64_t *wake_ms,
                            struct wd_error *err)
{
    if (wd_http_pool_run(r->pool, err) < 0)
        return -1;
    if (r->busy && r->done)
        finish_call(r);
    while (!r->busy) {
        struct wd_lease_call call;
        enum wd_lease_event ev = wd_lease_next(r->lease, now_ms, &call, wake_ms);
        emit(r, ev, &r->last_read);
        if (call.op == WD_LEASE_OP_NONE)
            return 0;
        r->call = call;
        r->busy = true;
        r->done = false;
        /* A call that ends without waiting (no credentials yet) is over when run() returns. */
        if (wd_fiber_run(r->fiber, call_run, r))
            finish_call(r);
        now_ms = wd_lease_now_ms();
    }
    /* A call is in flight: the pool's fd says when it ends; look again within a second regardless. */
    *wake_ms = now_ms + 1000;
    return 0;
}

struct wd_lease_runner *wd_lease_runner_new(const struct wd_lease_runner_config *cfg, struct wd_aws *aws,
                                            wd_lease_event_fn fn, void *ctx, struct wd_error *err)
{
    struct wd_lease_runner *r = calloc(1, sizeof(*r));
    if (r == NULL)
        goto nomem;
    r->aws = aws;
    r->creds = cfg->creds;
    r->ddb = cfg->ddb;
    r->fn = fn;
    r->ctx = ctx;
    if ((r->table = strdup(cfg->table)) == NULL || (r->key = strdup(cfg->lease_key)) == NULL ||
        (r->name = strdup(cfg->lease.name)) == NULL)
        goto nomem;
    if (cfg->lease.nonce != NULL) {
        snprintf(r->nonce, sizeof(r->nonce), "%s", cfg->lease.nonce);
    } else {
        /* Record versions must never repeat across instances or restarts: 64 random bits per process. */
        uint64_t n = 0;
        if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n))
            n = (uint64_t)wd_lease_now_ms() ^ ((uint64_t)getpid() << 32);
        snprintf(r->nonce, sizeof(r->nonce), "%016" PRIx64, n);
    }
    r->fence = (struct wd_fence){.table = r->table,
                                 .lease_key = r->key,
                                 .s3_conditions = cfg->fencing,
                                 .ddb_conditions = cfg->fencing};

    struct wd_lease_settings s = cfg->lease;
    s.name = r->name;
    s.nonce = r->nonce;
    if ((r->lease = wd_lease_new(&s, err)) == NULL)
        goto fail;
    /* Two transfers: a lease call, and room for a credentials refresh beside it. */
    if ((r->pool = wd_http_pool_new(2, err)) == NULL)
        goto fail;
    struct wd_http_options ho = cfg->http;
    ho.pool = r->pool;
    ho.gate = NULL;
    ho.gate_ctx = NULL;
    if ((r->http = wd_http_new(&ho, err)) == NULL)
        goto fail;
    if ((r->fiber = wd_fiber_new(0, err)) == NULL)
        goto fail;
    return r;
nomem:
    wd_error_nomem(err);
fail:
    wd_lease_runner_free(r);
    return NULL;
}

void wd_lease_runner_free(struct wd_lease_runner *r)
{
    if (r == NULL)
        return;
    /* The fiber's stack holds the call in flight: let it end (bounded by its timeouts) before freeing. */
    while (r->busy && !r->done && r->pool != NULL) {
        struct wd_error err;
        wd_http_pool_wait(r->pool, 1000);
        if (wd_http_pool_run(r->pool, &err) < 0)
            break;
    }
    wd_fiber_free(r->fiber);
    wd_http_free(r->http);
    wd_http_pool_free(r->pool);
    wd_lease_free(r->lease);
    free(r->table);
    free(r->key);
    free(r->name);
    free(r);
}

int wd_lease_runner_fd(const struct wd_lease_runner *r)
{
    return wd_http_pool_fd(r->pool);
}

bool wd_lease_runner_gate(void *ctx)
{
    const struct wd_lease_runner *r = ctx;
    return wd_lease_may_call(r->lease, wd_lease_now_ms());
}

const struct wd_fence *wd_lease_runner_fence(const struct wd_lease_runner *r)
{
    return &r->fence;
}

void wd_lease_runner_fenced(struct wd_lease_runner *r, uint64_t now_ms)
{
    emit(r, wd_lease_fenced(r->lease, now_ms), &r->last_read);
}

void wd_lease_runner_release(struct wd_lease_runner *r)
{
    wd_lease_release(r->lease);
    wd_http_pool_kick(r->pool); /* the release is due now: the caller's loop must come round */
}

bool wd_lease_runner_released(const struct wd_lease_runner *r)
{
    return wd_lease_released(r->lease);
}

const struct wd_lease *wd_lease_runner_lease(const struct wd_lease_runner *r)
{
    return r->lease;
}
