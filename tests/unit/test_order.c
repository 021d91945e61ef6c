/* Unit tests: the scheduler's ordering rules (SPEC 4-5), driven by hand with a clock that is only a number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "order.h"

#define R WD_ORDER_READ
#define A WD_ORDER_APPLY
#define DL WD_ORDER_DEAD_LETTER

/* hold_min_s 1, hold_max_s 4: waits of 1, 2, 4, 4, ... seconds */
static struct wd_order *make(size_t batch_max, size_t max_tasks, size_t read_ahead, bool once)
{
    struct wd_error err;
    struct wd_order_config cfg = {.batch_max = batch_max,
                                  .max_tasks = max_tasks,
                                  .read_ahead = read_ahead,
                                  .once = once,
                                  .hold_min_s = 1.0,
                                  .hold_max_s = 4.0};
    struct wd_order *o = wd_order_new(&cfg, &err);
    assert_non_null(o);
    return o;
}

/* Begins a poll at time now and offers the keys, each of which must be taken. */
static void poll_keys(struct wd_order *o, double now, const char *const *keys, size_t n)
{
    struct wd_error err;
    wd_order_begin(o, now);
    for (size_t i = 0; i < n; i++) {
        size_t index = SIZE_MAX;
        assert_int_equal(wd_order_offer(o, keys[i], now, &index, &err), WD_ORDER_TAKEN);
        assert_int_equal(index, i);
    }
}

/* The next task must be this one. */
static void expect(struct wd_order *o, enum wd_order_task task, size_t index)
{
    enum wd_order_task t;
    size_t i;
    assert_true(wd_order_pick(o, &t, &i));
    if (t != task || i != index)
        fail_msg("picked task %d of item %zu, expected task %d of item %zu", (int)t, i, (int)task, index);
}

/* Nothing may start now. */
static void expect_none(struct wd_order *o)
{
    enum wd_order_task t;
    size_t i;
    if (wd_order_pick(o, &t, &i))
        fail_msg("picked task %d of item %zu, expected none", (int)t, i);
}

static void read_ok(struct wd_order *o, size_t i, const char *identity)
{
    struct wd_error err;
    assert_int_equal(wd_order_read_ok(o, i, identity, &err), 0);
}

static void done(struct wd_order *o, size_t i)
{
    struct wd_error err;
    assert_int_equal(wd_order_done(o, i, &err), 0);
}

static void failed(struct wd_order *o, size_t i, double now)
{
    struct wd_error err;
    assert_int_equal(wd_order_failed(o, i, now, &err), 0);
}

/* Starts the reads of items 0..n-1 and reports each read with its widget. */
static void read_all(struct wd_order *o, const char *const *identities, size_t n)
{
    for (size_t i = 0; i < n; i++)
        expect(o, R, i);
    for (size_t i = 0; i < n; i++)
        read_ok(o, i, identities[i]);
}

/* Reports the reads of items from..from+n-1, already started, each with its widget. */
static void read_all_from(struct wd_order *o, size_t from, const char *const *identities, size_t n)
{
    for (size_t i = 0; i < n; i++)
        read_ok(o, from + i, identities[i]);
}

/* What a poll begun at time now says of key. */
static int verdict_at(struct wd_order *o, const char *key, double now)
{
    struct wd_error err;
    size_t index;
    wd_order_begin(o, now);
    int v = wd_order_offer(o, key, now, &index, &err);
    wd_order_end(o);
    return v;
}

/* One poll at time now in which key is read as widget W and its apply fails. */
static void fail_apply_at(struct wd_order *o, const char *key, double now)
{
    poll_keys(o, now, &key, 1);
    expect(o, R, 0);
    read_ok(o, 0, "W");
    expect(o, A, 0);
    failed(o, 0, now);
    expect_none(o);
    wd_order_end(o);
}

static void test_one_widget_in_key_order(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 8, 32, false);
    const char *keys[] = {"1", "2", "3"};
    poll_keys(o, 0, keys, 3);
    expect(o, R, 0);
    expect(o, R, 1);
    expect(o, R, 2);
    expect_none(o);
    /* Reads finish in any order; the applies still go in key order, one at a time. */
    read_ok(o, 2, "W");
    read_ok(o, 1, "W");
    read_ok(o, 0, "W");
    expect(o, A, 0);
    expect_none(o);
    done(o, 0);
    expect(o, A, 1);
    expect_none(o);
    done(o, 1);
    expect(o, A, 2);
    expect_none(o);
    done(o, 2);
    expect_none(o);
    assert_int_equal(wd_order_holds(o), 0);
    wd_order_free(o);
}

