/*
 * The lease at work (SPEC 9): the state machine (lease.h) driven on the caller's event loop, its DynamoDB
 * calls (lease_ddb.h) made from a fiber on an HTTP pool of its own, so that a renewal never waits behind
 * the pipeline's calls; plus the fence that the store's writes carry and the gate of every pipeline call.
 */
#ifndef WD_LEASE_RUNNER_H
#define WD_LEASE_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "aws.h"
#include "credentials_chain.h"
#include "error.h"
#include "http.h"
#include "lease.h"
#include "store.h"

struct wd_lease_runner_config {
    struct wd_lease_settings lease; /* strings copied */
    const char *table;              /* the lease table (copied) */
    const char *lease_key;          /* the lease item's key (copied) */
    const struct wd_endpoint *ddb;  /* borrowed: must outlive the runner */
    /* borrowed, the one aws signs with: looked for again before each call until found */
    struct wd_credentials_provider *creds;
    struct wd_http_options http; /* timeouts and TLS of the lease calls (pool and gate ignored) */
    bool fencing;                /* false only in tests: store writes unconditional */
};

/*
 * What happened, for the log and STATUS=: a change of role (lease.h events) with the lease item as last
 * read (prev; its owner is who held the lease before an ACQUIRED), or, with ev == WD_LEASE_EV_NONE, a
 * lease call that failed (err), so that a failing lease table is visible.
 */
typedef void (*wd_lease_event_fn)(enum wd_lease_event ev, const struct wd_lease *lease,
                                  const struct wd_lease_record *prev, const struct wd_error *err, void *ctx);

struct wd_lease_runner;

/* Borrows aws (its counters are the lease's alone) and cfg->ddb. Returns NULL with err. */
struct wd_lease_runner *wd_lease_runner_new(const struct wd_lease_runner_config *cfg, struct wd_aws *aws,
                                            wd_lease_event_fn fn, void *ctx, struct wd_error *err);
/* Waits for a call in flight to end (bounded by its timeouts); accepts NULL. */
void wd_lease_runner_free(struct wd_lease_runner *r);

/* Readable when a lease call has progress to make. */
int wd_lease_runner_fd(const struct wd_lease_runner *r);

/*
 * Moves the lease on at now_ms (CLOCK_MONOTONIC): a finished call's outcome is fed, the next call started
 * when due. *wake_ms: the latest time to call again, besides the fd turning readable. Events are emitted
 * from here (and from fenced()) only. Returns -1 with err when the HTTP pool itself fails.
 */
int wd_lease_runner_process(struct wd_lease_runner *r, uint64_t now_ms, uint64_t *wake_ms,
                            struct wd_error *err);

/* The gate (wd_http_options.gate) of every pipeline call: wd_lease_may_call() now. ctx: the runner. */
bool wd_lease_runner_gate(void *ctx);

/* The fence the store writes carry (its leadership is kept current). */
const struct wd_fence *wd_lease_runner_fence(const struct wd_lease_runner *r);

/* A store write was refused by the fence: step down at once. */
void wd_lease_runner_fenced(struct wd_lease_runner *r, uint64_t now_ms);

/* Graceful stop: release the lease if held (once no pipeline call is in flight). */
void wd_lease_runner_release(struct wd_lease_runner *r);
bool wd_lease_runner_released(const struct wd_lease_runner *r);

const struct wd_lease *wd_lease_runner_lease(const struct wd_lease_runner *r);

/* Milliseconds on CLOCK_MONOTONIC, the lease's clock. */
uint64_t wd_lease_now_ms(void);

#endif
