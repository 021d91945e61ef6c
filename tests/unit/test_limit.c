/*
 * Unit tests of the adaptive limit on calls in flight (limit.h), driven by hand with a clock that is
 * only a number: growth while the waits are the round trip, shrinking in proportion to a queue, no
 * growth without demand, the bounds, the window, the probe that measures the round trip again, and the
 * cut on a throttle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "limit.h"

/* One window: 16 calls that each waited mean seconds, reported a second later (always long enough);
 * peak calls were in flight, and are still. */
static void window(struct wd_limit *l, double *now, double mean, int peak)
{
    *now += 1.0;
    wd_limit_report(l, *now, 16 * mean, 16, peak, peak);
}

/* A window in which the limit was in full use. */
static void busy(struct wd_limit *l, double *now, double mean)
{
    window(l, now, mean, wd_limit_get(l));
}

static void test_bounds(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 8, now);
    assert_int_equal(wd_limit_get(&l), 8); /* less than the least: fixed */
    for (int i = 0; i < 5; i++)
        busy(&l, &now, i % 2 ? 0.1 : 1.0);
    assert_int_equal(wd_limit_get(&l), 8);

    wd_limit_init(&l, 0, now);
    assert_int_equal(wd_limit_get(&l), 1);

    wd_limit_init(&l, 1024, now);
    assert_int_equal(wd_limit_get(&l), WD_LIMIT_MIN); /* starts at its least */
}

/* A far region: the waits stay at the round trip, so the limit doubles each window up to the maximum. */
static void test_doubles_up_to_max(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 300, now);
    int expect[] = {32, 64, 128, 256, 300, 300};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        busy(&l, &now, 0.2);
        assert_int_equal(wd_limit_get(&l), expect[i]);
    }
}

/* Once a queue begins to show (waits past 1.5 x the round trip), the limit grows by a quarter, not double. */
static void test_slow_start_ends(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 1024, now);
    for (int i = 0; i < 4; i++)
        busy(&l, &now, 0.2);
    assert_int_equal(wd_limit_get(&l), 256);
    busy(&l, &now, 0.35); /* 1.75 x: still within the tolerance */
    assert_int_equal(wd_limit_get(&l), 320);
    busy(&l, &now, 0.2);
    assert_int_equal(wd_limit_get(&l), 400);
}

/* Calls that leave most of the limit unused do not raise it: the limit is not what holds them back. */
static void test_no_growth_without_demand(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 1024, now);
    for (int i = 0; i < 10; i++)
        window(&l, &now, 0.2, 12);
    assert_int_equal(wd_limit_get(&l), 16);
    window(&l, &now, 0.2, 13); /* 0.8 of 16 */
    assert_int_equal(wd_limit_get(&l), 32);
}

/* A server's queue: waits past 3 x the round trip shrink the limit half way to what would bring them
 * back, so by a quarter at most. */
static void test_queue_shrinks_it(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 1024, now);
    for (int i = 0; i < 3; i++)
        busy(&l, &now, 0.01);
    assert_int_equal(wd_limit_get(&l), 128);
    busy(&l, &now, 0.04); /* 4 x: to 3 / 4 of it, half way: 0.875 */
    assert_int_equal(wd_limit_get(&l), 112);
    busy(&l, &now, 0.1); /* 10 x: a quarter, no more */
    assert_int_equal(wd_limit_get(&l), 84);
    busy(&l, &now, 0.02); /* the round trip again: once a queue was seen it grows by a quarter */
    assert_int_equal(wd_limit_get(&l), 105);
    for (int i = 0; i < 20; i++)
        busy(&l, &now, 1.0);
    assert_int_equal(wd_limit_get(&l), WD_LIMIT_MIN); /* never below its least */
}

/* A busy local server: the wait grows with the calls in flight, so the limit settles near 3 times the
 * calls that were in flight when the least wait was seen, whatever the maximum. */
