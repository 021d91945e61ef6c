/* Telling systemd the truth about widgetd's state. Every call is a no-op outside systemd. */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

void wd_notify_ready(void)
{
    sd_notify(0, "READY=1");
}

void wd_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
}

void wd_notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void wd_notify_status(const char *fmt, ...)
{
    char status[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(status, sizeof(status), fmt, ap);
    va_end(ap);
    sd_notifyf(0, "STATUS=%s", status);
}

void wd_notify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

uint64_t wd_notify_watchdog_usec(void)
{
    uint64_t usec = 0;
    /* unset_environment=0: a child started later would not inherit it anyway (we start none). */
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec;
}