static void test_widgets_in_parallel(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 8, 32, false);
    const char *keys[] = {"1", "2", "3", "4"}, *ids[] = {"W1", "W2", "W1", "W3"};
    poll_keys(o, 0, keys, 4);
    read_all(o, ids, 4);
    expect(o, A, 0);
    expect(o, A, 1);
    expect(o, A, 3); /* item 2 waits for item 0, its widget's previous request */
    expect_none(o);
    done(o, 1);
    expect_none(o);
    done(o, 0);
    expect(o, A, 2);
    wd_order_free(o);
}

static void test_read_frontier(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 8, 32, false);
    const char *keys[] = {"1", "2", "3"};
    poll_keys(o, 0, keys, 3);
    expect(o, R, 0);
    expect(o, R, 1);
    expect(o, R, 2);
    /* Item 0's widget is unknown while it is being read: it may be that of items 1 and 2. */
    read_ok(o, 2, "W2");
    read_ok(o, 1, "W1");
    expect_none(o);
    read_ok(o, 0, "W0");
    expect(o, A, 0);
    expect(o, A, 1);
    expect(o, A, 2);
    wd_order_free(o);

    /* A bad request is set aside only once the frontier has passed it too. */
    struct wd_error err;
    o = make(10, 8, 32, false);
    poll_keys(o, 0, keys, 2);
    expect(o, R, 0);
    expect(o, R, 1);
    assert_int_equal(wd_order_read_bad(o, 1, &err), 0);
    expect_none(o);
    read_ok(o, 0, "W");
    expect(o, A, 0);
    expect(o, DL, 1);
    wd_order_free(o);
}

static void test_read_failure_stops_the_batch(void **state)
{
    (void)state;
    struct wd_error err;
    struct wd_order *o = make(10, 8, 32, false);
    /* Item 1 cannot be read; items 2 (same widget as 0) and 3 (another one) are read already. */
    const char *keys[] = {"a", "b", "c", "d", "e"};
    poll_keys(o, 0, keys, 5);
    for (size_t i = 0; i < 5; i++)
        expect(o, R, i);
    read_ok(o, 0, "W");
    read_ok(o, 2, "W");
    read_ok(o, 3, "V");
    expect(o, A, 0);
    expect_none(o);
    failed(o, 1, 0.1);
    expect_none(o);
    done(o, 0);
    expect_none(o); /* nothing after item 1 is applied: c and d stay in the bucket */
    assert_int_equal(wd_order_read_bad(o, 4, &err), 0);
    expect_none(o); /* nor set aside */
    assert_int_equal(wd_order_holds(o), 1);
    wd_order_end(o);

    /* Within the back-off, the batch ends at b; after it, b comes first again, then c of its widget. */
    assert_int_equal(verdict_at(o, "b", 1.0), WD_ORDER_ENDS);
    poll_keys(o, 1.2, keys + 1, 4);
    read_all(o, (const char *[]){"W", "W", "V", "X"}, 4);
    expect(o, A, 0);
    expect(o, A, 2);
    expect(o, A, 3);
    expect_none(o);
    done(o, 0);
    assert_int_equal(wd_order_holds(o), 0);
    expect(o, A, 1);
    wd_order_free(o);
}

static void test_failed_apply_holds_back_its_widget(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 8, 32, false);
    /* An apply task is the apply and the delete: a failure of either is reported the same way. */
    const char *keys[] = {"a", "b", "c", "d", "e"}, *ids[] = {"W1", "W2", "W1", "W2", "W1"};
    poll_keys(o, 0, keys, 5);
    read_all(o, ids, 5);
    expect(o, A, 0);
    expect(o, A, 1);
    expect_none(o);
    failed(o, 0, 0.0);
    expect_none(o); /* c and e wait behind a */
    done(o, 1);
    expect(o, A, 3); /* W2 goes on */
    expect_none(o);
    done(o, 3);
    expect_none(o);
    assert_int_equal(wd_order_holds(o), 1);
    wd_order_end(o);

    /* The next poll, within the back-off: a is left alone, W1's later requests too, W2's go on. */
    struct wd_error err;
    size_t index;
    wd_order_begin(o, 0.5);
    assert_int_equal(wd_order_offer(o, "a", 0.5, &index, &err), WD_ORDER_HELD);
    assert_int_equal(wd_order_offer(o, "c", 0.5, &index, &err), WD_ORDER_TAKEN);
    assert_int_equal(wd_order_offer(o, "f", 0.5, &index, &err), WD_ORDER_TAKEN);
    read_all(o, (const char *[]){"W1", "W2"}, 2);
    expect(o, A, 1);
    expect_none(o);
    wd_order_free(o);
}

