/*
 * libcurl's multi interface on one epoll fd: curl's sockets (CURLMOPT_SOCKETFUNCTION), a timerfd for its
 * timer (CURLMOPT_TIMERFUNCTION) and for fibers that sleep before a retry, and an eventfd to be called
 * back soon. Each transfer belongs to a fiber, resumed when the transfer ends.
 */
#include "http_pool.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "fiber.h"

/* Rounds of "start what the resumed fibers just asked for" per run, before the event loop gets a turn. */
#define MAX_ROUNDS 16

/* A fiber waiting for its transfer to end; lives on the fiber's stack. */
struct waiter {
    struct wd_fiber *fiber;
    CURLcode result;
    bool done;
    struct waiter *next; /* in the list of fibers to resume */
};

/* A fiber waiting for a time: a slot of the pool's, free when fiber is NULL. */
struct sleeper {
    struct wd_fiber *fiber;
    uint64_t wake_ns;
};

struct wd_http_pool {
    CURLM *multi;
    CURLSH *share;
    int epfd, tfd, kfd;
    uint64_t curl_due_ns;     /* when curl wants CURL_SOCKET_TIMEOUT; 0: never */
    uint64_t armed_ns;        /* what the timerfd is set to; 0: disarmed */
    struct sleeper *sleepers; /* one per transfer the pool allows: a fiber sleeps or has a transfer */
    long max, n_sleeping;
    long transfers;       /* added to the multi handle and not yet removed */
    unsigned char *watch; /* by socket: 1 while curl watches it (parked sockets are 0) */
    size_t watch_cap;
    double wait_sum_s; /* the waits of the calls answered since wd_http_pool_take_waits() */
    unsigned long waits;
    bool running; /* inside wd_http_pool_run() */
    bool kicked;  /* the eventfd is readable */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The earliest of curl's timer and the sleeps' ends; 0: none. */
static uint64_t next_due(const struct wd_http_pool *p)
{
    uint64_t due = p->curl_due_ns;
    for (long i = 0; p->n_sleeping > 0 && i < p->max; i++)
        if (p->sleepers[i].fiber != NULL && (due == 0 || p->sleepers[i].wake_ns < due))
            due = p->sleepers[i].wake_ns;
    return due;
}

/*
 * Makes sure that wd_http_pool_run() comes in time for what is due. Due now: run() goes on while anything
 * is, and outside it one kick brings it. Due later: the timerfd is set only when it would wake too late,
 * since waking early costs one spurious run, and curl moves its timer at nearly every step.
 */
static void rearm(struct wd_http_pool *p)
{
    uint64_t due = next_due(p), now = mono_ns();
    if (due == 0)
        return;
    if (due <= now) {
        if (!p->running && !p->kicked)
            wd_http_pool_kick(p);
        return;
    }
    if (p->armed_ns > now && p->armed_ns <= due)
        return;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u)}};
    if (timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        p->armed_ns = due;
}

static bool watched(const struct wd_http_pool *p, int fd)
{
    return fd >= 0 && (size_t)fd < p->watch_cap && p->watch[fd];
}

static int set_watched(struct wd_http_pool *p, int fd, bool on)
{
    if ((size_t)fd >= p->watch_cap) {
        if (!on)
            return 0;
        size_t cap = p->watch_cap ? p->watch_cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        unsigned char *n = realloc(p->watch, cap);
        if (n == NULL)
            return -1;
        memset(n + p->watch_cap, 0, cap - p->watch_cap);
        p->watch = n;
        p->watch_cap = cap;
    }
    p->watch[fd] = on;
    return 0;
}

/*
 * A kept-alive connection is given back after every call (CURL_POLL_REMOVE) and taken again for the next
 * one. It stays in the epoll set meanwhile, as parked: one epoll_ctl per call instead of three. A parked
 * socket that turns readable (the server closed it) is taken out then; one that curl closes leaves the
 * set by itself, and a new socket on its number is added afresh.
 */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct wd_http_pool *p = userp;
    (void)easy, (void)socketp;
    if (what == CURL_POLL_REMOVE)
        return set_watched(p, s, false);
    struct epoll_event ev = {
        .events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
        .data.fd = s,
    };
    if (set_watched(p, s, true) < 0)
        return -1;
    if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev) < 0 &&
        (errno != ENOENT || epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev) < 0))
        return -1;
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct wd_http_pool *p = userp;
    (void)multi;
    p->curl_due_ns = timeout_ms < 0 ? 0 : mono_ns() + (uint64_t)timeout_ms * 1000000u;
    rearm(p);
    return 0;
}

