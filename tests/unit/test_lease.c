/*
 * Unit tests of the lease state machine (lease.h), driven by hand with a clock that is only a number:
 * expiry on the observer's clock, acquisition, renewal, step-down, conditions, conflicts, fencing, release.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lease.h"

#define NAME "alpha"
#define NONCE "n0nce"
/* The settings of most tests: margin 1% = 100 ms, retry delay renew/4 = 500 ms. */
#define D 10000
#define RENEW 2000
#define BOUND 3000
#define MARGIN 100
#define RETRY 500

static struct wd_lease *make(uint64_t duration, uint64_t renew, uint64_t bound)
{
    struct wd_lease_settings s = {
        .name = NAME, .nonce = NONCE, .duration_ms = duration, .renew_ms = renew, .call_bound_ms = bound};
    struct wd_error err = {0};
    struct wd_lease *l = wd_lease_new(&s, &err);
    if (l == NULL)
        fail_msg("wd_lease_new: %s", err.message);
    return l;
}

static struct wd_lease *make_default(void)
{
    return make(D, RENEW, BOUND);
}

static struct wd_lease_record item(const char *owner, const char *rvn, uint64_t leadership, bool released)
{
    struct wd_lease_record r = {.exists = true, .leadership = leadership, .released = released};
    snprintf(r.owner, sizeof(r.owner), "%s", owner);
    snprintf(r.rvn, sizeof(r.rvn), "%s", rvn);
    return r;
}

static const struct wd_lease_record absent = {.exists = false};

/* next() at now, which must ask for op; returns the call. */
static struct wd_lease_call expect_op(struct wd_lease *l, uint64_t now, enum wd_lease_op op)
{
    struct wd_lease_call c;
    uint64_t wake = 0;
    enum wd_lease_event ev = wd_lease_next(l, now, &c, &wake);
    (void)ev;
    if (c.op != op)
        fail_msg("at %" PRIu64 ": op %d, expected %d", now, (int)c.op, (int)op);
    return c;
}

/* next() at now, which must ask for nothing; returns the wake time. */
static uint64_t expect_none(struct wd_lease *l, uint64_t now)
{
    struct wd_lease_call c;
    uint64_t wake = 0;
    wd_lease_next(l, now, &c, &wake);
    if (c.op != WD_LEASE_OP_NONE)
        fail_msg("at %" PRIu64 ": op %d, expected none", now, (int)c.op);
    assert_true(wake > now);
    return wake;
}