static void test_settles_against_a_busy_server(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 1024, now);
    for (int i = 0; i < 25; i++) {
        int n = wd_limit_get(&l);
        busy(&l, &now, n / 800.0); /* 800 calls a second, whatever is in flight */
        assert_true(wd_limit_get(&l) <= 64);
    }
    assert_true(wd_limit_get(&l) >= 40);
}

/*
 * A window needs 16 calls and one mean wait of time, or a second. In slow start the next window starts
 * at once; after a later step, what ends within one mean wait was sent under the old limit and is not
 * counted.
 */
static void test_window(void **state)
{
    (void)state;
    struct wd_limit l;
    wd_limit_init(&l, 1024, 0);
    wd_limit_report(&l, 0.5, 15 * 0.2, 15, 16, 16);
    assert_int_equal(wd_limit_get(&l), 16); /* 15 calls */
    wd_limit_report(&l, 0.5, 0.2, 1, 16, 16);
    assert_int_equal(wd_limit_get(&l), 32); /* 16; slow start: the next window starts now */
    wd_limit_report(&l, 0.65, 16 * 0.2, 16, 32, 32);
    assert_int_equal(wd_limit_get(&l), 32); /* 16 calls, but less than a mean wait */
    wd_limit_report(&l, 0.75, 0, 0, 32, 32);
    assert_int_equal(wd_limit_get(&l), 64); /* a whole one */
    wd_limit_report(&l, 1.0, 16 * 0.4, 16, 64, 64);
    assert_int_equal(wd_limit_get(&l), 80); /* a queue shows: slow start is over; the next window at 1.4 */
    wd_limit_report(&l, 1.3, 16 * 5.0, 16, 80, 80);
    assert_int_equal(wd_limit_get(&l), 80); /* not counted: a queue it would show is gone */
    wd_limit_report(&l, 1.5, 16 * 0.4, 16, 80, 80);
    assert_int_equal(wd_limit_get(&l), 80); /* 16 calls, but a quarter of a mean wait */
    wd_limit_report(&l, 1.8, 0, 0, 80, 80);
    assert_int_equal(wd_limit_get(&l), 100); /* a whole one; the next window at 2.2 */
    wd_limit_report(&l, 2.3, 0.4, 1, 100, 100);
    assert_int_equal(wd_limit_get(&l), 100);
    wd_limit_report(&l, 3.2, 0, 0, 100, 100);
    assert_int_equal(wd_limit_get(&l), 125); /* a second: one call is enough */
    wd_limit_report(&l, 6, 0, 0, 125, 125);
    assert_int_equal(wd_limit_get(&l), 125); /* nothing ended: nothing to learn */
}

/* Waits too short for the clock still give finite ratios. */
static void test_zero_waits(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 1024, now);
    busy(&l, &now, 0);
    busy(&l, &now, 0);
    assert_int_equal(wd_limit_get(&l), 64);
    busy(&l, &now, 0.01);
    assert_int_equal(wd_limit_get(&l), 48);
}

/*
 * Every 30 s the limit drops to its least until the calls in flight are down to it, one window measures
 * the round trip anew, and the limit comes back: a path that got slower is not taken for a queue for good.
 */
static void test_probe_measures_the_round_trip_again(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 1024, now);
    for (int i = 0; i < 4; i++)
        busy(&l, &now, 0.05);
    assert_int_equal(wd_limit_get(&l), 256);
    /* The path got slower: 0.25 s looks like a queue (5 x), so the limit shrinks to its least and stays. */
    while (now < 28.5) {
        busy(&l, &now, 0.25);
        assert_true(wd_limit_get(&l) < 256);
    }
    now = 30.0;
    wd_limit_report(&l, now, 0, 0, 16, 100);
    assert_int_equal(wd_limit_get(&l), WD_LIMIT_MIN); /* the probe: down to the least */
    int saved = (int)l.saved;
    assert_true(saved >= WD_LIMIT_MIN);
    wd_limit_report(&l, now + 0.1, 16 * 0.25, 16, 100, 40); /* sent before the probe: not measured */
    assert_int_equal(wd_limit_get(&l), WD_LIMIT_MIN);
    wd_limit_report(&l, now + 0.2, 16 * 0.25, 16, 40, 16); /* drained: the probe's window starts */
    assert_int_equal(wd_limit_get(&l), WD_LIMIT_MIN);
    wd_limit_report(&l, now + 0.5, 16 * 0.25, 16, 16, 16);
    assert_int_equal(wd_limit_get(&l), saved); /* back, with the new round trip */
    now += 0.5;
    busy(&l, &now, 0.25); /* no longer a queue */
    assert_true(wd_limit_get(&l) > saved);
}

