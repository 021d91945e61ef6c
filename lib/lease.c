/* The lease state machine (lease.h): standby, leader, their timers and the calls each asks for. No I/O. */
#include "lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Two instances count the same lease on two monotonic clocks whose rates differ a little (NTP slews
 * CLOCK_MONOTONIC by at most 0.05%; an undisciplined crystal is off by ~0.01%). The holder gives up
 * this share of the duration for it: its last usable moment is 1% of the duration earlier than the
 * observer's earliest takeover would allow.
 */
#define DRIFT_PERCENT 100 /* the margin is duration_ms / DRIFT_PERCENT, rounded up */
/* A failed renewal or read is tried again after renew_ms / RETRY_DIV, at least RETRY_MIN_MS (never
 * later than the next regular one). */
#define RETRY_DIV 4
#define RETRY_MIN_MS 100
/* Longest duration, renewal or call bound accepted: far beyond any sane lease, and no sum overflows. */
#define SETTING_MAX_MS (UINT64_C(1) << 40)
/* The nonce's longest length: "<nonce>-<counter>" (20 digits at most) must fit WD_LEASE_RVN_MAX. */
#define NONCE_MAX (WD_LEASE_RVN_MAX - 22)
/* Nothing to do any more (released): next() asks to be called again after this long, for form's sake. */
#define IDLE_MS (3600 * 1000)
#define WHY_MAX 400

struct wd_lease {
    char name[WD_LEASE_NAME_MAX];
    char nonce[NONCE_MAX + 1];
    uint64_t duration_ms, renew_ms, bound_ms;
    uint64_t margin_ms; /* for clock-rate drift, see DRIFT_PERCENT */
    uint64_t retry_ms;  /* after a failed call */
    uint64_t counter;   /* of record versions written: "<nonce>-<counter>" */

    enum wd_lease_role role;
    bool started; /* next() was called once: since_ms is set */
    uint64_t since_ms;
    bool pending; /* call was handed out and its result is not in yet */
    struct wd_lease_call call;

    /* Leader. */
    uint64_t leadership;
    char rvn[WD_LEASE_RVN_MAX]; /* the item's rvn, as far as this instance knows */
    /*
     * Every call of this leadership must have ended by then: the last successful renewal's (or the
     * acquisition's) sent time + duration - margin. No observer can take the lease over before it.
     */
    uint64_t deadline_ms;
    uint64_t renew_at_ms;  /* the next renewal, or the next try after a failed one */
    bool unconfirmed;      /* a renewal since the last success failed without an answer: it may have landed */
    bool verify;           /* a renewal's condition failed while one may have landed: read the item first */
    char fail[WHY_MAX];    /* why the last renewal (or verifying read) failed, "" after a success */
    uint64_t last_ok_sent; /* the last successful renewal's (or the acquisition's) sent time */

    /* Standby. */
    bool seen_valid; /* seen holds the item as last read */
    struct wd_lease_record seen;
    uint64_t first_seen_ms; /* answer time of the first read that showed seen.rvn */
    bool take_now;          /* the item is free, released, or this process's own: acquire at once */
    bool need_read;         /* a write attempt failed: read before the next one */
    uint64_t read_at_ms;
    bool reported; /* reported_* hold the holder last reported by a HOLDER (or our own leadership) */
    char reported_owner[WD_LEASE_NAME_MAX];
    uint64_t reported_leadership;

    char holder[WD_LEASE_NAME_MAX]; /* standby: the item's owner last read; leader: the one before */
    uint64_t holder_leadership;     /* standby: the item's leadership last read */
    char why[WHY_MAX];
    bool stopping; /* wd_lease_release() was called */
};

/* Names go into the table and into log lines: printable ASCII keeps both simple (a host name and PID is). */
static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

static bool nonce_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

