/* The only user of sd_notify: READY, RELOADING, STOPPING, STATUS and watchdog pings. */
#ifndef WD_NOTIFY_H
#define WD_NOTIFY_H

#include <stdint.h>

void wd_notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC, as systemd 253's notify-reload protocol expects; harmless on 252. */
void wd_notify_reloading(void);
void wd_notify_stopping(void);
void wd_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void wd_notify_watchdog(void);
/* The watchdog interval systemd asked for (WatchdogSec=), or 0 when none. */
uint64_t wd_notify_watchdog_usec(void);

#endif