static void test_bad_request_holds_nothing(void **state)
{
    (void)state;
    struct wd_error err;
    struct wd_order *o = make(10, 8, 32, false);
    const char *keys[] = {"a", "b"};
    poll_keys(o, 0, keys, 2);
    expect(o, R, 0);
    expect(o, R, 1);
    assert_int_equal(wd_order_read_bad(o, 0, &err), 0);
    read_ok(o, 1, "W");
    expect(o, DL, 0);
    expect(o, A, 1);
    failed(o, 0, 0.0); /* the dead letter could not be written */
    done(o, 1);
    assert_int_equal(wd_order_holds(o), 1);
    wd_order_end(o);

    /* Within the back-off a is left alone, and what comes after it goes on. */
    size_t index;
    wd_order_begin(o, 0.5);
    assert_int_equal(wd_order_offer(o, "a", 0.5, &index, &err), WD_ORDER_HELD);
    assert_int_equal(wd_order_offer(o, "c", 0.5, &index, &err), WD_ORDER_TAKEN);
    read_all(o, (const char *[]){"W"}, 1);
    expect(o, A, 0);
    wd_order_free(o);
}

static void test_gone_holds_nothing(void **state)
{
    (void)state;
    struct wd_error err;
    struct wd_order *o = make(10, 8, 32, false);
    const char *keys[] = {"a", "b"};
    poll_keys(o, 0, keys, 2);
    expect(o, R, 0);
    expect(o, R, 1);
    read_ok(o, 1, "W");
    assert_int_equal(wd_order_read_gone(o, 0, &err), 0);
    expect(o, A, 1);
    assert_int_equal(wd_order_holds(o), 0);
    wd_order_free(o);
}

static void test_unknown_widget_hold_ends_the_batch(void **state)
{
    (void)state;
    struct wd_error err;
    struct wd_order *o = make(10, 8, 32, false);
    const char *keys[] = {"b"};
    poll_keys(o, 0, keys, 1);
    expect(o, R, 0);
    failed(o, 0, 0.0);
    wd_order_end(o);

    size_t index;
    wd_order_begin(o, 0.5);
    assert_int_equal(wd_order_offer(o, "a", 0.5, &index, &err), WD_ORDER_TAKEN);
    assert_int_equal(wd_order_offer(o, "b", 0.5, &index, &err), WD_ORDER_ENDS);
    wd_order_free(o);
}

static void test_hold_expires_across_polls(void **state)
{
    (void)state;
    struct wd_error err;
    size_t index;
    struct wd_order *o = make(10, 8, 32, false);
    fail_apply_at(o, "a", 0.2); /* poll 1: held until 1.2 */

    /* Poll 2, within the back-off: a is left alone and b, of its widget, waits behind it. */
    wd_order_begin(o, 1.0);
    assert_int_equal(wd_order_offer(o, "a", 1.0, &index, &err), WD_ORDER_HELD);
    assert_int_equal(wd_order_offer(o, "b", 1.0, &index, &err), WD_ORDER_TAKEN);
    read_all(o, (const char *[]){"W"}, 1);
    expect_none(o);
    wd_order_end(o);

    /* Poll 3, after it: a is tried again, then b. */
    const char *keys[] = {"a", "b"};
    poll_keys(o, 1.5, keys, 2);
    read_all(o, (const char *[]){"W", "W"}, 2);
    expect(o, A, 0);
    expect_none(o);
    done(o, 0);
    assert_int_equal(wd_order_holds(o), 0);
    expect(o, A, 1);
    wd_order_free(o);
}