struct wd_http_pool *wd_http_pool_new(long max_transfers, struct wd_error *err)
{
    struct wd_http_pool *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        wd_error_nomem(err);
        return NULL;
    }
    p->epfd = p->tfd = p->kfd = -1;
    p->max = max_transfers > 0 ? max_transfers : 1;
    p->sleepers = calloc((size_t)p->max, sizeof(*p->sleepers));
    p->multi = curl_multi_init();
    p->share = curl_share_init();
    if (p->sleepers == NULL || p->multi == NULL || p->share == NULL) {
        wd_error_nomem(err);
        goto fail;
    }
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    p->kfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event tev = {.events = EPOLLIN, .data.fd = p->tfd};
    struct epoll_event kev = {.events = EPOLLIN, .data.fd = p->kfd};
    if (p->epfd < 0 || p->tfd < 0 || p->kfd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->tfd, &tev) < 0 ||
        epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->kfd, &kev) < 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "cannot set up the HTTP pool's descriptors: %s",
                     strerror(errno));
        goto fail;
    }
    /* One TLS session cache for every transfer: a new connection resumes a session, no full handshake. */
    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    /*
     * Every transfer may need its own connection (HTTP/1.1), to either of two hosts (the requests bucket's
     * S3 and the store's DynamoDB): room for a full set kept alive to each, so that a call to one never
     * closes a kept-alive connection to the other (with TLS, a handshake each time).
     */
    curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 2 * max_transfers);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, 2 * max_transfers);
    return p;
fail:
    wd_http_pool_free(p);
    return NULL;
}

void wd_http_pool_free(struct wd_http_pool *p)
{
    if (p == NULL)
        return;
    if (p->multi != NULL)
        curl_multi_cleanup(p->multi);
    if (p->share != NULL)
        curl_share_cleanup(p->share);
    int fds[] = {p->epfd, p->tfd, p->kfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(p->sleepers);
    free(p->watch);
    free(p);
}

int wd_http_pool_fd(const struct wd_http_pool *p)
{
    return p->epfd;
}

CURLSH *wd_http_pool_share(const struct wd_http_pool *p)
{
    return p->share;
}

static int multi_error(CURLMcode mc, struct wd_error *err)
{
    return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "libcurl's multi interface: %s",
                        curl_multi_strerror(mc));
}

