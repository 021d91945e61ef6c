/*
 * The pipeline (SPEC sections 4-5): list the requests bucket, read each request, apply it to the store,
 * then delete it; bad requests are set aside in the dead-letter location. Many requests run at once, each
 * task in a fiber whose calls share one HTTP pool, all on the caller's thread; requests of one widget run
 * one at a time, in key order.
 */
#ifndef WD_CONSUMER_H
#define WD_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>

#include "aws.h"
#include "error.h"
#include "http.h"
#include "s3.h"
#include "store.h"
#include "request.h"

struct wd_consumer_config {
    const char *requests_bucket;
    const char *requests_prefix;    /* only keys under it are requests; "" for all */
    const char *dead_letter_bucket; /* NULL or "": the requests bucket */
    const char *dead_letter_prefix; /* "dead-letter/" */
    const struct wd_s3 *s3;         /* the requests bucket's S3 (and the S3 store's) */
    struct wd_store store;
    int calls_in_flight; /* tasks at once at most, each with at most one call in flight (limit.h) */
    int list_page;       /* keys per ListObjectsV2 call, at most 1000 */
    bool once;           /* a request that failed stays untouched for the rest of the run */
    double hold_min_s;   /* daemon mode: first wait before a failed request is tried again */
    double hold_max_s;   /* daemon mode: longest wait */
    struct wd_http_options http;
};

enum wd_event_kind {
    WD_EV_APPLIED,       /* info: the request's effect is in the store and the request is deleted */
    WD_EV_NOT_FOUND,     /* warning: update/delete of a widget that does not exist; done */
    WD_EV_IGNORED_ATTR,  /* warning: after APPLIED, an attribute the store left out (detail: its name) */
    WD_EV_DEAD_LETTERED, /* error: set aside (detail: where; err: why) */
    WD_EV_FAILED,        /* warning: kept in the bucket for a later attempt (err: why) */
    WD_EV_LIST_FAILED,   /* error: the requests bucket could not be listed (err) */
    WD_EV_VANISHED,      /* warning: the request was gone when read (another consumer took it?) */
    WD_EV_REPLACED,      /* warning: after APPLIED/DEAD_LETTERED, the producer had overwritten the request
                            since it was read; the new version stays for a later poll */
    /* error: unreadable (SPEC 5), set aside by a marker and left in place (detail: the marker; err: why) */
    WD_EV_SET_ASIDE,
    /* notice: unreadable, and a marker of an earlier run says it was set aside (detail: the marker) */
    WD_EV_SET_ASIDE_BEFORE,
};

/* Everything borrowed, valid only during the callback. */
struct wd_event {
    enum wd_event_kind kind;
    const char *key;              /* request key, NULL for WD_EV_LIST_FAILED */
    const struct wd_request *req; /* NULL when the request was not (validly) read */
    const char *detail;
    const struct wd_error *err;
};

/* Called on the thread that calls wd_consumer_process(), never concurrently. */
typedef void (*wd_event_fn)(const struct wd_event *ev, void *ctx);

struct wd_poll_stats {
    size_t listed; /* request keys listed */
    size_t taken;  /* requests processed to an outcome this poll (applied, dead-lettered) */
    size_t failed; /* requests kept for later this poll */
    size_t held;   /* requests waiting after a failure, at the end of the poll */
    bool list_failed;
};

struct wd_consumer;

/* Borrows cfg's strings and aws for its lifetime. Returns NULL with err on failure. */
struct wd_consumer *wd_consumer_new(const struct wd_consumer_config *cfg, struct wd_aws *aws, wd_event_fn fn,
                                    void *ctx, struct wd_error *err);
void wd_consumer_free(struct wd_consumer *c);

/*
 * A poll lists up to one page of requests and processes them to an outcome (or until they fail and are
 * held). It runs asynchronously so the caller's event loop stays responsive: wd_consumer_start() begins
 * one; whenever wd_consumer_fd() is readable, wd_consumer_process() moves it on and sets *finished (and
 * fills stats) when it is over. Events are emitted from wd_consumer_process() only. wd_consumer_fd() is an
 * epoll fd: level-triggered, it stays readable while there is work, and it needs no timer beside it.
 */
int wd_consumer_start(struct wd_consumer *c, struct wd_error *err);
int wd_consumer_process(struct wd_consumer *c, bool *finished, struct wd_poll_stats *stats,
                        struct wd_error *err);
int wd_consumer_fd(const struct wd_consumer *c);

/* Stop taking new work for good: the running poll ends once the calls in flight have finished. */
void wd_consumer_stop(struct wd_consumer *c);
bool wd_consumer_polling(const struct wd_consumer *c);

/* Tasks finished so far (each a bounded sequence of calls): a watchdog's proof of progress. */
unsigned long wd_consumer_progress(const struct wd_consumer *c);
/* Tasks (each with a call at most) in flight now, how many may be (the adaptive limit), the most that were.
 */
void wd_consumer_calls(const struct wd_consumer *c, int *now, int *limit, int *peak);

#endif
