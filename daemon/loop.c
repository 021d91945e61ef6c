/*
 * The scheduling loop. sd-event owns everything that happens: the poll timer (with idle back-off), the
 * pipeline (one epoll fd that holds its HTTP sockets and timers), SIGTERM/SIGINT/SIGHUP, the watchdog and
 * the STATUS= line. A poll runs asynchronously, so signals are handled while requests are in flight.
 */
#include "loop.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "credentials_wait.h"
#include "log.h"
#include "notify.h"
#include "report.h"
#include "role.h"
#include "service.h"

#define EX_TEMPFAIL 75
#define EX_CONFIG 78
#define STATUS_EVERY_USEC (5 * 1000000ULL)

struct loop {
    sd_event *ev;
    const struct wd_config_sources *src;
    bool once;
    struct wd_service *svc;
    struct wd_config pending; /* a reloaded configuration waiting for the running poll to end */
    bool have_pending;
    struct wd_report report;
    unsigned long calls_before[WD_OP_COUNT]; /* calls of services replaced by reloads */
    unsigned long retries_before;
    unsigned long refusals_before;
    unsigned long throttled_before; /* attempts answered with a throttling error */

    sd_event_source *timer, *io, *watchdog, *status;

    struct wd_role role; /* with [lease]: leader or standby (SPEC 9) */
    sd_event_source *lease_io, *lease_timer, *release_guard;
    bool releasing; /* stopping: the lease is being handed over; exit_code follows */
    int exit_code;
    uint64_t interval_us; /* the next idle wait */
    bool stopping;

    uint64_t watchdog_usec;
    unsigned long watchdog_progress;

    struct wd_credentials_wait creds; /* no poll until the running service has credentials */

    long skew_logged; /* the clock offset last reported */
    size_t last_backlog;
    unsigned long rate_applied; /* for requests/s in STATUS= */
    uint64_t rate_since;
    double rate;
};

static uint64_t now_usec(struct loop *l)
{
    uint64_t now;
    sd_event_now(l->ev, CLOCK_MONOTONIC, &now);
    return now;
}

/* The running service's AWS counters (all zero before it exists). */
static struct wd_aws_stats aws_stats(const struct loop *l)
{
    struct wd_aws_stats st = {0};
    if (l->svc != NULL)
        wd_aws_stats_get(l->svc->aws, &st);
    return st;
}

static unsigned long total_retries(const struct loop *l)
{
    return l->retries_before + aws_stats(l).retries;
}

static void update_status(struct loop *l)
{
    struct wd_report *r = &l->report;
    const char *state = l->stopping                             ? "stopping"
                        : wd_consumer_polling(l->svc->consumer) ? "working"
                        : l->creds.waiting                      ? "waiting for AWS credentials"
                        : !wd_role_may_poll(&l->role)           ? "not taking requests"
                                                                : "idle";
    bool trouble = r->episode_class != 0 || r->list_episode || l->creds.waiting;
    char role[WD_LEASE_NAME_MAX * 4 + 64];
    wd_role_status(&l->role, role, sizeof(role));
    int in_flight, limit, peak;
    wd_consumer_calls(l->svc->consumer, &in_flight, &limit, &peak);
    wd_notify_status(
        "%s%s%s: %lu applied, %lu not found, %lu dead-lettered, %lu failed, %lu retries; backlog %zu; "
        "%.1f req/s; %d calls in flight (limit %d); next poll in %llu ms%s%s%s",
        role, role[0] ? ", " : "", state, r->applied, r->not_found, r->dead_lettered, r->failed,
        total_retries(l), l->last_backlog, l->rate, in_flight, limit,
        (unsigned long long)(l->interval_us / 1000),
        l->svc->cfg.verify_tls ? "" : "; TLS NOT VERIFIED (verify_tls = no)", trouble ? "; " : "",
        trouble ? (l->creds.waiting ? l->creds.why : r->last_error) : "");
}