static int check_settings(const struct wd_lease_settings *s, struct wd_error *err)
{
    if (s->name == NULL || s->name[0] == '\0' || strlen(s->name) >= WD_LEASE_NAME_MAX || !printable(s->name))
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "lease: the instance name must be 1 to %d printable ASCII characters",
                            WD_LEASE_NAME_MAX - 1);
    if (s->nonce == NULL || s->nonce[0] == '\0' || strlen(s->nonce) > NONCE_MAX || !nonce_ok(s->nonce))
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "lease: the nonce must be 1 to %d letters or digits",
                            NONCE_MAX);
    if (s->duration_ms == 0 || s->renew_ms == 0 || s->call_bound_ms == 0)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "lease: duration_ms, renew_ms and the call bound (connect + total timeout) must "
                            "be above 0");
    if (s->duration_ms > SETTING_MAX_MS || s->renew_ms > SETTING_MAX_MS || s->call_bound_ms > SETTING_MAX_MS)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL, "lease: a duration above %" PRIu64 " ms",
                            SETTING_MAX_MS);
    uint64_t margin = (s->duration_ms + DRIFT_PERCENT - 1) / DRIFT_PERCENT;
    if (s->renew_ms + s->call_bound_ms + margin >= s->duration_ms)
        return wd_error_set(err, WD_ERR_CONFIG, 0, NULL,
                            "lease: renew_ms (%" PRIu64 ") + the longest call (%" PRIu64
                            " ms: connect_timeout_ms + timeout_ms) + %" PRIu64
                            " ms for clock drift (1%%) must be below duration_ms (%" PRIu64
                            "): else a leader could not renew and still finish a call before its lease may "
                            "pass to another",
                            s->renew_ms, s->call_bound_ms, margin, s->duration_ms);
    return 0;
}

struct wd_lease *wd_lease_new(const struct wd_lease_settings *s, struct wd_error *err)
{
    if (check_settings(s, err) < 0)
        return NULL;
    struct wd_lease *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        wd_error_nomem(err);
        return NULL;
    }
    snprintf(l->name, sizeof(l->name), "%s", s->name);
    snprintf(l->nonce, sizeof(l->nonce), "%s", s->nonce);
    l->duration_ms = s->duration_ms;
    l->renew_ms = s->renew_ms;
    l->bound_ms = s->call_bound_ms;
    l->margin_ms = (s->duration_ms + DRIFT_PERCENT - 1) / DRIFT_PERCENT;
    l->retry_ms = s->renew_ms / RETRY_DIV;
    if (l->retry_ms < RETRY_MIN_MS)
        l->retry_ms = RETRY_MIN_MS;
    if (l->retry_ms > s->renew_ms)
        l->retry_ms = s->renew_ms;
    l->role = WD_LEASE_STANDBY;
    return l;
}

void wd_lease_free(struct wd_lease *l)
{
    free(l);
}

/*
 * True when rvn was written by this process: "<our nonce>-<a counter we used>". The nonce is random per
 * process, so no other instance (nor an earlier run under the same name) writes such a version.
 */
static bool own_rvn(const struct wd_lease *l, const struct wd_lease_record *rec)
{
    size_t n = strlen(l->nonce);
    if (strcmp(rec->owner, l->name) != 0 || strncmp(rec->rvn, l->nonce, n) != 0 || rec->rvn[n] != '-')
        return false;
    const char *digits = rec->rvn + n + 1;
    if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 20)
        return false;
    uint64_t c = strtoull(digits, NULL, 10);
    return c >= 1 && c <= l->counter;
}

/*
 * After a transaction conflict two instances must not retry in lockstep. Without randomness of its own
 * the machine derives a spread from its nonce (random per process) and counter: a delay between half
 * the retry delay and the full one.
 */
static uint64_t conflict_delay(const struct wd_lease *l)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (const char *p = l->nonce; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
    for (int i = 0; i < 8; i++)
        h = (h ^ ((l->counter >> (8 * i)) & 0xff)) * UINT64_C(1099511628211);
    uint64_t half = l->retry_ms / 2;
    return half + h % (l->retry_ms - half + 1);
}

static void new_rvn(struct wd_lease *l, char out[WD_LEASE_RVN_MAX])
{
    l->counter++;
    snprintf(out, WD_LEASE_RVN_MAX, "%s-%" PRIu64, l->nonce, l->counter);
}

/* Leader -> standby at now: the next read is at once; the holder we were is what a new one is told from. */
static void become_standby(struct wd_lease *l, uint64_t now_ms)
{
    l->role = WD_LEASE_STANDBY;
    l->since_ms = now_ms;
    l->seen_valid = false;
    l->take_now = false;
    l->need_read = true;
    l->read_at_ms = now_ms;
    l->reported = true;
    snprintf(l->reported_owner, sizeof(l->reported_owner), "%s", l->name);
    l->reported_leadership = l->leadership;
    snprintf(l->holder, sizeof(l->holder), "%s", l->name);
    l->holder_leadership = l->leadership;
}

/* Steps down at now_ms; why is prefix followed by detail. */
static enum wd_lease_event lose(struct wd_lease *l, uint64_t now_ms, const char *prefix, const char *detail)
{
    /* A long detail (an error message) is cut to fit: the reason is for one log line. */
    if (snprintf(l->why, sizeof(l->why), "%s%s", prefix, detail) >= (int)sizeof(l->why))
        l->why[sizeof(l->why) - 1] = '\0';
    become_standby(l, now_ms);
    return WD_LEASE_EV_LOST;
}

