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

/* Rounds of "start what the fibers just asked for" per run, before the event loop gets a turn. */
#define MAX_ROUNDS 4

/* A fiber waiting for its transfer to end or its sleep to be over; lives on the fiber's stack. */
struct waiter {
    struct wd_fiber *fiber;
    CURLcode result;
    bool done;
    uint64_t wake_ns;    /* a sleep's end */
    struct waiter *next; /* in the sleepers' list, then in the list of fibers to resume */
};

struct wd_http_pool {
    CURLM *multi;
    CURLSH *share;
    int epfd, tfd, kfd;
    uint64_t curl_due_ns; /* when curl wants CURL_SOCKET_TIMEOUT; 0: never */
    uint64_t armed_ns;    /* what the timerfd is set to; 0: disarmed */
    struct waiter *sleepers;
    long transfers; /* added to the multi handle and not yet removed */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sets the timerfd to the earliest of curl's timer and the sleeps' ends. */
static void rearm(struct wd_http_pool *p)
{
    uint64_t due = p->curl_due_ns;
    for (const struct waiter *w = p->sleepers; w != NULL; w = w->next)
        if (due == 0 || w->wake_ns < due)
            due = w->wake_ns;
    if (due == p->armed_ns)
        return;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u)}};
    /* An absolute time in the past fires at once; a zero value disarms. */
    if (timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        p->armed_ns = due;
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct wd_http_pool *p = userp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, s, NULL); /* fails harmlessly when curl closed it already */
        curl_multi_assign(p->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = {
        .events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
        .data.fd = s,
    };
    if (socketp != NULL)
        return epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev) == 0 ? 0 : -1;
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, s, &ev) < 0 &&
        (errno != EEXIST || epoll_ctl(p->epfd, EPOLL_CTL_MOD, s, &ev) < 0))
        return -1;
    curl_multi_assign(p->multi, s, p);
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
    p->multi = curl_multi_init();
    p->share = curl_share_init();
    if (p->multi == NULL || p->share == NULL) {
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
    /* As many connections as transfers, and as many kept alive for the next ones. */
    curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_transfers);
    curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, max_transfers);
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
    int running, n = epoll_wait(p->epfd, evs, 64, 0);
    uint64_t drain;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if (fd == p->tfd || fd == p->kfd) {
            ssize_t r = read(fd, &drain, sizeof(drain));
            (void)r; /* EAGAIN: already drained; the deadlines below are the truth */
            continue;
        }
        int mask = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        CURLMcode mc = curl_multi_socket_action(p->multi, fd, mask, &running);
        if (mc != CURLM_OK)
            return multi_error(mc, err);
    }
    for (int round = 0; round < MAX_ROUNDS; round++) {
        uint64_t now = mono_ns();
        if (p->curl_due_ns != 0 && p->curl_due_ns <= now) {
            p->curl_due_ns = 0;
            CURLMcode mc = curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            if (mc != CURLM_OK)
                return multi_error(mc, err);
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
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        }
        for (struct waiter **s = &p->sleepers; *s != NULL;) {
            struct waiter *w = *s;
            if (w->wake_ns > now) {
                s = &w->next;
                continue;
            }
            *s = w->next;
            w->done = true;
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        }
        rearm(p);
        if (ready == NULL)
            break;
        while (ready != NULL) {
            /* The waiter lives on the fiber's stack: read what is needed before the fiber goes on. */
            struct waiter *next = ready->next;
            wd_fiber_resume(ready->fiber);
            ready = next;
        }
    }
    return 0;
}

void wd_http_pool_wait(struct wd_http_pool *p, int timeout_ms)
{
    struct pollfd pfd = {.fd = p->epfd, .events = POLLIN};
    (void)poll(&pfd, 1, timeout_ms);
}

void wd_http_pool_kick(struct wd_http_pool *p)
{
    uint64_t one = 1;
    ssize_t w = write(p->kfd, &one, sizeof(one));
    (void)w; /* an eventfd counter cannot overflow here; EAGAIN still leaves it readable */
}

bool wd_http_pool_busy(const struct wd_http_pool *p)
{
    return p->transfers > 0 || p->sleepers != NULL;
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
    if (seconds <= 0)
        return;
    struct waiter w = {.fiber = wd_fiber_current(), .wake_ns = mono_ns() + (uint64_t)(seconds * 1e9)};
    w.next = p->sleepers;
    p->sleepers = &w;
    rearm(p);
    while (!w.done)
        wd_fiber_yield();
}