static int on_status(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct loop *l = userdata;
    uint64_t now = now_usec(l);
    if (now > l->rate_since) {
        l->rate =
            (double)(l->report.applied + l->report.not_found + l->report.dead_lettered - l->rate_applied) *
            1e6 / (double)(now - l->rate_since);
        l->rate_applied = l->report.applied + l->report.not_found + l->report.dead_lettered;
        l->rate_since = now;
    }
    update_status(l);
    sd_event_source_set_time(s, usec + STATUS_EVERY_USEC);
    return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

/*
 * The watchdog tells the truth: it is pinged when the pipeline waits between polls, or when work
 * finished since the last check. Every call is bounded by the HTTP timeouts, far below WatchdogSec/2, so
 * a healthy pipeline always shows progress in time; a wedged one stops the pings and systemd restarts it.
 */
static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct loop *l = userdata;
    /* Any finished HTTP attempt counts, so a task of several slow calls still shows life. */
    unsigned long progress = wd_consumer_progress(l->svc->consumer) + aws_stats(l).attempts_done;
    if (!wd_consumer_polling(l->svc->consumer) || progress != l->watchdog_progress)
        wd_notify_watchdog();
    l->watchdog_progress = progress;
    sd_event_source_set_time(s, usec + l->watchdog_usec / 4);
    return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

static void schedule_poll(struct loop *l, uint64_t delay_us)
{
    sd_event_source_set_time(l->timer, now_usec(l) + delay_us);
    sd_event_source_set_enabled(l->timer, SD_EVENT_ONESHOT);
}

static void fold_counters(struct loop *l)
{
    struct wd_aws_stats st = aws_stats(l);
    for (int op = 0; op < WD_OP_COUNT; op++)
        l->calls_before[op] += st.calls[op];
    l->retries_before += st.retries;
    l->refusals_before += st.quota_refusals;
    l->throttled_before += st.throttled;
}

static int on_pipeline(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* Watches the running service's pipeline for finished work. */
static int attach(struct loop *l)
{
    sd_event_source_unref(l->io);
    l->io = NULL;
    return sd_event_add_io(l->ev, &l->io, wd_consumer_fd(l->svc->consumer), EPOLLIN, on_pipeline, l);
}

/* Replaces the running service with one built from the pending configuration (no poll may be running). */
static void swap_config(struct loop *l)
{
    struct wd_error err;
    l->have_pending = false;
    wd_role_check_reload(&l->role, &l->pending);
    struct wd_service *fresh = wd_service_new(&l->pending, l->once, &l->report, l->role.runner, &err);
    if (fresh == NULL) {
        wd_log(LOG_ERR, "reload: %s; keeping the running configuration", err.message);
        wd_notify_ready();
        return;
    }
    fold_counters(l);
    /* The clock does not change with the configuration. */
    wd_aws_set_clock_skew(fresh->aws, aws_stats(l).clock_skew_s);
    wd_service_free(l->svc);
    l->svc = fresh;
    if (attach(l) < 0) {
        wd_log(LOG_ERR, "reload: cannot watch the new pipeline; exiting");
        sd_event_exit(l->ev, 1);
        return;
    }
    wd_log_set_level(l->svc->cfg.log_level);
    l->interval_us = (uint64_t)l->svc->cfg.poll_interval_ms * 1000;
    wd_log(LOG_NOTICE,
           "configuration reloaded: requests bucket '%s', %s store '%s', at most %d calls in flight",
           l->svc->cfg.requests_bucket, l->svc->cfg.store_kind == WD_STORE_S3 ? "s3" : "dynamodb",
           l->svc->cfg.store_name, l->svc->cfg.calls_in_flight);
    wd_config_log_warnings(&l->svc->cfg, l->src->path);
    wd_notify_ready();
}

static bool leading(const struct loop *l)
{
    return l->role.runner != NULL && wd_lease_role(wd_lease_runner_lease(l->role.runner)) == WD_LEASE_LEADER;
}

static int on_release_guard(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct loop *l = userdata;
    (void)s, (void)usec;
    wd_log(LOG_WARNING, "lease: the release did not end in time; exiting (the lease expires by itself)");
    sd_event_exit(l->ev, l->exit_code);
    return 0;
}

/*
 * Exits with code, once no pipeline call is in flight. A leader first hands its lease over (SPEC 9: a
 * standby takes over at once rather than after the lease duration); the release is one bounded call, and
 * a guard exits anyway should it hang past its timeouts.
 */
static void finish(struct loop *l, int code)
{
    if (l->releasing)
        return;
    if (!leading(l)) {
        sd_event_exit(l->ev, code);
        return;
    }
    l->releasing = true;
    l->exit_code = code;
    wd_lease_runner_release(l->role.runner);
    uint64_t bound = (uint64_t)(l->svc->cfg.connect_timeout_ms + l->svc->cfg.timeout_ms + 1000) * 1000;
    if (sd_event_add_time_relative(l->ev, &l->release_guard, CLOCK_MONOTONIC, bound, 1000, on_release_guard,
                                   l) < 0)
        sd_event_exit(l->ev, code);
}

/* A poll ended: decide what comes next. */
static void poll_done(struct loop *l, const struct wd_poll_stats *st)
{
    l->last_backlog = st->listed;
    if (!st->list_failed && l->report.list_episode) {
        wd_log(LOG_NOTICE, "the requests bucket can be listed again");
        l->report.list_episode = false;
    }
    long skew = aws_stats(l).clock_skew_s;
    if (skew != l->skew_logged) {
        wd_log(LOG_WARNING, "clock skew: AWS's clock is %ld s %s ours; signing with AWS's time (check NTP)",
               skew < 0 ? -skew : skew, skew < 0 ? "behind" : "ahead of");
        l->skew_logged = skew;
    }
    if (!l->report.vanished_this_poll && l->report.vanished_episode) {
        wd_log(LOG_INFO, "no request vanished in the last poll (%lu so far)", l->report.vanished);
        l->report.vanished_episode = false;
    }
    if (l->stopping) {
        finish(l, 0);
        return;
    }
    if (l->have_pending)
        swap_config(l);
    if (l->once && st->taken == 0 && st->failed == 0) {
        if (st->list_failed || st->held > 0) {
            wd_log(LOG_WARNING, "--once: %zu failed request(s) left in the bucket%s; exiting with %d",
                   st->held, st->list_failed ? " and the bucket could not be listed" : "", EX_TEMPFAIL);
            finish(l, EX_TEMPFAIL);
        } else {
            finish(l, 0);
        }
        return;
    }
    /* Idle back-off: an empty poll doubles the wait up to the cap; any work snaps it back. */
    uint64_t base = (uint64_t)l->svc->cfg.poll_interval_ms * 1000;
    uint64_t cap = (uint64_t)l->svc->cfg.poll_max_interval_ms * 1000;
    if (st->taken > 0) {
        l->interval_us = base;
        schedule_poll(l, 0); /* a backlog: poll again at once */
    } else {
        /* Idle: hand the batch's memory back to the system rather than keep the high-water mark. */
        malloc_trim(0);
        schedule_poll(l, l->interval_us);
        l->interval_us = l->interval_us * 2 > cap ? cap : l->interval_us * 2;
    }
    update_status(l);
}

static int on_pipeline(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    struct loop *l = userdata;
    struct wd_poll_stats st;
    struct wd_error err;
    bool finished;
    (void)s, (void)fd, (void)revents;
    if (wd_consumer_process(l->svc->consumer, &finished, &st, &err) < 0) {
        wd_log(LOG_ERR, "pipeline failed: %s; exiting", err.message);
        finish(l, 1);
        return 0;
    }
    if (l->report.fence_refused) {
        l->report.fence_refused = false;
        if (l->role.runner != NULL)
            wd_lease_runner_fenced(l->role.runner, now_usec(l) / 1000);
    }
    if (finished)
        poll_done(l, &st);
    return 0;
}

/*
 * Before a poll: credentials missing at start (no file yet, no role, the metadata service not answering
 * at boot) are waited for, looked for again with the idle back-off, rather than being fatal.
 */
static bool have_credentials(struct loop *l)
{
    bool was_waiting = l->creds.waiting;
    if (wd_credentials_wait_check(&l->creds, l->svc->creds)) {
        if (was_waiting)
            l->interval_us = (uint64_t)l->svc->cfg.poll_interval_ms * 1000;
        return true;
    }
    if (l->once) {
        wd_log(LOG_WARNING, "--once: no AWS credentials; exiting with %d", EX_TEMPFAIL);
        finish(l, EX_TEMPFAIL);
        return false;
    }
    uint64_t cap = (uint64_t)l->svc->cfg.poll_max_interval_ms * 1000;
    schedule_poll(l, l->interval_us);
    l->interval_us = l->interval_us * 2 > cap ? cap : l->interval_us * 2;
    update_status(l);
    return false;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct loop *l = userdata;
    struct wd_error err;
    (void)s, (void)usec;
    if (l->stopping || !have_credentials(l))
        return 0;
    if (!wd_role_may_poll(&l->role)) {
        /*
         * A standby never polls: becoming the leader schedules the next poll. A leader whose renewals
         * fail has closed its gate for now; it looks again at the poll interval (no call is made).
         */
        if (leading(l))
            schedule_poll(l, (uint64_t)l->svc->cfg.poll_interval_ms * 1000);
        update_status(l);
        return 0;
    }
    l->report.vanished_this_poll = false;
    if (wd_consumer_start(l->svc->consumer, &err) < 0) {
        wd_log(LOG_ERR, "cannot start a poll: %s", err.message);
        finish(l, 1);
    }
    return 0;
}

static void reload(struct loop *l)
{
    struct wd_config fresh;
    struct wd_error err;
    wd_notify_reloading();
    wd_log(LOG_INFO, "SIGHUP: reloading the configuration from %s", l->src->path);
    if (wd_config_load(l->src, &fresh, &err) < 0) {
        wd_log(LOG_ERR, "reload: %s; keeping the running configuration", err.message);
        wd_notify_ready();
        return;
    }
    if (l->have_pending)
        wd_config_clear(&l->pending);
    l->pending = fresh;
    l->have_pending = true;
    /* Swap only at a safe point: between polls, never under requests in flight. */
    if (!wd_consumer_polling(l->svc->consumer)) {
        swap_config(l);
        schedule_poll(l, 0);
    }
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    struct loop *l = userdata;
    (void)s;
    if (si->ssi_signo == SIGHUP) {
        if (!l->stopping)
            reload(l);
        return 0;
    }
    if (l->stopping)
        return 0;
    l->stopping = true;
    wd_notify_stopping();
    wd_log(LOG_INFO, "%s: stopping; finishing the requests in flight",
           si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
    update_status(l);
    if (wd_consumer_polling(l->svc->consumer))
        wd_consumer_stop(l->svc->consumer); /* poll_done() exits once the calls in flight are over */
    else
        finish(l, 0);
    return 0;
}

/* Moves the lease on and sets its timer to when it next needs to act. */
static void lease_step(struct loop *l)
{
    struct wd_error err;
    uint64_t wake_ms = 0;
    if (wd_lease_runner_process(l->role.runner, now_usec(l) / 1000, &wake_ms, &err) < 0) {
        wd_log(LOG_ERR, "lease: %s; exiting", err.message);
        sd_event_exit(l->ev, 1);
        return;
    }
    sd_event_source_set_time(l->lease_timer, wake_ms * 1000);
    sd_event_source_set_enabled(l->lease_timer, SD_EVENT_ONESHOT);
}

static int on_lease_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    (void)s, (void)fd, (void)revents;
    lease_step(userdata);
    return 0;
}

static int on_lease_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    (void)s, (void)usec;
    lease_step(userdata);
    return 0;
}

/* The role changed (role.c has logged it). */
static void on_role_changed(enum wd_lease_event ev, void *ctx)
{
    struct loop *l = ctx;
    if (l->releasing && wd_lease_runner_released(l->role.runner)) {
        sd_event_exit(l->ev, l->exit_code);
        return;
    }
    if (ev == WD_LEASE_EV_ACQUIRED && !l->stopping && l->svc != NULL) {
        l->interval_us = (uint64_t)l->svc->cfg.poll_interval_ms * 1000;
        schedule_poll(l, 0);
    }
    if (l->svc != NULL)
        update_status(l);
}

int wd_loop_run(struct wd_config *cfg, const struct wd_config_sources *src, bool once)
{
    struct loop l = {.src = src, .once = once, .interval_us = (uint64_t)cfg->poll_interval_ms * 1000};
    struct wd_error err;
    int rc = 1;
    sigset_t mask;

    /*
     * sd-event delivers signals through a signalfd, which needs them blocked first, and blocked before
     * any thread starts (libcurl's resolver threads): they inherit the mask, and a thread that does not
     * block SIGHUP would take its default action (exit).
     */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);

    if (wd_role_init(&l.role, cfg, on_role_changed, &l, &err) < 0) {
        wd_log(LOG_ERR, "%s", err.message);
        wd_config_clear(cfg);
        return err.cls == WD_ERR_CONFIG ? EX_CONFIG : 1;
    }
    l.svc = wd_service_new(cfg, once, &l.report, l.role.runner, &err);
    if (l.svc == NULL) {
        wd_log(LOG_ERR, "%s", err.message);
        wd_role_clear(&l.role);
        return err.cls == WD_ERR_CONFIG ? EX_CONFIG : 1;
    }

    if (sd_event_default(&l.ev) < 0 || sd_event_add_signal(l.ev, NULL, SIGTERM, on_signal, &l) < 0 ||
        sd_event_add_signal(l.ev, NULL, SIGINT, on_signal, &l) < 0 ||
        sd_event_add_signal(l.ev, NULL, SIGHUP, on_signal, &l) < 0 ||
        sd_event_add_time_relative(l.ev, &l.timer, CLOCK_MONOTONIC, 0, 1000, on_timer, &l) < 0 ||
        sd_event_add_time_relative(l.ev, &l.status, CLOCK_MONOTONIC, STATUS_EVERY_USEC, 100000, on_status,
                                   &l) < 0 ||
        attach(&l) < 0 ||
        (l.role.runner != NULL &&
         (sd_event_add_io(l.ev, &l.lease_io, wd_lease_runner_fd(l.role.runner), EPOLLIN, on_lease_io, &l) <
              0 ||
          sd_event_add_time(l.ev, &l.lease_timer, CLOCK_MONOTONIC, 0, 1000, on_lease_timer, &l) < 0))) {
        wd_log(LOG_ERR, "cannot set up the event loop");
        goto out;
    }

    l.watchdog_usec = wd_notify_watchdog_usec();
    if (l.watchdog_usec > 0) {
        uint64_t bound = (uint64_t)(l.svc->cfg.connect_timeout_ms + l.svc->cfg.timeout_ms) * 1000;
        if (bound > l.watchdog_usec / 2)
            wd_log(LOG_WARNING,
                   "timeout_ms + connect_timeout_ms (%llu ms) is more than half of WatchdogSec "
                   "(%llu ms): a slow call may get widgetd restarted",
                   (unsigned long long)(bound / 1000), (unsigned long long)(l.watchdog_usec / 1000));
        if (sd_event_add_time_relative(l.ev, &l.watchdog, CLOCK_MONOTONIC, l.watchdog_usec / 4, 100000,
                                       on_watchdog, &l) < 0)
            goto out;
        sd_event_source_set_enabled(l.watchdog, SD_EVENT_ON);
    }
    sd_event_source_set_enabled(l.status, SD_EVENT_ON);
    l.rate_since = now_usec(&l);

    wd_log(LOG_INFO,
           "widgetd %s started: requests bucket '%s', %s store '%s', at most %d calls in flight%s%s%s%s",
           WIDGETD_VERSION, l.svc->cfg.requests_bucket,
           l.svc->cfg.store_kind == WD_STORE_S3 ? "s3" : "dynamodb", l.svc->cfg.store_name,
           l.svc->cfg.calls_in_flight, once ? ", once" : "",
           l.role.runner ? ", standing by for the lease in table '" : "", l.role.runner ? l.role.table : "",
           l.role.runner ? "'" : "");
    if (l.role.runner != NULL)
        wd_log(LOG_INFO, "lease: this instance is '%s'; lease %ld ms, renewed every %ld ms", l.role.name,
               l.svc->cfg.lease_duration_ms, l.svc->cfg.lease_renew_ms);
    wd_config_log_warnings(&l.svc->cfg, src->path);
    wd_notify_ready();
    update_status(&l);
    rc = sd_event_loop(l.ev);
    if (rc < 0) {
        wd_log(LOG_ERR, "event loop failed: %s", strerror(-rc));
        rc = 1;
    }
    fold_counters(&l);
    struct wd_buf calls = {0};
    for (int op = 0; op < WD_OP_COUNT; op++)
        if (l.calls_before[op] > 0)
            wd_buf_printf(&calls, "%s%s=%lu", calls.len ? " " : "", wd_op_name((enum wd_op)op),
                          l.calls_before[op]);
    struct wd_buf lease_calls = {0};
    wd_role_calls(&l.role, &lease_calls);
    int in_flight, limit, peak;
    wd_consumer_calls(l.svc->consumer, &in_flight, &limit, &peak);
    wd_log(
        LOG_INFO,
        "exiting: %lu applied, %lu not found, %lu dead-lettered, %lu failed attempts, %lu retries, "
        "%lu retries refused by the retry quota, %lu throttled answers, at most %d calls in flight (limit %d "
        "of %d at the end); calls: %s%s",
        l.report.applied, l.report.not_found, l.report.dead_lettered, l.report.failed, l.retries_before,
        l.refusals_before, l.throttled_before, peak, limit, l.svc->cfg.calls_in_flight,
        calls.data ? calls.data : "none", lease_calls.data ? lease_calls.data : "");
    wd_buf_free(&lease_calls);
    wd_buf_free(&calls);
out:
    sd_event_source_unref(l.timer);
    sd_event_source_unref(l.io);
    sd_event_source_unref(l.watchdog);
    sd_event_source_unref(l.status);
    sd_event_source_unref(l.lease_io);
    sd_event_source_unref(l.lease_timer);
    sd_event_source_unref(l.release_guard);
    sd_event_unref(l.ev);
    if (l.have_pending)
        wd_config_clear(&l.pending);
    wd_service_free(l.svc);
    wd_role_clear(&l.role);
    return rc;
}