static void test_backoff_doubles_to_max(void **state)
{
    (void)state;
    struct wd_error err;
    struct wd_order_config cfg = {
        .batch_max = 10, .max_tasks = 8, .read_ahead = 32, .hold_min_s = 1.0, .hold_max_s = 3.0};
    struct wd_order *o = wd_order_new(&cfg, &err);
    assert_non_null(o);
    const double waits[] = {1, 2, 3, 3, 3}; /* doubling, then the longest wait */
    double t = 0;
    for (size_t n = 0; n < sizeof(waits) / sizeof(waits[0]); n++) {
        fail_apply_at(o, "a", t);
        assert_int_equal(verdict_at(o, "a", t + waits[n] - 0.01), WD_ORDER_HELD);
        assert_int_equal(verdict_at(o, "a", t + waits[n]), WD_ORDER_TAKEN);
        t += waits[n] + 0.5;
    }
    assert_int_equal(wd_order_holds(o), 1);
    wd_order_free(o);
}

static void test_long_expired_hold_dropped(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 8, 32, false);
    fail_apply_at(o, "a", 0.0);
    fail_apply_at(o, "a", 1.0); /* held until 3 */
    /* Kept while expired for up to twice the longest wait (2 x 4 s), so failures go on backing off. */
    wd_order_begin(o, 3.0 + 8.0);
    assert_int_equal(wd_order_holds(o), 1);
    wd_order_begin(o, 3.0 + 8.01);
    assert_int_equal(wd_order_holds(o), 0);
    wd_order_end(o);
    /* Forgotten: a new failure waits the shortest time again. */
    fail_apply_at(o, "a", 20.0);
    assert_int_equal(verdict_at(o, "a", 20.99), WD_ORDER_HELD);
    assert_int_equal(verdict_at(o, "a", 21.0), WD_ORDER_TAKEN);
    wd_order_free(o);
}

static void test_once_holds_never_expire(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 8, 32, true);
    fail_apply_at(o, "a", 0.0);
    assert_int_equal(verdict_at(o, "a", 1e6), WD_ORDER_HELD);
    assert_int_equal(wd_order_holds(o), 1);

    const char *keys[] = {"b"};
    poll_keys(o, 1e6, keys, 1);
    expect(o, R, 0);
    failed(o, 0, 1e6);
    wd_order_end(o);
    assert_int_equal(verdict_at(o, "b", 1e9), WD_ORDER_ENDS);
    assert_int_equal(wd_order_holds(o), 2);
    wd_order_free(o);
}

static void test_reload_starts_without_holds(void **state)
{
    (void)state;
    /* SIGHUP builds a new service, consumer and scheduler (daemon/loop.c swap_config): no holds. */
    struct wd_order *old = make(10, 8, 32, true);
    fail_apply_at(old, "a", 0.0);
    struct wd_order *fresh = make(10, 8, 32, true);
    assert_int_equal(wd_order_holds(fresh), 0);
    assert_int_equal(verdict_at(fresh, "a", 0.5), WD_ORDER_TAKEN);
    assert_int_equal(verdict_at(old, "a", 0.5), WD_ORDER_HELD);
    wd_order_free(old);
    wd_order_free(fresh);
}

static void test_read_ahead_window(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 10, 3, false);
    const char *keys[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    poll_keys(o, 0, keys, 10);
    read_all(o, (const char *[]){"W0", "W1", "W2"}, 3);
    expect(o, A, 0);
    expect(o, A, 1);
    expect(o, A, 2);
    expect_none(o); /* 7 workers idle, but reads stay within 3 of the first unfinished item */
    done(o, 1);
    expect_none(o);
    done(o, 0);
    expect(o, R, 3);
    expect(o, R, 4);
    expect_none(o);
    wd_order_free(o);
}

static void test_in_flight_limit(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 2, 100, false);
    const char *keys[] = {"0", "1", "2", "3", "4"};
    poll_keys(o, 0, keys, 5);
    expect(o, R, 0);
    expect(o, R, 1);
    expect_none(o);
    read_ok(o, 0, "W0");
    expect(o, A, 0); /* a ready apply before the next read */
    expect_none(o);
    read_ok(o, 1, "W1");
    expect(o, A, 1);
    expect_none(o);
    done(o, 0);
    expect(o, R, 2);
    expect_none(o);
    wd_order_free(o);
}

/* The limits change while tasks run (the adaptive limit on calls in flight): a lower one lets nothing new
 * start until the running tasks are under it, a higher one lets more start at once. */