int wd_http_pool_run(struct wd_http_pool *p, struct wd_error *err)
{
    struct epoll_event evs[64];
    int running, rc = 0, n = epoll_wait(p->epfd, evs, 64, 0);
    uint64_t drain;
    p->running = true;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == p->tfd || fd == p->kfd) {
            ssize_t r = read(fd, &drain, sizeof(drain));
            (void)r; /* EAGAIN: already drained; the deadlines below are the truth */
            if (fd == p->kfd)
                p->kicked = false;
            else
                p->armed_ns = 0;
            continue;
        }
        if (!watched(p, fd)) {
            epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL); /* parked, and the server closed it or spoke */
            continue;
        }
        int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        CURLMcode mc = curl_multi_socket_action(p->multi, fd, mask, &running);
        if (mc != CURLM_OK) {
            rc = multi_error(mc, err);
            goto out;
        }
    }
    /* Resumed fibers start new transfers and sleeps: go on while something is due now, within reason. */
    for (int round = 0; round < MAX_ROUNDS; round++) {
        uint64_t now = mono_ns();
        if (p->curl_due_ns != 0 && p->curl_due_ns <= now) {
            p->curl_due_ns = 0;
            CURLMcode mc = curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            if (mc != CURLM_OK) {
                rc = multi_error(mc, err);
                goto out;
            }
        }
        /* Every ended transfer first: resuming a fiber changes the multi handle under the messages. */
        struct waiter *ready = NULL, **tail = &ready;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(p->multi, &left)) != NULL) {
            struct waiter *w = NULL;
            if (msg->msg != CURLMSG_DONE ||
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &w) != CURLE_OK || w == NULL)
                continue;
            w->result = msg->data.result;
            w->done = true;
            /* The call's wait, from its request sent to the answer's first byte: neither a connection's
             * set-up (TCP, TLS) nor the transfer of a body, which say nothing of a queue. */
            curl_off_t sent = 0, first = 0;
            if (w->result == CURLE_OK &&
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRETRANSFER_TIME_T, &sent) == CURLE_OK &&
                curl_easy_getinfo(msg->easy_handle, CURLINFO_STARTTRANSFER_TIME_T, &first) == CURLE_OK &&
                first >= sent) {
                p->wait_sum_s += (double)(first - sent) / 1e6;
                p->waits++;
            }
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        }
        /* Sleeps that are over: the slot is freed, and the fiber resumed after the transfers. */
        struct wd_fiber *woken[16];
        size_t n_woken = 0;
        for (long i = 0; p->n_sleeping > 0 && i < p->max && n_woken < 16; i++) {
            struct sleeper *z = &p->sleepers[i];
            if (z->fiber != NULL && z->wake_ns <= now) {
                woken[n_woken++] = z->fiber;
                z->fiber = NULL;
                p->n_sleeping--;
            }
        }
        if (ready == NULL && n_woken == 0 && (p->curl_due_ns == 0 || p->curl_due_ns > mono_ns()))
            break;
        while (ready != NULL) {
            /* The waiter lives on the fiber's stack: read what is needed before the fiber goes on. */
            struct waiter *next = ready->next;
            wd_fiber_resume(ready->fiber);
            ready = next;
        }
        for (size_t i = 0; i < n_woken; i++)
            wd_fiber_resume(woken[i]);
    }
out:
    p->running = false;
    rearm(p); /* what is still due: a kick or the timer brings the next run */
    return rc;
}

void wd_http_pool_take_waits(struct wd_http_pool *p, double *sum_s, unsigned long *n)
{
    *sum_s = p->wait_sum_s;
    *n = p->waits;
    p->wait_sum_s = 0;
    p->waits = 0;
}

void wd_http_pool_wait(struct wd_http_pool *p, int timeout_ms)
{
    struct pollfd pfd = {.fd = p->epfd, .events = POLLIN};
    (void)poll(&pfd, 1, timeout_ms);
}

void wd_http_pool_kick(struct wd_http_pool *p)
{
    uint64_t one = 1;
    p->kicked = true;
    ssize_t w = write(p->kfd, &one, sizeof(one));
    (void)w; /* an eventfd counter cannot overflow here; EAGAIN still leaves it readable */
}

bool wd_http_pool_busy(const struct wd_http_pool *p)
{
    return p->transfers > 0 || p->n_sleeping > 0;
}

CURLcode wd_http_pool_perform(struct wd_http_pool *p, CURL *easy)
{
    struct waiter w = {.fiber = wd_fiber_current()};
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &w);
    if (curl_multi_add_handle(p->multi, easy) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    p->transfers++;
    while (!w.done)
        wd_fiber_yield();
    curl_multi_remove_handle(p->multi, easy);
    p->transfers--;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    return w.result;
}

void wd_http_pool_sleep(struct wd_http_pool *p, double seconds)
{
    struct wd_fiber *self = wd_fiber_current();
    long i = 0;
    while (i < p->max && p->sleepers[i].fiber != NULL)
        i++;
    if (seconds <= 0 || i == p->max)
        return; /* no slot: more fibers than the pool allows transfers, so the retry goes at once */
    p->sleepers[i] = (struct sleeper){self, mono_ns() + (uint64_t)(seconds * 1e9)};
    p->n_sleeping++;
    rearm(p);
    /* wd_http_pool_run() frees the slot when the time has come. */
    while (p->sleepers[i].fiber == self)
        wd_fiber_yield();
}