/*
 * A throttle halves the limit at once, ends slow start, and cuts no further within one mean wait (what is
 * throttled meanwhile was sent under the old limit); the limit then grows by a quarter up to 90 % of where
 * it was throttled, by one call a window beyond, and freely again a minute after the last throttle.
 */
static void test_throttle_halves_and_creeps_back(void **state)
{
    (void)state;
    struct wd_limit l;
    double now = 0;
    wd_limit_init(&l, 1024, now);
    for (int i = 0; i < 3; i++)
        busy(&l, &now, 0.2);
    assert_int_equal(wd_limit_get(&l), 128);
    wd_limit_throttled(&l, now, 0); /* nothing throttled: nothing changes */
    assert_int_equal(wd_limit_get(&l), 128);
    wd_limit_throttled(&l, now, 3);
    assert_int_equal(wd_limit_get(&l), 64);
    wd_limit_throttled(&l, now + 0.1, 5); /* within a mean wait of the cut */
    assert_int_equal(wd_limit_get(&l), 64);
    wd_limit_report(&l, now + 0.15, 16 * 0.2, 16, 64, 64); /* sent under the old limit: not measured */
    assert_int_equal(wd_limit_get(&l), 64);
    double last = now + 0.1;
    int expect[] = {80, 100, 115, 116, 117}; /* x 1.25 (not x 2) up to 0.9 x 128, then one a window */
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        busy(&l, &now, 0.2);
        assert_int_equal(wd_limit_get(&l), expect[i]);
    }
    assert_int_equal(l.cuts, 1);
    /* A minute after the last throttle the ceiling is forgotten (the probe at 30 s takes three windows). */
    now = last + 61;
    for (int i = 0; i < 4; i++)
        busy(&l, &now, 0.2);
    assert_int_equal(wd_limit_get(&l), 146);

    /* At its least, or fixed, a throttle leaves it where it is; a throttle during the probe halves the
     * limit the probe saved. */
    wd_limit_init(&l, 1024, 0);
    wd_limit_throttled(&l, 0, 1);
    assert_int_equal(wd_limit_get(&l), WD_LIMIT_MIN);
    wd_limit_init(&l, 8, 0);
    wd_limit_throttled(&l, 0, 1);
    assert_int_equal(wd_limit_get(&l), 8);
    now = 0;
    wd_limit_init(&l, 1024, now);
    for (int i = 0; i < 4; i++)
        busy(&l, &now, 0.2);
    assert_int_equal(wd_limit_get(&l), 256);
    now = 30.0;
    wd_limit_report(&l, now, 0, 0, 256, 256);
    assert_int_equal(wd_limit_get(&l), WD_LIMIT_MIN); /* the probe */
    wd_limit_throttled(&l, now + 0.1, 1);
    assert_int_equal(wd_limit_get(&l), 128);
    assert_int_equal(l.probing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_doubles_up_to_max),
        cmocka_unit_test(test_slow_start_ends),
        cmocka_unit_test(test_no_growth_without_demand),
        cmocka_unit_test(test_queue_shrinks_it),
        cmocka_unit_test(test_settles_against_a_busy_server),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_zero_waits),
        cmocka_unit_test(test_probe_measures_the_round_trip_again),
        cmocka_unit_test(test_throttle_halves_and_creeps_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