static void test_limits_change_while_running(void **state)
{
    (void)state;
    struct wd_order *o = make(10, 3, 100, false);
    const char *keys[] = {"0", "1", "2", "3", "4", "5"};
    poll_keys(o, 0, keys, 6);
    expect(o, R, 0);
    expect(o, R, 1);
    expect(o, R, 2);
    expect_none(o);
    wd_order_set_limits(o, 1, 100);
    read_ok(o, 0, "W0");
    read_ok(o, 1, "W1");
    expect_none(o); /* one task runs, and one may */
    read_ok(o, 2, "W2");
    expect(o, A, 0);
    expect_none(o);
    wd_order_set_limits(o, 4, 100);
    expect(o, A, 1);
    expect(o, A, 2);
    expect(o, R, 3);
    expect_none(o);
    wd_order_set_limits(o, 10, 2); /* reads at most 2 ahead of the first unfinished item */
    done(o, 0);
    done(o, 1);
    done(o, 2);
    read_ok(o, 3, "W3");
    expect(o, A, 3);
    expect(o, R, 4);
    expect_none(o);               /* item 5 would be 2 ahead of item 3 */
    wd_order_set_limits(o, 0, 0); /* taken as 1 and 1 */
    done(o, 3);
    expect_none(o);
    read_ok(o, 4, "W4");
    expect(o, A, 4);
    expect_none(o);
    wd_order_free(o);
}

/* Offers key to the running batch: it must be taken as item index. */
static void offer_more(struct wd_order *o, const char *key, double now, size_t index)
{
    struct wd_error err;
    size_t i = SIZE_MAX;
    assert_int_equal(wd_order_offer(o, key, now, &i, &err), WD_ORDER_TAKEN);
    assert_int_equal(i, index);
}

static void test_compact_runs_the_batch_on(void **state)
{
    (void)state;
    struct wd_order *o = make(4, 8, 32, false);
    const char *keys[] = {"a", "b", "c"}, *ids[] = {"W1", "W2", "W1"};
    poll_keys(o, 0, keys, 3);
    assert_int_equal(wd_order_room(o), 1);
    assert_int_equal(wd_order_unread(o), 3);
    read_all(o, ids, 3);
    assert_int_equal(wd_order_unread(o), 0);
    expect(o, A, 0);
    expect(o, A, 1);
    expect_none(o);
    assert_int_equal(wd_order_compact(o), 0); /* nothing has its outcome yet */
    done(o, 1);
    assert_int_equal(wd_order_compact(o), 0); /* a, before b, is still running */
    done(o, 0);
    /* a and b leave; c, now item 0, no longer waits for anything */
    assert_int_equal(wd_order_compact(o), 2);
    assert_int_equal(wd_order_room(o), 3);
    offer_more(o, "d", 0, 1);
    offer_more(o, "e", 0, 2);
    offer_more(o, "f", 0, 3);
    assert_int_equal(wd_order_room(o), 0);
    expect(o, A, 0);
    expect(o, R, 1);
    expect(o, R, 2);
    expect(o, R, 3);
    expect_none(o);
    /* d is W1 again: it waits for c through the rebuilt chain; e and f go */
    read_all_from(o, 1, (const char *[]){"W1", "W3", "W1"}, 3);
    expect(o, A, 2);
    expect_none(o);
    done(o, 0);
    expect(o, A, 1);
    expect_none(o);
    done(o, 1);
    expect(o, A, 3); /* f waited for d, its widget's previous request */
    wd_order_free(o);
}

/*
 * The batch of wd_order_batch_for() takes the next page once fewer than max_tasks items are unread, even
 * when the reads ran read_ahead past an oldest item that is still running. Two pages (8 here) would have
 * had no room at all: the calls in flight would drain before the next page could join.
 */
