/* The scheduling loop: sd-event owns the poll timer, SIGTERM/SIGINT/SIGHUP and the watchdog. */
#include "loop.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "log.h"

#define EX_TEMPFAIL 75

struct loop {
    struct wd_consumer *consumer;
    struct wd_loop_options opts;
    sd_event_source *timer;
    uint64_t interval_us;
    bool announced_ready;
};

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    (void)userdata;
    if (si->ssi_signo == SIGHUP) {
        wd_log(LOG_NOTICE,
               "SIGHUP: configuration reload is not supported yet; keeping the running configuration");
        return 0;
    }
    wd_log(LOG_INFO, "received %s; stopping", si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1");
    return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct loop *l = userdata;
    struct wd_poll_stats st;
    struct wd_error err;
    (void)usec;

    if (wd_consumer_poll(l->consumer, &st, &err) < 0) {
        wd_log(LOG_ERR, "poll failed: %s", err.message);
        return sd_event_exit(sd_event_source_get_event(s), 1);
    }
    if (l->opts.once && st.taken == 0 && st.failed == 0) {
        if (st.list_failed || st.held > 0) {
            wd_log(LOG_WARNING, "--once: %zu request(s) left after failures%s; exiting with %d", st.held,
                   st.list_failed ? " (listing failed)" : "", EX_TEMPFAIL);
            return sd_event_exit(sd_event_source_get_event(s), EX_TEMPFAIL);
        }
        return sd_event_exit(sd_event_source_get_event(s), 0);
    }
    /* Idle back-off: an empty poll doubles the wait up to the cap; any work snaps it back. */
    uint64_t base = (uint64_t)l->opts.poll_interval_ms * 1000;
    uint64_t cap = (uint64_t)l->opts.poll_max_interval_ms * 1000;
    uint64_t delay;
    if (st.taken > 0) {
        l->interval_us = base;
        delay = 0; /* a backlog: poll again at once */
    } else {
        delay = l->interval_us;
        l->interval_us = l->interval_us * 2 > cap ? cap : l->interval_us * 2;
    }
    uint64_t now;
    sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC, &now);
    sd_event_source_set_time(s, now + delay);
    return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

int wd_loop_run(struct wd_consumer *consumer, const struct wd_loop_options *opts)
{
    sd_event *ev = NULL;
    struct loop l = {
        .consumer = consumer, .opts = *opts, .interval_us = (uint64_t)opts->poll_interval_ms * 1000};
    int rc = 1;
    sigset_t mask;

    /* sd-event delivers signals through a signalfd, which needs them blocked first. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    if (sd_event_default(&ev) < 0 || sd_event_add_signal(ev, NULL, SIGTERM, on_signal, &l) < 0 ||
        sd_event_add_signal(ev, NULL, SIGINT, on_signal, &l) < 0 ||
        sd_event_add_signal(ev, NULL, SIGHUP, on_signal, &l) < 0 ||
        sd_event_add_time_relative(ev, &l.timer, CLOCK_MONOTONIC, 0, 1000, on_timer, &l) < 0) {
        wd_log(LOG_ERR, "cannot set up the event loop");
        goto out;
    }
    sd_event_set_watchdog(ev, true);
    sd_notify(0, "READY=1");
    rc = sd_event_loop(ev);
    if (rc < 0) {
        wd_log(LOG_ERR, "event loop failed");
        rc = 1;
    }
out:
    sd_event_source_unref(l.timer);
    sd_event_unref(ev);
    return rc;
}