/* A standby that reads rec at t (answered at once) and then acquires it (answered OK at t). */
static struct wd_lease_call read_and_acquire(struct wd_lease *l, uint64_t t,
                                             const struct wd_lease_record *rec)
{
    expect_op(l, t, WD_LEASE_OP_READ);
    wd_lease_result(l, t, t, WD_LEASE_OK, rec, NULL);
    struct wd_lease_call c = expect_op(l, t, WD_LEASE_OP_ACQUIRE);
    assert_int_equal(wd_lease_result(l, t, t, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_ACQUIRED);
    return c;
}

/* A leader since t = 1000 (an acquisition sent at 1000): deadline 1000 + D - MARGIN = 10900. */
static struct wd_lease *leader_at_1000(char acquired_rvn[WD_LEASE_RVN_MAX])
{
    struct wd_lease *l = make_default();
    struct wd_lease_call c = read_and_acquire(l, 1000, &absent);
    if (acquired_rvn != NULL)
        snprintf(acquired_rvn, WD_LEASE_RVN_MAX, "%s", c.new_rvn);
    assert_int_equal(wd_lease_role(l), WD_LEASE_LEADER);
    return l;
}

/* ---- settings ---- */

static void refused(uint64_t d, uint64_t r, uint64_t b, const char *name, const char *nonce, const char *says)
{
    struct wd_lease_settings s = {
        .name = name, .nonce = nonce, .duration_ms = d, .renew_ms = r, .call_bound_ms = b};
    struct wd_error err = {0};
    assert_null(wd_lease_new(&s, &err));
    assert_int_equal(err.cls, WD_ERR_CONFIG);
    if (strstr(err.message, says) == NULL)
        fail_msg("message \"%s\" does not say \"%s\"", err.message, says);
}

static void test_settings_check(void **state)
{
    (void)state;
    refused(0, RENEW, BOUND, NAME, NONCE, "above 0");
    refused(D, 0, BOUND, NAME, NONCE, "above 0");
    refused(D, RENEW, 0, NAME, NONCE, "above 0");
    /* renew + bound + 1% of the duration must stay below the duration: 9900 + 100 = 10000 is refused */
    refused(10000, 4900, 5000, NAME, NONCE, "must be below duration_ms (10000)");
    refused(10000, 9000, 9000, NAME, NONCE, "renew_ms (9000)");
    refused(D, RENEW, BOUND, NULL, NONCE, "instance name");
    refused(D, RENEW, BOUND, "", NONCE, "instance name");
    refused(D, RENEW, BOUND, "new\nline", NONCE, "instance name");
    refused(D, RENEW, BOUND, NAME, "", "nonce");
    refused(D, RENEW, BOUND, NAME, "a-b", "nonce");
    char long_name[WD_LEASE_NAME_MAX + 1];
    memset(long_name, 'x', WD_LEASE_NAME_MAX);
    long_name[WD_LEASE_NAME_MAX] = '\0';
    refused(D, RENEW, BOUND, long_name, NONCE, "instance name");
    long_name[WD_LEASE_NAME_MAX - 1] = '\0'; /* 255 characters: the longest */
    struct wd_lease_settings s = {
        .name = long_name, .nonce = NONCE, .duration_ms = 10000, .renew_ms = 4900, .call_bound_ms = 4999};
    struct wd_error err = {0};
    struct wd_lease *l = wd_lease_new(&s, &err); /* 4900 + 4999 + 100 = 9999: just fits */
    assert_non_null(l);
    wd_lease_free(l);
    wd_lease_free(NULL);
}

/* ---- standby: reading, free items, expiry on the observer's clock ---- */

static void test_absent_item_taken_at_once(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_false(wd_lease_may_call(l, 0));
    expect_op(l, 0, WD_LEASE_OP_READ);
    /* one call at a time: nothing more until the result is in */
    expect_none(l, 10);
    assert_int_equal(wd_lease_result(l, 0, 20, WD_LEASE_OK, &absent, NULL), WD_LEASE_EV_NONE);
    struct wd_lease_call c = expect_op(l, 20, WD_LEASE_OP_ACQUIRE);
    assert_false(c.expect.exists); /* "must not exist" */
    assert_int_equal(c.new_leadership, 1);
    assert_string_equal(c.new_rvn, NONCE "-1");
    assert_int_equal(wd_lease_result(l, 20, 30, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_ACQUIRED);
    assert_int_equal(wd_lease_role(l), WD_LEASE_LEADER);
    assert_int_equal(wd_lease_leadership(l), 1);
    assert_string_equal(wd_lease_holder(l), "");
    assert_int_equal(wd_lease_since_ms(l), 30);
    wd_lease_free(l);
}

static void test_released_item_taken_at_once(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    struct wd_lease_record rec = item("bravo", "b0-9", 7, true);
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_result(l, 0, 5, WD_LEASE_OK, &rec, NULL);
    struct wd_lease_call c = expect_op(l, 5, WD_LEASE_OP_ACQUIRE);
    assert_true(c.expect.exists);
    assert_string_equal(c.expect.rvn, "b0-9");
    assert_string_equal(c.expect.owner, "bravo");
    assert_int_equal(c.new_leadership, 8);
    assert_int_equal(wd_lease_result(l, 5, 9, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_ACQUIRED);
    assert_string_equal(wd_lease_holder(l), "bravo"); /* the one before */
    assert_int_equal(wd_lease_leadership(l), 8);
    wd_lease_free(l);
}

/* What the table holds at a time, for the standby loop below. */
struct table {
    const char *rvn_before;
    uint64_t change_at; /* from then on (write time) the rvn is rvn_after */
    const char *rvn_after;
};

/*
 * Runs a standby from start (its first read sent then, answered first_latency later; every later read
 * answered at once) until it asks to acquire; returns that time. Reads follow the machine's wake times.
 */
static uint64_t standby_until_acquire(struct wd_lease *l, uint64_t start, uint64_t first_latency,
                                      const struct table *t, struct wd_lease_call *acquire)
{
    uint64_t now = start;
    bool first = true;
    for (int steps = 0; steps < 1000; steps++) {
        struct wd_lease_call c;
        uint64_t wake = 0;
        wd_lease_next(l, now, &c, &wake);
        if (c.op == WD_LEASE_OP_ACQUIRE) {
            *acquire = c;
            return now;
        }
        if (c.op == WD_LEASE_OP_READ) {
            uint64_t answered = now + (first ? first_latency : 0);
            const char *rvn = t->change_at != 0 && now >= t->change_at ? t->rvn_after : t->rvn_before;
            struct wd_lease_record rec = item("bravo", rvn, 4, false);
            wd_lease_result(l, now, answered, WD_LEASE_OK, &rec, NULL);
            now = answered;
            first = false;
            continue;
        }
        assert_int_equal(c.op, WD_LEASE_OP_NONE);
        assert_true(wake > now);
        now = wake;
    }
    fail_msg("no acquisition");
    return 0;
}

static void test_expiry_counted_from_first_answer(void **state)
{
    (void)state;
    /* The first read is sent at 0 and answered at 700: the holder may have renewed just before 700. */
    struct wd_lease *l = make_default();
    struct table t = {.rvn_before = "b0-1"};
    struct wd_lease_call c;
    uint64_t at = standby_until_acquire(l, 0, 700, &t, &c);
    assert_int_equal(at, 700 + D); /* not before, and not a renewal period later either */
    assert_string_equal(c.expect.rvn, "b0-1");
    assert_string_equal(c.expect.owner, "bravo");
    assert_true(c.expect.exists);
    assert_int_equal(c.new_leadership, 5);
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_false(wd_lease_may_call(l, at));
    wd_lease_free(l);
}

static void test_changed_rvn_restarts_the_count(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    /* renewed at 6500: the standby sees it at its read at 8000 (reads every RENEW from 0) */
    struct table t = {.rvn_before = "b0-1", .change_at = 6500, .rvn_after = "b0-2"};
    struct wd_lease_call c;
    uint64_t at = standby_until_acquire(l, 0, 0, &t, &c);
    assert_int_equal(at, 8000 + D);
    assert_string_equal(c.expect.rvn, "b0-2");
    wd_lease_free(l);
}

static void test_holder_events(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    struct wd_lease_record rec = item("bravo", "b0-1", 4, false);
    expect_op(l, 0, WD_LEASE_OP_READ);
    assert_int_equal(wd_lease_result(l, 0, 10, WD_LEASE_OK, &rec, NULL), WD_LEASE_EV_HOLDER);
    assert_string_equal(wd_lease_holder(l), "bravo");
    assert_int_equal(wd_lease_leadership(l), 4);
    assert_int_equal(wd_lease_since_ms(l), 0);
    /* a renewal by the same holder is no news */
    assert_int_equal(expect_none(l, 10), RENEW);
    expect_op(l, RENEW, WD_LEASE_OP_READ);
    rec = item("bravo", "b0-2", 4, false);
    assert_int_equal(wd_lease_result(l, RENEW, RENEW, WD_LEASE_OK, &rec, NULL), WD_LEASE_EV_NONE);
    /* a new leadership is */
    expect_op(l, 2 * RENEW, WD_LEASE_OP_READ);
    rec = item("charlie", "c0-1", 5, false);
    assert_int_equal(wd_lease_result(l, 2 * RENEW, 2 * RENEW, WD_LEASE_OK, &rec, NULL), WD_LEASE_EV_HOLDER);
    assert_string_equal(wd_lease_holder(l), "charlie");
    assert_int_equal(wd_lease_leadership(l), 5);
    wd_lease_free(l);
}

static void test_failed_read_retried_soon_and_keeps_the_count(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    struct wd_lease_record rec = item("bravo", "b0-1", 4, false);
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_result(l, 0, 0, WD_LEASE_OK, &rec, NULL);
    expect_op(l, RENEW, WD_LEASE_OP_READ);
    wd_lease_result(l, RENEW, RENEW + 50, WD_LEASE_FAILED, NULL, "timeout");
    assert_int_equal(expect_none(l, RENEW + 50), RENEW + 50 + RETRY);
    /* a failed read does not say the rvn changed: the takeover is still due at D */
    uint64_t now = RENEW + 50 + RETRY;
    for (;;) {
        struct wd_lease_call c;
        uint64_t wake;
        wd_lease_next(l, now, &c, &wake);
        if (c.op == WD_LEASE_OP_ACQUIRE)
            break;
        if (c.op == WD_LEASE_OP_READ) {
            wd_lease_result(l, now, now, WD_LEASE_OK, &rec, NULL);
            continue;
        }
        now = wake;
    }
    assert_int_equal(now, D);
    wd_lease_free(l);
}

/* ---- acquisition outcomes ---- */

static void test_acquire_condition_failed_reads_at_once(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_result(l, 0, 0, WD_LEASE_OK, &absent, NULL);
    expect_op(l, 0, WD_LEASE_OP_ACQUIRE);
    assert_int_equal(wd_lease_result(l, 0, 40, WD_LEASE_CONDITION_FAILED, NULL, NULL), WD_LEASE_EV_NONE);
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_false(wd_lease_may_call(l, 41));
    expect_op(l, 40, WD_LEASE_OP_READ);
    /* the winner shows, and its lease is counted from now */
    struct wd_lease_record rec = item("bravo", "b0-1", 1, false);
    assert_int_equal(wd_lease_result(l, 40, 50, WD_LEASE_OK, &rec, NULL), WD_LEASE_EV_HOLDER);
    expect_none(l, 50);
    wd_lease_free(l);
}

static void test_acquire_conflict_read_again_soon(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_result(l, 0, 0, WD_LEASE_OK, &absent, NULL);
    expect_op(l, 0, WD_LEASE_OP_ACQUIRE);
    assert_int_equal(wd_lease_result(l, 0, 30, WD_LEASE_CONFLICT, NULL, "conflict"), WD_LEASE_EV_NONE);
    uint64_t wake = expect_none(l, 30);
    assert_true(wake >= 30 + RETRY / 2 && wake <= 30 + RETRY); /* soon, but not in lockstep */
    expect_op(l, wake, WD_LEASE_OP_READ);
    wd_lease_result(l, wake, wake, WD_LEASE_OK, &absent, NULL);
    struct wd_lease_call c = expect_op(l, wake, WD_LEASE_OP_ACQUIRE); /* retried */
    assert_string_equal(c.new_rvn, NONCE "-2");
    assert_int_equal(wd_lease_result(l, wake, wake, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_ACQUIRED);
    wd_lease_free(l);
}

static void test_acquire_failed_reads_after_a_delay(void **state)
{
    (void)state;
    /* a takeover whose write got no answer: read (after a short delay) before writing again */
    struct wd_lease *l = make_default();
    struct table t = {.rvn_before = "b0-1"};
    struct wd_lease_call c;
    uint64_t at = standby_until_acquire(l, 0, 0, &t, &c);
    assert_int_equal(at, D);
    wd_lease_result(l, at, at + 100, WD_LEASE_FAILED, NULL, "timeout");
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_int_equal(expect_none(l, at + 100), at + 100 + RETRY);
    expect_op(l, at + 100 + RETRY, WD_LEASE_OP_READ);
    wd_lease_free(l);
}

static void test_own_write_found_after_a_lost_answer(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_result(l, 0, 0, WD_LEASE_OK, &absent, NULL);
    struct wd_lease_call c = expect_op(l, 0, WD_LEASE_OP_ACQUIRE);
    wd_lease_result(l, 0, 3000, WD_LEASE_FAILED, NULL, "timeout");
    expect_op(l, 3000 + RETRY, WD_LEASE_OP_READ);
    /* the write had landed: the item is this process's, nobody to wait for */
    struct wd_lease_record mine = item(NAME, c.new_rvn, 1, false);
    assert_int_equal(wd_lease_result(l, 3500, 3510, WD_LEASE_OK, &mine, NULL), WD_LEASE_EV_NONE);
    struct wd_lease_call again = expect_op(l, 3510, WD_LEASE_OP_ACQUIRE);
    assert_string_equal(again.expect.rvn, c.new_rvn);
    assert_int_equal(again.new_leadership, 2);
    wd_lease_free(l);

    /* the same name with another process's nonce, or a counter this process never used, is someone else */
    const char *others[] = {"other-1", NONCE "-7", NONCE "x-1", NONCE "-1-1", NONCE "-"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        l = make_default();
        expect_op(l, 0, WD_LEASE_OP_READ);
        struct wd_lease_record rec = item(NAME, others[i], 3, false);
        wd_lease_result(l, 0, 0, WD_LEASE_OK, &rec, NULL);
        expect_none(l, 0);
        wd_lease_free(l);
    }
}

/* ---- leader: renewal, may_call, step-down ---- */

static void test_renewal_success(void **state)
{
    (void)state;
    char rvn[WD_LEASE_RVN_MAX];
    struct wd_lease *l = leader_at_1000(rvn);
    assert_int_equal(expect_none(l, 1000), 1000 + RENEW);
    expect_none(l, 1000 + RENEW - 1);
    struct wd_lease_call c = expect_op(l, 1000 + RENEW, WD_LEASE_OP_RENEW);
    assert_string_equal(c.expect.rvn, rvn);
    assert_string_equal(c.expect.owner, NAME);
    assert_string_not_equal(c.new_rvn, rvn);
    /* answered late, but counted from when it was sent */
    assert_int_equal(wd_lease_result(l, 3000, 3400, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_NONE);
    assert_true(wd_lease_may_call(l, 3000 + D - MARGIN - BOUND - 1));
    assert_false(wd_lease_may_call(l, 3000 + D - MARGIN - BOUND));
    /* the next renewal expects the rvn just written, renew_ms after the last one was sent */
    assert_int_equal(expect_none(l, 3400), 3000 + RENEW);
    struct wd_lease_call c2 = expect_op(l, 5000, WD_LEASE_OP_RENEW);
    assert_string_equal(c2.expect.rvn, c.new_rvn);
    wd_lease_result(l, 5000, 5001, WD_LEASE_OK, NULL, NULL);
    assert_int_equal(wd_lease_role(l), WD_LEASE_LEADER);
    assert_int_equal(wd_lease_since_ms(l), 1000);
    wd_lease_free(l);
}

static void test_may_call_closes_before_the_lease_can_pass(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_result(l, 0, 0, WD_LEASE_OK, &absent, NULL);
    expect_op(l, 1000, WD_LEASE_OP_ACQUIRE);
    assert_false(wd_lease_may_call(l, 1000)); /* not before the answer */
    wd_lease_result(l, 1000, 1200, WD_LEASE_OK, NULL, NULL);
    /* valid until sent + duration (10900 after the drift margin); a call started must end by then */
    assert_true(wd_lease_may_call(l, 1200));
    assert_true(wd_lease_may_call(l, 1000 + D - MARGIN - BOUND - 1));
    assert_false(wd_lease_may_call(l, 1000 + D - MARGIN - BOUND));
    assert_false(wd_lease_may_call(l, 1000 + D));
    wd_lease_free(l);
}

static void test_renewal_failure_retried(void **state)
{
    (void)state;
    char rvn[WD_LEASE_RVN_MAX];
    struct wd_lease *l = leader_at_1000(rvn);
    expect_op(l, 3000, WD_LEASE_OP_RENEW);
    assert_int_equal(wd_lease_result(l, 3000, 3100, WD_LEASE_FAILED, NULL, "DynamoDB 500"), WD_LEASE_EV_NONE);
    assert_int_equal(wd_lease_role(l), WD_LEASE_LEADER);
    assert_true(wd_lease_may_call(l, 3100)); /* still well in time */
    assert_int_equal(expect_none(l, 3100), 3100 + RETRY);
    struct wd_lease_call c = expect_op(l, 3600, WD_LEASE_OP_RENEW);
    assert_string_equal(c.expect.rvn, rvn);
    /* a conflict, too, is retried soon */
    assert_int_equal(wd_lease_result(l, 3600, 3650, WD_LEASE_CONFLICT, NULL, "conflict"), WD_LEASE_EV_NONE);
    assert_int_equal(expect_none(l, 3650), 3650 + RETRY);
    expect_op(l, 4150, WD_LEASE_OP_RENEW);
    wd_lease_result(l, 4150, 4160, WD_LEASE_OK, NULL, NULL);
    assert_true(wd_lease_may_call(l, 4150 + D - MARGIN - BOUND - 1));
    assert_int_equal(expect_none(l, 4160), 4150 + RENEW);
    wd_lease_free(l);
}

static void test_step_down_when_renewal_cannot_succeed_in_time(void **state)
{
    (void)state;
    struct wd_lease *l = leader_at_1000(NULL);
    /* deadline 10900: the last renewal that can end in time starts at 10900 - BOUND - 1 = 7899 */
    uint64_t now = 3000, last_renew = 0;
    enum wd_lease_event ev = WD_LEASE_EV_NONE;
    for (int steps = 0; steps < 100 && ev != WD_LEASE_EV_LOST; steps++) {
        struct wd_lease_call c;
        uint64_t wake;
        ev = wd_lease_next(l, now, &c, &wake);
        if (c.op == WD_LEASE_OP_RENEW) {
            assert_true(now + BOUND < 1000 + D - MARGIN);
            last_renew = now;
            ev = wd_lease_result(l, now, now, WD_LEASE_FAILED, NULL, "DynamoDB 503 ServiceUnavailable");
            continue;
        }
        if (ev != WD_LEASE_EV_LOST)
            now = wake;
    }
    assert_int_equal(ev, WD_LEASE_EV_LOST);
    assert_int_equal(last_renew, 7899);
    assert_int_equal(now, 7899); /* at once: the failure of the last possible try */
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_false(wd_lease_may_call(l, now));
    assert_string_equal(wd_lease_why(l), "could not renew in time: DynamoDB 503 ServiceUnavailable");
    assert_int_equal(wd_lease_since_ms(l), now);
    expect_op(l, now, WD_LEASE_OP_READ); /* a standby now */
    wd_lease_free(l);
}

static void test_step_down_after_a_pause(void **state)
{
    (void)state;
    /* SIGSTOP: next() is not called for a long time; it steps down at the first call after */
    struct wd_lease *l = leader_at_1000(NULL);
    struct wd_lease_call c;
    uint64_t wake;
    assert_int_equal(wd_lease_next(l, 30000, &c, &wake), WD_LEASE_EV_LOST);
    assert_int_equal(c.op, WD_LEASE_OP_READ);
    assert_string_equal(wd_lease_why(l), "could not renew in time: no renewal succeeded for 29000 ms");
    assert_false(wd_lease_may_call(l, 30000));
    wd_lease_free(l);
}

static void test_step_down_while_a_renewal_hangs(void **state)
{
    (void)state;
    struct wd_lease *l = leader_at_1000(NULL);
    expect_op(l, 3000, WD_LEASE_OP_RENEW);
    struct wd_lease_call c;
    uint64_t wake;
    assert_int_equal(wd_lease_next(l, 5000, &c, &wake), WD_LEASE_EV_NONE);
    assert_int_equal(c.op, WD_LEASE_OP_NONE);
    assert_int_equal(wake, 7900); /* the step-down moment */
    assert_true(wd_lease_may_call(l, 7899));
    assert_false(wd_lease_may_call(l, 7900));
    assert_int_equal(wd_lease_next(l, 7900, &c, &wake), WD_LEASE_EV_LOST);
    assert_int_equal(c.op, WD_LEASE_OP_NONE); /* the renewal is still out */
    assert_string_equal(wd_lease_why(l),
                        "could not renew in time: the renewal sent before has no answer yet");
    /* its late success does not make a leader again; the standby looks at the item */
    assert_int_equal(wd_lease_result(l, 3000, 9000, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_NONE);
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_false(wd_lease_may_call(l, 9000));
    expect_op(l, 9000, WD_LEASE_OP_READ);
    wd_lease_free(l);
}

/* ---- leader: conditions and fencing ---- */

/* A leader that must never renew again: drives it for a while and fails on any RENEW. */
static void never_renews(struct wd_lease *l, uint64_t from)
{
    struct wd_lease_record other = item("bravo", "b0-1", 9, false);
    uint64_t now = from;
    for (int steps = 0; steps < 40; steps++) {
        struct wd_lease_call c;
        uint64_t wake;
        wd_lease_next(l, now, &c, &wake);
        assert_int_not_equal(c.op, WD_LEASE_OP_RENEW);
        assert_int_not_equal(c.op, WD_LEASE_OP_RELEASE);
        assert_false(wd_lease_may_call(l, now));
        if (c.op == WD_LEASE_OP_READ)
            wd_lease_result(l, now, now, WD_LEASE_OK, &other, NULL);
        else if (c.op == WD_LEASE_OP_ACQUIRE)
            break; /* the other's lease expired meanwhile: a new leadership, from scratch */
        else
            now = wake;
    }
}

static void test_condition_failed_renewal_steps_down(void **state)
{
    (void)state;
    struct wd_lease *l = leader_at_1000(NULL);
    expect_op(l, 3000, WD_LEASE_OP_RENEW);
    assert_true(wd_lease_may_call(l, 3000));
    assert_int_equal(wd_lease_result(l, 3000, 3010, WD_LEASE_CONDITION_FAILED, NULL, NULL), WD_LEASE_EV_LOST);
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_string_equal(wd_lease_why(l), "the lease was taken over");
    assert_false(wd_lease_may_call(l, 3010)); /* at once, although its deadline is far */
    assert_int_equal(wd_lease_since_ms(l), 3010);
    never_renews(l, 3010);
    wd_lease_free(l);
}

static void test_condition_failed_after_unanswered_renewal_checks_the_item(void **state)
{
    (void)state;
    char rvn[WD_LEASE_RVN_MAX];
    struct wd_lease *l = leader_at_1000(rvn);
    struct wd_lease_call lost = expect_op(l, 3000, WD_LEASE_OP_RENEW);
    wd_lease_result(l, 3000, 3100, WD_LEASE_FAILED, NULL, "timeout"); /* it may have landed */
    struct wd_lease_call retry = expect_op(l, 3600, WD_LEASE_OP_RENEW);
    assert_string_equal(retry.expect.rvn, rvn);
    assert_int_equal(wd_lease_result(l, 3600, 3610, WD_LEASE_CONDITION_FAILED, NULL, NULL), WD_LEASE_EV_NONE);
    /* still the leader within its deadline, but it reads before it writes again */
    assert_int_equal(wd_lease_role(l), WD_LEASE_LEADER);
    assert_true(wd_lease_may_call(l, 3610));
    assert_false(wd_lease_may_call(l, 7900));
    expect_op(l, 3610, WD_LEASE_OP_READ);
    struct wd_lease_record mine = item(NAME, lost.new_rvn, 1, false);
    assert_int_equal(wd_lease_result(l, 3610, 3620, WD_LEASE_OK, &mine, NULL), WD_LEASE_EV_NONE);
    struct wd_lease_call c = expect_op(l, 3620, WD_LEASE_OP_RENEW);
    assert_string_equal(c.expect.rvn, lost.new_rvn);
    wd_lease_result(l, 3620, 3630, WD_LEASE_OK, NULL, NULL);
    assert_true(wd_lease_may_call(l, 3620 + D - MARGIN - BOUND - 1));
    wd_lease_free(l);

    /* the same, but the item is someone else's: lost at once */
    l = leader_at_1000(rvn);
    expect_op(l, 3000, WD_LEASE_OP_RENEW);
    wd_lease_result(l, 3000, 3100, WD_LEASE_FAILED, NULL, "timeout");
    expect_op(l, 3600, WD_LEASE_OP_RENEW);
    wd_lease_result(l, 3600, 3610, WD_LEASE_CONDITION_FAILED, NULL, NULL);
    expect_op(l, 3610, WD_LEASE_OP_READ);
    struct wd_lease_record other = item("bravo", "b0-1", 2, false);
    assert_int_equal(wd_lease_result(l, 3610, 3620, WD_LEASE_OK, &other, NULL), WD_LEASE_EV_LOST);
    assert_string_equal(wd_lease_why(l), "the lease was taken over");
    assert_false(wd_lease_may_call(l, 3620));
    assert_string_equal(wd_lease_holder(l), "bravo");
    never_renews(l, 3620);
    wd_lease_free(l);
}

static void test_fenced_steps_down(void **state)
{
    (void)state;
    struct wd_lease *l = leader_at_1000(NULL);
    assert_true(wd_lease_may_call(l, 2000));
    assert_int_equal(wd_lease_fenced(l, 2000), WD_LEASE_EV_LOST);
    assert_string_equal(wd_lease_why(l), "a store write was fenced: another leadership has begun");
    assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
    assert_false(wd_lease_may_call(l, 2000));
    assert_int_equal(wd_lease_fenced(l, 2001), WD_LEASE_EV_NONE); /* a standby has nothing to lose */
    never_renews(l, 2000);
    wd_lease_free(l);
}

/* ---- release ---- */

static void test_release(void **state)
{
    (void)state;
    enum wd_lease_outcome outcomes[] = {WD_LEASE_OK, WD_LEASE_CONDITION_FAILED, WD_LEASE_FAILED};
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        char rvn[WD_LEASE_RVN_MAX];
        struct wd_lease *l = leader_at_1000(rvn);
        wd_lease_release(l);
        assert_false(wd_lease_may_call(l, 1500)); /* nothing new starts once the hand-over began */
        assert_false(wd_lease_released(l));
        struct wd_lease_call c = expect_op(l, 1500, WD_LEASE_OP_RELEASE);
        assert_string_equal(c.expect.rvn, rvn);
        assert_string_equal(c.expect.owner, NAME);
        assert_string_not_equal(c.new_rvn, rvn);
        assert_false(wd_lease_released(l));
        assert_int_equal(wd_lease_result(l, 1500, 1510, outcomes[i], NULL, "x"), WD_LEASE_EV_RELEASED);
        assert_true(wd_lease_released(l));
        assert_int_equal(wd_lease_role(l), WD_LEASE_STANDBY);
        /* and nothing more: no reads, no new acquisition */
        expect_none(l, 1510);
        expect_none(l, 100000);
        wd_lease_free(l);
    }
}

static void test_release_of_a_standby(void **state)
{
    (void)state;
    struct wd_lease *l = make_default();
    wd_lease_release(l);
    assert_true(wd_lease_released(l));
    expect_none(l, 0);
    wd_lease_free(l);

    /* released while its read is out: the item is free, but it does not take it */
    l = make_default();
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_release(l);
    wd_lease_result(l, 0, 5, WD_LEASE_OK, &absent, NULL);
    assert_true(wd_lease_released(l));
    expect_none(l, 5);
    wd_lease_free(l);

    /* released while its acquisition is out: not done until the won lease is handed back */
    l = make_default();
    expect_op(l, 0, WD_LEASE_OP_READ);
    wd_lease_result(l, 0, 5, WD_LEASE_OK, &absent, NULL);
    expect_op(l, 5, WD_LEASE_OP_ACQUIRE);
    wd_lease_release(l);
    assert_false(wd_lease_released(l));
    assert_int_equal(wd_lease_result(l, 5, 10, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_ACQUIRED);
    assert_false(wd_lease_released(l));
    assert_false(wd_lease_may_call(l, 10));
    expect_op(l, 10, WD_LEASE_OP_RELEASE);
    assert_int_equal(wd_lease_result(l, 10, 12, WD_LEASE_OK, NULL, NULL), WD_LEASE_EV_RELEASED);
    assert_true(wd_lease_released(l));
    wd_lease_free(l);
}

static void test_release_waits_for_a_renewal_in_flight(void **state)
{
    (void)state;
    struct wd_lease *l = leader_at_1000(NULL);
    struct wd_lease_call r = expect_op(l, 3000, WD_LEASE_OP_RENEW);
    wd_lease_release(l);
    expect_none(l, 3001);
    wd_lease_result(l, 3000, 3002, WD_LEASE_OK, NULL, NULL);
    struct wd_lease_call c = expect_op(l, 3002, WD_LEASE_OP_RELEASE);
    assert_string_equal(c.expect.rvn, r.new_rvn); /* the rvn the renewal wrote */
    wd_lease_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_check),
        cmocka_unit_test(test_absent_item_taken_at_once),
        cmocka_unit_test(test_released_item_taken_at_once),
        cmocka_unit_test(test_expiry_counted_from_first_answer),
        cmocka_unit_test(test_changed_rvn_restarts_the_count),
        cmocka_unit_test(test_holder_events),
        cmocka_unit_test(test_failed_read_retried_soon_and_keeps_the_count),
        cmocka_unit_test(test_acquire_condition_failed_reads_at_once),
        cmocka_unit_test(test_acquire_conflict_read_again_soon),
        cmocka_unit_test(test_acquire_failed_reads_after_a_delay),
        cmocka_unit_test(test_own_write_found_after_a_lost_answer),
        cmocka_unit_test(test_renewal_success),
        cmocka_unit_test(test_may_call_closes_before_the_lease_can_pass),
        cmocka_unit_test(test_renewal_failure_retried),
        cmocka_unit_test(test_step_down_when_renewal_cannot_succeed_in_time),
        cmocka_unit_test(test_step_down_after_a_pause),
        cmocka_unit_test(test_step_down_while_a_renewal_hangs),
        cmocka_unit_test(test_condition_failed_renewal_steps_down),
        cmocka_unit_test(test_condition_failed_after_unanswered_renewal_checks_the_item),
        cmocka_unit_test(test_fenced_steps_down),
        cmocka_unit_test(test_release),
        cmocka_unit_test(test_release_of_a_standby),
        cmocka_unit_test(test_release_waits_for_a_renewal_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