static void test_batch_for_takes_the_next_page(void **state)
{
    (void)state;
    const size_t page = 4, max_tasks = 3, read_ahead = 6;
    size_t batch = wd_order_batch_for(page, max_tasks, read_ahead);
    assert_int_equal(batch, 13);
    assert_int_equal(wd_order_batch_for(1000, 8, 32), 2000); /* two pages at the least */
    struct wd_order *o = make(batch, max_tasks, read_ahead, false);
    const char *keys[] = {"0", "1", "2", "3"};
    poll_keys(o, 0, keys, 4);
    read_all(o, (const char *[]){"W0", "W1", "W2"}, 3);
    expect(o, A, 0); /* item 0's apply runs on through what follows */
    expect(o, A, 1);
    expect(o, A, 2);
    done(o, 1);
    done(o, 2);
    expect(o, R, 3);
    read_ok(o, 3, "W3");
    expect(o, A, 3);
    done(o, 3);
    assert_int_equal(wd_order_unread(o), 0); /* the next page joins */
    assert_true(wd_order_room(o) >= page);
    const char *more[] = {"4", "5", "6", "7"};
    for (size_t i = 0; i < 4; i++)
        offer_more(o, more[i], 0, 4 + i);
    expect(o, R, 4);
    expect(o, R, 5);
    expect_none(o); /* item 6 would be 6 ahead of item 0 */
    read_all_from(o, 4, (const char *[]){"W4", "W5"}, 2);
    expect(o, A, 4);
    expect(o, A, 5);
    done(o, 4);
    done(o, 5);
    assert_int_equal(wd_order_unread(o), 2);  /* fewer than max_tasks: the page after joins now */
    assert_int_equal(wd_order_compact(o), 0); /* item 0 still runs: nothing leaves */
    assert_true(wd_order_room(o) >= page);
    done(o, 0);
    assert_int_equal(wd_order_compact(o), 6);
    assert_int_equal(wd_order_room(o), batch - 2);
    wd_order_free(o);
}

/*
 * The next page is wanted once fewer items are unread than the reads may run ahead, not only once fewer
 * than the tasks are: a LIST under load takes several calls' waits, and the reads must not run out
 * meanwhile. Never without room for the whole page.
 */
static void test_wants_page_before_the_reads_run_short(void **state)
{
    (void)state;
    const size_t page = 8, max_tasks = 2, read_ahead = 6;
    struct wd_order *o = make(wd_order_batch_for(page, max_tasks, read_ahead), max_tasks, read_ahead, false);
    const char *keys[] = {"0", "1", "2", "3", "4", "5", "6", "7"};
    poll_keys(o, 0, keys, page);
    assert_false(wd_order_wants_page(o, page)); /* 8 unread */
    read_all(o, (const char *[]){"W0", "W1"}, 2);
    assert_int_equal(wd_order_unread(o), 6);
    assert_false(wd_order_wants_page(o, page)); /* 6 unread: as many as the reads may run ahead */
    expect(o, A, 0);
    expect(o, A, 1);
    expect_none(o);
    done(o, 0);
    expect(o, R, 2);
    assert_int_equal(wd_order_unread(o), 5); /* more than max_tasks, fewer than read_ahead */
    assert_true(wd_order_wants_page(o, page));
    assert_false(wd_order_wants_page(o, page + 1)); /* no room for a bigger page */
    wd_order_free(o);
}

static void test_compact_keeps_a_failed_widget_held(void **state)
{
    (void)state;
    struct wd_order *o = make(4, 8, 32, false);
    const char *keys[] = {"a", "b", "c"}, *ids[] = {"W1", "W2", "W1"};
    poll_keys(o, 0, keys, 3);
    read_all(o, ids, 3);
    expect(o, A, 0);
    expect(o, A, 1);
    expect_none(o);
    failed(o, 0, 0.0);
    done(o, 1);
    /* a (failed) and b leave; c, linked to a, stays held back */
    assert_int_equal(wd_order_compact(o), 2);
    expect_none(o);
    /* a later request of W1 joining now is held back too (by a's hold), one of W2 goes */
    offer_more(o, "d", 0.1, 1);
    offer_more(o, "e", 0.1, 2);
    expect(o, R, 1);
    expect(o, R, 2);
    read_all_from(o, 1, (const char *[]){"W1", "W2"}, 2);
    expect(o, A, 2);
    expect_none(o);
    done(o, 2);
    expect_none(o);
    assert_int_equal(wd_order_holds(o), 1);
    wd_order_free(o);
}

