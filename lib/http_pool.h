/*
 * Many HTTP transfers at once on one thread: libcurl's multi interface, its sockets and its timer kept in
 * one epoll fd that the caller's event loop watches. A transfer is started from a fiber (fiber.h), which
 * waits while the pool moves every transfer on; one connection pool and one TLS session cache serve them
 * all.
 */
#ifndef WD_HTTP_POOL_H
#define WD_HTTP_POOL_H

#include <curl/curl.h>
#include <stdbool.h>

#include "error.h"

struct wd_http_pool;

/*
 * A pool for at most max_transfers transfers at once. It keeps up to 2 x max_transfers connections open
 * (one set for each of the two hosts a consumer calls: the requests bucket and the store). Returns NULL
 * with err.
 */
struct wd_http_pool *wd_http_pool_new(long max_transfers, struct wd_error *err);
/* No transfer may be running (wd_http_pool_busy()); accepts NULL. */
void wd_http_pool_free(struct wd_http_pool *p);

/* Readable when wd_http_pool_run() has work: a socket is ready, a timer is due, or a kick. */
int wd_http_pool_fd(const struct wd_http_pool *p);

/*
 * Moves every transfer on as far as it goes without blocking, and resumes the fibers whose transfer
 * ended or whose sleep is over. Returns -1 with err only when the multi interface itself fails.
 */
int wd_http_pool_run(struct wd_http_pool *p, struct wd_error *err);

/*
 * The calls answered since the last take: how many, and their waits (request sent to the answer's first
 * byte) added up, in seconds. For the limit on calls in flight (limit.h).
 */
void wd_http_pool_take_waits(struct wd_http_pool *p, double *sum_s, unsigned long *n);

/* Waits at most timeout_ms for wd_http_pool_fd() to become readable (for a drain without an event loop). */
void wd_http_pool_wait(struct wd_http_pool *p, int timeout_ms);

/* Makes wd_http_pool_fd() readable, so that the event loop calls back soon. */
void wd_http_pool_kick(struct wd_http_pool *p);

/* True while a transfer or a sleep is waiting. */
bool wd_http_pool_busy(const struct wd_http_pool *p);

/* From inside a fiber: runs easy to its end on the pool; the fiber waits meanwhile. */
CURLcode wd_http_pool_perform(struct wd_http_pool *p, CURL *easy);

/* The pool's shared handle (TLS sessions, DNS), for every easy handle that runs on it. */
CURLSH *wd_http_pool_share(const struct wd_http_pool *p);

/* From inside a fiber: waits seconds while the other transfers go on. */
void wd_http_pool_sleep(struct wd_http_pool *p, double seconds);

#endif
