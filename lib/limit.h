/*
 * How many calls may be in flight right now: an adaptive limit, at most the configured calls_in_flight.
 *
 * Calls in flight only buy throughput while they wait on the round trip; once they wait in a server's
 * queue, more of them only cost memory (a call is about 20 KB) and lengthen every call. The limit follows
 * that from the calls' waits (request sent to first byte of the answer), window by window: it doubles
 * while the mean wait stays within 1.5 times the wait without a queue, then grows by a quarter while it
 * stays within 3 times, and beyond that shrinks half way to what would bring it back (by a quarter at
 * most). The wait without a queue is the least window mean seen, measured again every 30 s with the limit
 * at its least for one window, so that it follows a network path that got slower (after TCP Vegas and
 * BBR's ProbeRTT). Near a region or against a busy server the limit stays small; far from a region it
 * grows to cover the round trip.
 *
 * A throttling answer (SlowDown, ThrottlingException) is the service saying so outright, and a throttled
 * call can come back as fast as any other: the waits alone would keep growing the limit into it. So a
 * throttle halves the limit at once (once per mean wait: what ends meanwhile was sent under the old
 * limit), and for a minute after the last one the limit grows back by a quarter only up to 90 % of where
 * it was throttled, then by one call a window (after TCP's congestion avoidance, and the AWS SDKs'
 * adaptive retry mode, which backs off on throttles and creeps back).
 *
 * A pure state machine: no clock, no I/O; the caller reports what ended and when (monotonic seconds).
 */
#ifndef WD_LIMIT_H
#define WD_LIMIT_H

#include <stdbool.h>

struct wd_limit {
    int min, max;
    double limit;    /* fractional, so that small steps add up */
    bool grown_only; /* no window has shown a queue yet: grow by doubling */
    double noload_s; /* the wait without a queue (0: none seen yet) */
    double next_probe;
    int probing;  /* 0, or 1 while calls drain to the least limit, 2 while the probe's window fills */
    double saved; /* the limit before the probe, restored after it */
    /* The window being filled. */
    double win_start, win_sum;
    unsigned long win_n;
    int win_peak;
    double last_mean;
    /* Throttling: no further cut before cut_hold; the limit that was throttled, until ceiling_until. */
    double cut_hold, ceiling, ceiling_until;
    unsigned long cuts; /* how many times a throttle cut the limit */
};

/* At least min(WD_LIMIT_MIN, max), at most max; starts at its least. */
#define WD_LIMIT_MIN 16

void wd_limit_init(struct wd_limit *l, int max, double now);

/*
 * n calls ended (n may be 0) whose waits add up to sum_s; peak is the most calls in flight since the
 * last report, inflight how many are in flight now.
 */
void wd_limit_report(struct wd_limit *l, double now, double sum_s, unsigned long n, int peak, int inflight);

/* n calls (n may be 0) were answered with a throttling error since the last report. */
void wd_limit_throttled(struct wd_limit *l, double now, unsigned long n);

/* Calls that may be in flight now: from min(WD_LIMIT_MIN, max) to max. */
int wd_limit_get(const struct wd_limit *l);

#endif
