/* The event loop (sd-event): poll timer with idle back-off, pipeline wake-ups, signals, reload, watchdog. */
#ifndef WD_LOOP_H
#define WD_LOOP_H

#include <stdbool.h>

#include "config.h"

/*
 * Runs the daemon with cfg (taken over). Returns the exit code: 0 after SIGTERM/SIGINT or, with once,
 * when a poll finds nothing left to take; 75 (once) when failed requests remain; 78 when the first
 * configuration cannot be set up; 1 on an internal error. src is kept to re-read the configuration on
 * SIGHUP.
 */
int wd_loop_run(struct wd_config *cfg, const struct wd_config_sources *src, bool once);

#endif