/* The leader's step-down when no renewal can succeed in time any more (now + bound >= deadline). */
static enum wd_lease_event lose_in_time(struct wd_lease *l, uint64_t now_ms)
{
    char detail[WHY_MAX];
    if (l->fail[0] != '\0')
        snprintf(detail, sizeof(detail), "%s", l->fail);
    else if (l->pending)
        snprintf(detail, sizeof(detail), "the %s sent before has no answer yet",
                 l->call.op == WD_LEASE_OP_READ ? "read" : "renewal");
    else
        snprintf(detail, sizeof(detail), "no renewal succeeded for %" PRIu64 " ms", now_ms - l->last_ok_sent);
    return lose(l, now_ms, "could not renew in time: ", detail);
}

static bool out_of_time(const struct wd_lease *l, uint64_t now_ms)
{
    return now_ms + l->bound_ms >= l->deadline_ms;
}

static void hand_out(struct wd_lease *l, struct wd_lease_call *call)
{
    l->pending = true;
    *call = l->call;
}

/* The leader's conditional write op: the item must still be ours as we last wrote it; a new rvn. */
static void own_write(struct wd_lease *l, enum wd_lease_op op)
{
    l->call.op = op;
    l->call.expect.exists = true;
    snprintf(l->call.expect.owner, sizeof(l->call.expect.owner), "%s", l->name);
    snprintf(l->call.expect.rvn, sizeof(l->call.expect.rvn), "%s", l->rvn);
    l->call.expect.leadership = l->leadership;
    new_rvn(l, l->call.new_rvn);
}

static enum wd_lease_event next_leader(struct wd_lease *l, uint64_t now_ms, struct wd_lease_call *call,
                                       uint64_t *wake_ms)
{
    memset(&l->call, 0, sizeof(l->call));
    if (l->stopping) {
        /* Whatever the state of the renewals: a release that lands lets a standby in at once. */
        own_write(l, WD_LEASE_OP_RELEASE);
        hand_out(l, call);
        return WD_LEASE_EV_NONE;
    }
    if (now_ms >= l->renew_at_ms) {
        if (l->verify)
            l->call.op = WD_LEASE_OP_READ;
        else
            own_write(l, WD_LEASE_OP_RENEW);
        hand_out(l, call);
        return WD_LEASE_EV_NONE;
    }
    uint64_t last = l->deadline_ms - l->bound_ms; /* the step-down moment */
    *wake_ms = l->renew_at_ms < last ? l->renew_at_ms : last;
    return WD_LEASE_EV_NONE;
}

static bool takeover_due(const struct wd_lease *l, uint64_t now_ms)
{
    return l->seen_valid && !l->need_read &&
           (l->take_now || (l->seen.exists && now_ms >= l->first_seen_ms + l->duration_ms));
}

static void next_standby(struct wd_lease *l, uint64_t now_ms, struct wd_lease_call *call, uint64_t *wake_ms)
{
    memset(&l->call, 0, sizeof(l->call));
    if (takeover_due(l, now_ms) && l->seen.leadership < UINT64_MAX) {
        l->call.op = WD_LEASE_OP_ACQUIRE;
        l->call.expect = l->seen;
        l->call.new_leadership = l->seen.exists ? l->seen.leadership + 1 : 1;
        new_rvn(l, l->call.new_rvn);
        hand_out(l, call);
        return;
    }
    if (now_ms >= l->read_at_ms) {
        l->call.op = WD_LEASE_OP_READ;
        hand_out(l, call);
        return;
    }
    *wake_ms = l->read_at_ms;
    if (l->seen_valid && !l->need_read && l->seen.exists && l->first_seen_ms + l->duration_ms < *wake_ms)
        *wake_ms = l->first_seen_ms + l->duration_ms;
}

enum wd_lease_event wd_lease_next(struct wd_lease *l, uint64_t now_ms, struct wd_lease_call *call,
                                  uint64_t *wake_ms)
{
    enum wd_lease_event ev = WD_LEASE_EV_NONE;
    memset(call, 0, sizeof(*call));
    call->op = WD_LEASE_OP_NONE;
    *wake_ms = now_ms + l->renew_ms; /* with a call handed out: after feeding its result, or by then */
    if (!l->started) {
        l->started = true;
        l->since_ms = now_ms;
    }
    if (l->role == WD_LEASE_LEADER && out_of_time(l, now_ms))
        ev = lose_in_time(l, now_ms); /* a call in flight cannot help: it would end too late */
    if (l->pending) {
        /* One call at a time; a leader comes back at its step-down moment, in case the answer is late. */
        if (l->role == WD_LEASE_LEADER)
            *wake_ms = l->deadline_ms - l->bound_ms;
        return ev;
    }
    if (l->role == WD_LEASE_STANDBY && l->stopping) {
        *wake_ms = now_ms + IDLE_MS;
        return ev;
    }
    if (l->role == WD_LEASE_LEADER)
        return next_leader(l, now_ms, call, wake_ms);
    next_standby(l, now_ms, call, wake_ms);
    return ev;
}