static void test_compact_keeps_a_chain_behind_a_failure(void **state)
{
    (void)state;
    struct wd_order *o = make(4, 8, 32, false);
    const char *keys[] = {"a", "b", "c"}, *ids[] = {"W1", "W1", "W2"};
    poll_keys(o, 0, keys, 3);
    read_all(o, ids, 3);
    expect(o, A, 0);
    expect(o, A, 2);
    expect_none(o);
    failed(o, 0, 0.0);
    expect_none(o); /* marks b as held back: it joins a in the cut */
    done(o, 2);
    assert_int_equal(wd_order_compact(o), 3);
    offer_more(o, "d", 0.2, 0);
    expect(o, R, 0);
    read_ok(o, 0, "W1");
    expect_none(o);
    wd_order_free(o);
}

static void test_compact_after_a_failed_read(void **state)
{
    (void)state;
    struct wd_order *o = make(4, 8, 32, false);
    const char *keys[] = {"a", "b"}, *ids[] = {"W1"};
    poll_keys(o, 0, keys, 2);
    read_all(o, ids, 1);
    expect(o, A, 0);
    expect(o, R, 1);
    failed(o, 1, 0.0);
    done(o, 0);
    /* b's widget is unknown: nothing more joins the batch, and nothing leaves it */
    assert_int_equal(wd_order_room(o), 0);
    assert_int_equal(wd_order_compact(o), 0);
    assert_int_equal(wd_order_unread(o), 0);
    wd_order_free(o);
}

static void test_overfull_listing(void **state)
{
    (void)state;
    struct wd_error err;
    size_t index;
    struct wd_order *o = make(3, 8, 32, false);
    /* A listing with more keys than a batch holds: the batch ends, nothing is written past it. */
    wd_order_begin(o, 0);
    const char *keys[] = {"0", "1", "2", "3", "4"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(wd_order_offer(o, keys[i], 0, &index, &err), WD_ORDER_TAKEN);
    index = 99;
    assert_int_equal(wd_order_offer(o, keys[3], 0, &index, &err), WD_ORDER_ENDS);
    assert_int_equal(wd_order_offer(o, keys[4], 0, &index, &err), WD_ORDER_ENDS);
    assert_int_equal(index, 99);
    read_all(o, (const char *[]){"W", "W", "W"}, 3);
    expect(o, A, 0);
    expect_none(o);

    /* Indexes and outcomes it did not hand out are refused, and change nothing. */
    assert_int_equal(wd_order_done(o, 3, &err), -1);
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
    assert_int_equal(wd_order_failed(o, SIZE_MAX, 0, &err), -1);
    assert_int_equal(wd_order_read_ok(o, 0, "V", &err), -1); /* item 0 is applying, not reading */
    assert_int_equal(wd_order_done(o, 1, &err), -1);         /* item 1 is waiting, not applying */
    expect_none(o);
    done(o, 0);
    expect(o, A, 1);
    wd_order_free(o);

    struct wd_order_config zero = {.batch_max = 0, .max_tasks = 1, .read_ahead = 1};
    assert_null(wd_order_new(&zero, &err));
    assert_int_equal(err.cls, WD_ERR_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_widget_in_key_order),
        cmocka_unit_test(test_widgets_in_parallel),
        cmocka_unit_test(test_read_frontier),
        cmocka_unit_test(test_read_failure_stops_the_batch),
        cmocka_unit_test(test_failed_apply_holds_back_its_widget),
        cmocka_unit_test(test_bad_request_holds_nothing),
        cmocka_unit_test(test_gone_holds_nothing),
        cmocka_unit_test(test_unknown_widget_hold_ends_the_batch),
        cmocka_unit_test(test_hold_expires_across_polls),
        cmocka_unit_test(test_backoff_doubles_to_max),
        cmocka_unit_test(test_long_expired_hold_dropped),
        cmocka_unit_test(test_once_holds_never_expire),
        cmocka_unit_test(test_reload_starts_without_holds),
        cmocka_unit_test(test_read_ahead_window),
        cmocka_unit_test(test_in_flight_limit),
        cmocka_unit_test(test_limits_change_while_running),
        cmocka_unit_test(test_overfull_listing),
        cmocka_unit_test(test_compact_runs_the_batch_on),
        cmocka_unit_test(test_batch_for_takes_the_next_page),
        cmocka_unit_test(test_wants_page_before_the_reads_run_short),
        cmocka_unit_test(test_compact_keeps_a_failed_widget_held),
        cmocka_unit_test(test_compact_keeps_a_chain_behind_a_failure),
        cmocka_unit_test(test_compact_after_a_failed_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
