/*
 * The lease (SPEC 9): which one of several instances is the leader, as a state machine without I/O and
 * without a clock of its own. The caller feeds it the time (CLOCK_MONOTONIC, in ms) and the outcome of
 * each DynamoDB call that it asked for (lease_ddb.c makes them), and asks it what to do next and whether
 * a store or request call may start now. Modelled on the DynamoDB lock client: a record version (rvn)
 * that the holder changes on every renewal, and an observer that takes over only after seeing one rvn
 * unchanged for the lease duration on its own clock; plus a leadership number that only grows, which
 * fences the store (store.h).
 */
#ifndef WD_LEASE_H
#define WD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define WD_LEASE_NAME_MAX 256 /* an owner name, NUL included */
#define WD_LEASE_RVN_MAX 80   /* a record version, NUL included */

struct wd_lease_settings {
    const char *name;       /* this instance (owner names are compared as strings) */
    const char *nonce;      /* random, per process: record versions are "<nonce>-<counter>" */
    uint64_t duration_ms;   /* a lease not renewed for this long may be taken over */
    uint64_t renew_ms;      /* the leader renews, and a standby reads, this often */
    uint64_t call_bound_ms; /* the longest one HTTP call can last (connect + total timeout) */
};

/* The lease item as read from the table. */
struct wd_lease_record {
    bool exists;
    char owner[WD_LEASE_NAME_MAX];
    char rvn[WD_LEASE_RVN_MAX];
    uint64_t leadership; /* the number of the leadership that wrote it; grows by one at each acquisition */
    bool released;       /* its holder let it go (graceful stop): anyone may take it at once */
};

enum wd_lease_op {
    WD_LEASE_OP_NONE,    /* nothing now: come back at *wake_ms, or after a fed result */
    WD_LEASE_OP_READ,    /* GetItem, strongly consistent */
    WD_LEASE_OP_ACQUIRE, /* write the item (owner, new_rvn, new_leadership, released=false) on condition
                            that it is still `expect` (or absent when !expect.exists), and raise the fence
                            items to new_leadership: one transaction */
    WD_LEASE_OP_RENEW,   /* set rvn = new_rvn on condition that rvn = expect.rvn and owner = name */
    WD_LEASE_OP_RELEASE, /* set released = true, rvn = new_rvn on condition that rvn = expect.rvn */
};

struct wd_lease_call {
    enum wd_lease_op op;
    struct wd_lease_record expect; /* ACQUIRE, RENEW, RELEASE: the item as it must still be */
    char new_rvn[WD_LEASE_RVN_MAX];
    uint64_t new_leadership; /* ACQUIRE */
};

enum wd_lease_outcome {
    WD_LEASE_OK,               /* done (READ: rec holds the item, rec->exists false when there is none) */
    WD_LEASE_CONDITION_FAILED, /* the item was not as expected: someone else wrote it */
    WD_LEASE_CONFLICT,         /* TransactionConflict: another transaction touched the items; try again */
    WD_LEASE_FAILED,           /* no answer or an error: the outcome is unknown */
};

enum wd_lease_role { WD_LEASE_STANDBY, WD_LEASE_LEADER };

/* What a fed result, a stop or the passing of time changed, for the log and STATUS=. */
enum wd_lease_event {
    WD_LEASE_EV_NONE,
    WD_LEASE_EV_ACQUIRED, /* now the leader (wd_lease_leadership(); the holder before: wd_lease_holder()) */
    WD_LEASE_EV_LOST,     /* no longer the leader (why: wd_lease_why()) */
    WD_LEASE_EV_RELEASED, /* let go on request (wd_lease_release()) */
    WD_LEASE_EV_HOLDER,   /* a standby sees a new holder or leadership (wd_lease_holder()) */
};

struct wd_lease;

/* Copies s. Returns NULL with err (WD_ERR_NOMEM, or WD_ERR_CONFIG when the timings cannot work). */
struct wd_lease *wd_lease_new(const struct wd_lease_settings *s, struct wd_error *err);
void wd_lease_free(struct wd_lease *l);

/*
 * What to do at now_ms. Either a call (call->op != NONE; at most one at a time: next() returns NONE
 * until its result is fed) or nothing before *wake_ms. May change the role by itself (a leader whose
 * lease ran out unrenewed steps down): the event is returned.
 */
enum wd_lease_event wd_lease_next(struct wd_lease *l, uint64_t now_ms, struct wd_lease_call *call,
                                  uint64_t *wake_ms);

/*
 * The outcome of the call next() returned last: sent_ms when its request was sent, now_ms when its
 * answer came (or it failed). rec: the item read (READ), else NULL. why: for FAILED, a short reason
 * for the log (copied), or NULL.
 */
enum wd_lease_event wd_lease_result(struct wd_lease *l, uint64_t sent_ms, uint64_t now_ms,
                                    enum wd_lease_outcome outcome, const struct wd_lease_record *rec,
                                    const char *why);

/*
 * True when this instance is the leader and a call started at now_ms ends (call_bound_ms) before
 * the lease could pass to another: the gate of every request and store call.
 */
bool wd_lease_may_call(const struct wd_lease *l, uint64_t now_ms);

/* A store write was refused by the fence: another leadership has begun. Steps down at once. */
enum wd_lease_event wd_lease_fenced(struct wd_lease *l, uint64_t now_ms);

/* Graceful stop: a leader releases the lease at the next next() (call it once its calls are over). */
void wd_lease_release(struct wd_lease *l);
/* True once there is nothing left to hand over: released, or never the leader. */
bool wd_lease_released(const struct wd_lease *l);

enum wd_lease_role wd_lease_role(const struct wd_lease *l);
uint64_t wd_lease_leadership(const struct wd_lease *l); /* the leader's own number, or the holder's seen */
const char *wd_lease_holder(const struct wd_lease *l);  /* standby: the holder seen; leader: the one before */
uint64_t wd_lease_since_ms(const struct wd_lease *l);   /* when the role began (the caller's clock) */
const char *wd_lease_why(const struct wd_lease *l);     /* the reason of the last LOST */

#endif