/* A standby's read answered with rec at now_ms. */
static enum wd_lease_event observe(struct wd_lease *l, uint64_t now_ms, const struct wd_lease_record *rec)
{
    bool same = l->seen_valid && l->seen.exists && rec->exists && strcmp(l->seen.rvn, rec->rvn) == 0;
    l->need_read = false;
    l->seen_valid = true;
    l->seen = *rec;
    /* Absent, let go, or written by this very process (an answer lost on the way): nobody to wait for. */
    l->take_now = !rec->exists || rec->released || own_rvn(l, rec);
    if (!same)
        l->first_seen_ms = now_ms;
    if (rec->exists) {
        snprintf(l->holder, sizeof(l->holder), "%s", rec->owner);
        l->holder_leadership = rec->leadership;
    }
    if (l->take_now)
        return WD_LEASE_EV_NONE;
    if (l->reported && strcmp(l->reported_owner, rec->owner) == 0 &&
        l->reported_leadership == rec->leadership)
        return WD_LEASE_EV_NONE;
    l->reported = true;
    snprintf(l->reported_owner, sizeof(l->reported_owner), "%s", rec->owner);
    l->reported_leadership = rec->leadership;
    return WD_LEASE_EV_HOLDER;
}

static void renewed(struct wd_lease *l, uint64_t sent_ms)
{
    l->last_ok_sent = sent_ms;
    l->deadline_ms = sent_ms + l->duration_ms - l->margin_ms;
    l->renew_at_ms = sent_ms + l->renew_ms;
    l->unconfirmed = false;
    l->verify = false;
    l->fail[0] = '\0';
}

/* A renewal (or verifying read) failed without telling whether the lease is still ours: try again soon,
 * unless no try can end in time. */
static enum wd_lease_event leader_retry(struct wd_lease *l, uint64_t now_ms, const char *why)
{
    snprintf(l->fail, sizeof(l->fail), "%s", why);
    if (out_of_time(l, now_ms))
        return lose_in_time(l, now_ms);
    /* The last moment a try can start and still end in time (out_of_time is false there). */
    uint64_t last = l->deadline_ms - l->bound_ms - 1;
    l->renew_at_ms = now_ms + l->retry_ms;
    if (l->renew_at_ms > last) {
        if (last <= now_ms) /* that was the last chance: step down now rather than wait */
            return lose_in_time(l, now_ms);
        l->renew_at_ms = last;
    }
    return WD_LEASE_EV_NONE;
}

static enum wd_lease_event leader_result(struct wd_lease *l, const struct wd_lease_call *c, uint64_t sent_ms,
                                         uint64_t now_ms, enum wd_lease_outcome outcome,
                                         const struct wd_lease_record *rec, const char *why)
{
    if (c->op == WD_LEASE_OP_READ) { /* verifying: did a renewal of ours land? */
        if (outcome == WD_LEASE_OK && rec != NULL) {
            if (rec->exists && !rec->released && own_rvn(l, rec)) {
                snprintf(l->rvn, sizeof(l->rvn), "%s", rec->rvn);
                l->verify = false;
                l->unconfirmed = false;
                l->renew_at_ms = now_ms; /* renew from it at once: only a renewal moves the deadline */
                return WD_LEASE_EV_NONE;
            }
            lose(l, now_ms, "the lease was taken over", "");
            observe(l, now_ms, rec);
            return WD_LEASE_EV_LOST;
        }
        return leader_retry(l, now_ms, why && *why ? why : "the lease item could not be read");
    }
    /* RENEW */
    switch (outcome) {
    case WD_LEASE_OK:
        snprintf(l->rvn, sizeof(l->rvn), "%s", c->new_rvn);
        renewed(l, sent_ms);
        return WD_LEASE_EV_NONE;
    case WD_LEASE_CONDITION_FAILED:
        if (l->unconfirmed) {
            /* A renewal that failed without an answer may have changed the rvn itself: look first. */
            l->verify = true;
            l->renew_at_ms = now_ms;
            snprintf(l->fail, sizeof(l->fail), "%s", "the lease item changed; checking whether by us");
            return WD_LEASE_EV_NONE;
        }
        return lose(l, now_ms, "the lease was taken over", "");
    case WD_LEASE_CONFLICT:
        return leader_retry(l, now_ms, why && *why ? why : "a transaction conflict");
    case WD_LEASE_FAILED:
    default:
        l->unconfirmed = true;
        return leader_retry(l, now_ms, why && *why ? why : "no answer");
    }
}

