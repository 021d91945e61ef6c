/* The event loop (sd-event): the poll timer with idle back-off, signals and the watchdog. */
#ifndef WD_LOOP_H
#define WD_LOOP_H

#include <stdbool.h>

#include "consumer.h"

struct wd_loop_options {
    bool once;
    int poll_interval_ms;     /* base interval, used whenever work was found */
    int poll_max_interval_ms; /* the idle back-off doubles the interval up to this */
};

/*
 * Runs until SIGTERM/SIGINT (returns 0) or, with once, until a poll finds nothing left to take
 * (returns 0, or 75 when failed requests remain). Returns 1 on an internal error.
 */
int wd_loop_run(struct wd_consumer *consumer, const struct wd_loop_options *opts);

#endif
