/* The adaptive limit on calls in flight (limit.h): a window of calls' waits decides each step. */
#include "limit.h"

/* A window is at least this many calls and at least one mean wait long (a step's effect takes that long
 * to show), or whatever ended in a second when calls are few. */
#define WINDOW_CALLS 16
#define WINDOW_MIN_S 0.02
#define WINDOW_MAX_S 1.0
/*
 * A mean wait up to this many times the wait without a queue still counts as the round trip: more calls
 * buy more. Measured on the stand-ins (scripts/bench, 100 ms each way): 2 kept too few calls in flight
 * through the stand-ins' own jitter (190 to 196 requests/s), 3 as many as a fixed 512 (234 against 214 to
 * 223); the limit against a busy local server stays a few dozen either way.
 */
#define TOLERANCE 3.0
/* Growth once a queue shows; until then the limit doubles (a far region is found in a second or two). A
 * queue shows from this many times the wait without one. */
#define GROWTH 1.25
#define SLOW_START_END 1.5
/* Grow only when the limit was what held calls back: most of it was in use. */
#define DEMAND 0.8
/* How often the wait without a queue is measured again, at the least limit. */
#define PROBE_S 30.0
/* After a throttle: the limit is halved, grows back freely to this share of where it was throttled and by
 * one call a window beyond, until this long after the last throttle. */
#define THROTTLE_CUT 0.5
#define CEILING_SHARE 0.9
#define CEILING_S 60.0

static void new_window(struct wd_limit *l, double now)
{
    l->win_start = now;
    l->win_sum = 0;
    l->win_n = 0;
    l->win_peak = 0;
}

void wd_limit_init(struct wd_limit *l, int max, double now)
{
    *l = (struct wd_limit){0};
    l->max = max < 1 ? 1 : max;
    l->min = l->max < WD_LIMIT_MIN ? l->max : WD_LIMIT_MIN;
    l->limit = l->min;
    l->grown_only = true;
    l->next_probe = now + PROBE_S;
    new_window(l, now);
}

/* The limit grown by factor, held back near a limit that was throttled in the last CEILING_S. */
static double grown(const struct wd_limit *l, double now, double factor)
{
    double next = l->limit * factor;
    if (l->ceiling <= 0 || now >= l->ceiling_until)
        return next;
    double free_to = CEILING_SHARE * l->ceiling;
    if (next <= free_to)
        return next;
    return l->limit + 1 > free_to ? l->limit + 1 : free_to;
}

static void step(struct wd_limit *l, double now, double mean, int peak)
{
    if (l->noload_s == 0 || mean < l->noload_s)
        l->noload_s = mean;
    double ratio = mean / l->noload_s;
    if (ratio > SLOW_START_END)
        l->grown_only = false;
    if (ratio <= TOLERANCE) {
        if (peak >= DEMAND * (double)wd_limit_get(l))
            l->limit = grown(l, now, l->grown_only ? 2.0 : GROWTH);
    } else {
        /*
         * Half way to the limit that would bring the wait back within the tolerance, so by a quarter at
         * most: one window's jitter must not throw away what took several windows to build.
         */
        double g = TOLERANCE / ratio;
        l->limit *= 0.5 + 0.5 * (g < 0.5 ? 0.5 : g);
    }
    if (l->limit > l->max)
        l->limit = l->max;
    if (l->limit < l->min)
        l->limit = l->min;
}

void wd_limit_report(struct wd_limit *l, double now, double sum_s, unsigned long n, int peak, int inflight)
{
    if (l->min == l->max)
        return; /* nothing to choose */
    if (l->probing == 0 && l->noload_s > 0 && now >= l->next_probe) {
        l->probing = 1;
        l->saved = l->limit;
        l->limit = l->min;
    }
    if (now < l->win_start)
        return; /* settling after a step */
    if (l->probing == 1) {
        /* What ends now was sent under the old limit: the probe measures from when the least is in use. */
        if (inflight > l->min)
            return;
        l->probing = 2;
        new_window(l, now);
        return;
    }
    l->win_sum += sum_s > 0 ? sum_s : 0;
    l->win_n += n;
    if (peak > l->win_peak)
        l->win_peak = peak;
    double span = now - l->win_start, least = l->last_mean > WINDOW_MIN_S ? l->last_mean : WINDOW_MIN_S;
    if (l->win_n == 0 || !((l->win_n >= WINDOW_CALLS && span >= least) || span >= WINDOW_MAX_S))
        return;
    int before = wd_limit_get(l);
    double mean = l->win_sum / (double)l->win_n;
    if (mean < 1e-6)
        mean = 1e-6; /* a clock too coarse to tell: the ratios below must stay finite */
    if (l->probing == 2) {
        l->noload_s = mean;
        l->limit = l->saved;
        l->probing = 0;
        l->next_probe = now + PROBE_S;
    } else {
        step(l, now, mean, l->win_peak);
    }
    l->last_mean = mean;
    new_window(l, now);
    /*
     * What ends in the next mean wait was sent under the old limit: the next window starts after it. Not
     * in slow start: a doubling that fills the round trip shows nothing new, and one that does not keeps
     * the waits where they were, so waiting out each step would only halve the growth (with 100 ms each
     * way, 16 to 128 took 2.1 s that way; 16 to 160 takes 1.5 s without).
     */
    if (wd_limit_get(l) != before && !l->grown_only)
        l->win_start = now + mean;
}

void wd_limit_throttled(struct wd_limit *l, double now, unsigned long n)
{
    if (n == 0 || l->min == l->max)
        return;
    l->ceiling_until = now + CEILING_S;
    if (now < l->cut_hold)
        return; /* what was throttled meanwhile was sent under the limit before the cut */
    if (l->probing) {
        /* The probe measured at the least limit; the throttle speaks of the limit it saved. */
        l->limit = l->saved;
        l->probing = 0;
        l->next_probe = now + PROBE_S;
    }
    l->ceiling = l->limit;
    l->limit *= THROTTLE_CUT;
    if (l->limit < l->min)
        l->limit = l->min;
    l->grown_only = false;
    l->cuts++;
    double settle = l->last_mean > WINDOW_MIN_S ? l->last_mean : WINDOW_MIN_S;
    l->cut_hold = now + settle;
    new_window(l, now + settle); /* the waits of calls sent under the old limit say nothing of the new */
}

int wd_limit_get(const struct wd_limit *l)
{
    return (int)l->limit;
}