static enum wd_lease_event acquire_result(struct wd_lease *l, const struct wd_lease_call *c, uint64_t sent_ms,
                                          uint64_t now_ms, enum wd_lease_outcome outcome)
{
    l->take_now = false;
    if (outcome == WD_LEASE_OK) {
        l->role = WD_LEASE_LEADER;
        l->since_ms = now_ms;
        l->leadership = c->new_leadership;
        snprintf(l->rvn, sizeof(l->rvn), "%s", c->new_rvn);
        snprintf(l->holder, sizeof(l->holder), "%s", c->expect.exists ? c->expect.owner : "");
        renewed(l, sent_ms);
        l->why[0] = '\0';
        return WD_LEASE_EV_ACQUIRED;
    }
    l->need_read = true;
    if (outcome == WD_LEASE_CONDITION_FAILED)
        l->read_at_ms = now_ms; /* someone else wrote it: see who */
    else if (outcome == WD_LEASE_CONFLICT)
        l->read_at_ms = now_ms + conflict_delay(l);
    else
        l->read_at_ms = now_ms + l->retry_ms;
    return WD_LEASE_EV_NONE;
}

enum wd_lease_event wd_lease_result(struct wd_lease *l, uint64_t sent_ms, uint64_t now_ms,
                                    enum wd_lease_outcome outcome, const struct wd_lease_record *rec,
                                    const char *why)
{
    if (!l->pending)
        return WD_LEASE_EV_NONE; /* nothing was asked: a caller's mistake, ignored */
    l->pending = false;
    struct wd_lease_call c = l->call;

    if (c.op == WD_LEASE_OP_RELEASE) {
        /* Done whatever the answer: a release that did not land leaves a lease that expires by itself. */
        if (l->role == WD_LEASE_LEADER)
            become_standby(l, now_ms);
        return WD_LEASE_EV_RELEASED;
    }
    if (l->role == WD_LEASE_LEADER)
        return leader_result(l, &c, sent_ms, now_ms, outcome, rec, why);

    switch (c.op) {
    case WD_LEASE_OP_READ:
        if (outcome == WD_LEASE_OK && rec != NULL) {
            l->read_at_ms = sent_ms + l->renew_ms;
            return observe(l, now_ms, rec);
        }
        l->read_at_ms = now_ms + l->retry_ms;
        return WD_LEASE_EV_NONE;
    case WD_LEASE_OP_ACQUIRE:
        return acquire_result(l, &c, sent_ms, now_ms, outcome);
    default:
        /* The answer to a renewal of a leadership that already ended: look at the item again. */
        l->need_read = true;
        l->read_at_ms = now_ms;
        return WD_LEASE_EV_NONE;
    }
}

bool wd_lease_may_call(const struct wd_lease *l, uint64_t now_ms)
{
    return l->role == WD_LEASE_LEADER && !l->stopping && now_ms + l->bound_ms < l->deadline_ms;
}

enum wd_lease_event wd_lease_fenced(struct wd_lease *l, uint64_t now_ms)
{
    if (l->role != WD_LEASE_LEADER)
        return WD_LEASE_EV_NONE;
    return lose(l, now_ms, "a store write was fenced: another leadership has begun", "");
}

void wd_lease_release(struct wd_lease *l)
{
    l->stopping = true;
}

bool wd_lease_released(const struct wd_lease *l)
{
    /* A standby waiting for its acquisition's answer may still become the leader, and then must let go. */
    return l->stopping && l->role == WD_LEASE_STANDBY && !(l->pending && l->call.op == WD_LEASE_OP_ACQUIRE);
}

enum wd_lease_role wd_lease_role(const struct wd_lease *l)
{
    return l->role;
}

uint64_t wd_lease_leadership(const struct wd_lease *l)
{
    if (l->role == WD_LEASE_LEADER)
        return l->leadership;
    return l->holder_leadership;
}

const char *wd_lease_holder(const struct wd_lease *l)
{
    return l->holder;
}

uint64_t wd_lease_since_ms(const struct wd_lease *l)
{
    return l->since_ms;
}

const char *wd_lease_why(const struct wd_lease *l)
{
    return l->why;
}
