/*
 * The request pipeline: the driver hands tasks (list, read, apply + delete, dead-letter) to workers in
 * the order that the scheduler (order.c, SPEC 4-5) allows. A worker is a fiber with its own HTTP client
 * that runs one task on one batch item, its calls on the shared HTTP pool (http_pool.c), and reports back.
 * Everything runs on the caller's thread: the pool resumes a worker when its call ends.
 */
#include "consumer.h"

#include <stdint.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "fiber.h"
#include "http_pool.h"
#include "limit.h"
#include "order.h"
#include "s3_xml.h"
#include "sigv4.h"

#define LIST_TASK (SIZE_MAX - 1)
/*
 * A poll lists on into further pages for this long at most, then drains and ends: what waits for a poll's
 * end (a reload, STATUS=, failed requests tried again) waits no longer than that under a backlog.
 */
#define RUN_ON_S 15.0
/* Reads run ahead of the oldest unfinished request by this many times the tasks that may run. */
#define READ_AHEAD_PER_TASK 4
#define MAX_REASON 1024
/* S3's limits: a key of at most 1,024 bytes; user metadata of at most 2 KB, names and values together. */
#define MAX_S3_KEY 1024
#define MAX_S3_META 2048

/* Where a task left its item; the scheduler (order.c) is told and decides what comes next. */
enum item_outcome {
    ST_READ,   /* read: a valid request, widget known */
    ST_BAD,    /* read: not a valid request, to be dead-lettered */
    ST_DONE,   /* applied and deleted, or set aside */
    ST_FAILED, /* a call failed: kept in the bucket */
    ST_GONE,   /* disappeared before it was read */
};

/* The scheduler's tasks, and the listing that feeds it. */
enum task_kind {
    TASK_READ = WD_ORDER_READ,
    TASK_APPLY = WD_ORDER_APPLY,
    TASK_DEAD_LETTER = WD_ORDER_DEAD_LETTER,
    TASK_LIST,
};

struct item {
    char *key;
    enum item_outcome outcome; /* written by the worker; read once the task is in the done queue */
    struct wd_buf body;        /* a bad request's whole body, to set it aside with one PUT */
    struct wd_request *req;
    char *identity;
    /*
     * Results, written by the worker that ran the item's task. err is allocated when a task starts and
     * freed once its outcome is reported, unless a later task needs it (a bad request's reason): few
     * items hold one at a time, so the batch stays small.
     */
    struct wd_error *err;           /* or &fallback_err, not owned */
    struct wd_apply_result applied; /* what the store did besides storing the effect */
    bool bad;                       /* not a valid request (SPEC 2) */
    bool dead_lettered;             /* set aside: a bad request, or one the store rejects for good */
    bool vanished;
    bool replaced;              /* overwritten after it was read: the new version stays in the bucket */
    char etag[WD_S3_ETAG_SIZE]; /* of the version read: only that version may be deleted */
    bool unreadable;            /* cannot be read or copied for a reason of its own: set aside by a marker */
    bool marked_before;         /* ... and a marker from an earlier run says it already was */
    char *dl_name;              /* where it was set aside (the dead-letter name, shortened when too long) */
    const char *archived;       /* the archived storage class the listing shows (static), or NULL */
};

struct task {
    enum task_kind kind;
    size_t serial; /* the item's, or LIST_TASK */
};

/* A fiber and its HTTP client: runs one task at a time. */
struct worker {
    struct wd_consumer *c;
    struct wd_fiber *fiber;
    struct wd_http *http;
    struct task task;
};

struct wd_consumer {
    struct wd_consumer_config cfg;
    struct wd_aws *aws;
    wd_event_fn emit;
    void *ctx;

    struct wd_http_pool *pool;
    struct worker *workers; /* made as needed, up to max_workers */
    int max_workers;        /* cfg.calls_in_flight, and one for the next page's LIST */
    int n_workers;
    struct worker **idle; /* workers free for a task */
    int n_idle;
    size_t *done;     /* indexes of finished tasks */
    size_t *finished; /* the driver's copy of done */
    size_t done_len, done_cap;
    unsigned long progress; /* tasks finished, for the watchdog */

    /*
     * The poll in progress and the scheduler, which keeps the holds between polls. The first LIST task
     * fills the batch while it runs alone; while the batch runs, the next page is listed into it once
     * its reads run short and it has room (listing_more), so that a page's end costs no round trips.
     */
    struct wd_order *order;
    bool polling, listing, listing_more, stopping, broken;
    char *cont_token;      /* the next page's continuation token */
    char *cont_after;      /* ... or the key to list after */
    bool list_failed;      /* the LIST task that just ended failed */
    double poll_start;     /* monotonic seconds */
    struct wd_error fault; /* why the poll broke off */
    struct wd_poll_stats stats;
    struct wd_error list_err;
    int list_rc;
    struct wd_error fallback_err; /* an item's error when none could be allocated */
    /*
     * The batch's items, a ring: item serial s (counted from the poll's start) is items[s % cap], and the
     * scheduler's item i is serial base + i. Items never move, so a worker keeps its item's address.
     */
    struct item *items;
    size_t cap, base, end;
    size_t inflight;
    /* How many tasks may run at once, adapted to the round trip (limit.h); each has one call at most. */
    struct wd_limit limit;
    unsigned long throttled; /* the throttling answers the limit has been told of (wd_aws_stats) */
    int peak;                /* the most tasks at once since the limit was last told */
    int peak_all;            /* ... and over the consumer's life */
    int peak_poll;           /* ... and in this poll: the workers kept when it ends */
    /* Unreadable requests set aside by a marker, left in the bucket: never read again in this process
     * (sorted, for bsearch). */
    char **aside;
    size_t n_aside, cap_aside;
};

/* Monotonic seconds: the scheduler's holds must not move with the wall clock. */
static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct item *slot(const struct wd_consumer *c, size_t serial)
{
    return &c->items[serial % c->cap];
}

static const char *dl_bucket(const struct wd_consumer *c)
{
    const char *b = c->cfg.dead_letter_bucket;
    return b && *b ? b : c->cfg.requests_bucket;
}

/* --- the worker side --------------------------------------------------------------------------- */

/*
 * it->err, an S3 error of class WD_ERR_UNREADABLE, becomes the reason a person reads: the cause first
 * (SPEC 5: "the reason names the cause"), then S3's own words.
 */
static const char *unreadable_cause(const struct wd_error *s3)
{
    if (strcmp(s3->code, "InvalidObjectState") == 0)
        return "the object is in an archived storage class (GLACIER or DEEP_ARCHIVE) and must be restored "
               "before it can be read";
    if (strstr(s3->message, "copy source is larger") != NULL)
        return "the object is too large for CopyObject (over 5 GiB)";
    return "the object is encrypted with a customer-provided key (SSE-C), which widgetd does not have";
}

static void unreadable_reason(struct item *it)
{
    struct wd_error s3 = *it->err;
    it->unreadable = true;
    wd_error_set(it->err, WD_ERR_BAD_INPUT, s3.http_status, s3.code, "unreadable request: %s (%s)",
                 unreadable_cause(&s3), s3.message);
}

/*
 * The dead-letter name of key: prefix + key, or, when that would pass S3's 1,024-byte limit, prefix + the
 * key's start (cut on a character boundary) + "~sha256-" + the SHA-256 of the whole key, which fits and
 * stays unique; the whole key then goes into the metadata.
 */
static int dead_letter_name(const char *prefix, const char *key, struct wd_buf *out, bool *shortened)
{
    size_t plen = strlen(prefix), klen = strlen(key);
    *shortened = plen + klen > MAX_S3_KEY;
    if (!*shortened)
        return wd_buf_printf(out, "%s%s", prefix, key);
    char hex[65];
    wd_sha256_hex(key, klen, hex);
    size_t room = MAX_S3_KEY > plen + 8 + 64 ? MAX_S3_KEY - plen - 8 - 64 : 0;
    while (room > 0 && ((unsigned char)key[room] & 0xC0) == 0x80)
        room--; /* never end inside a UTF-8 character */
    return wd_buf_printf(out, "%s%.*s~sha256-%s", prefix, (int)room, key, hex);
}

/*
 * Metadata for a request set aside under another name than its own, or by a marker: the reason and the
 * whole original key, escaped, within S3's 2 KB for all user metadata (the reason gives way first).
 */
static int aside_metadata(const char *key, const char *why, struct wd_buf *reason, struct wd_buf *orig)
{
    if (wd_escape(orig, WD_ESCAPE_METADATA, key, strlen(key), MAX_S3_META - 64 - 256) < 0)
        return -1;
    size_t cap = MAX_S3_META - 64 - orig->len;
    return wd_escape(reason, WD_ESCAPE_METADATA, why, strlen(why), cap < MAX_REASON ? cap : MAX_REASON);
}

/*
 * Sets aside a request that cannot be read or copied (SPEC 5): a small marker object at its dead-letter
 * name, with the reason and the original key; the request itself stays in the bucket, untouched. A marker
 * already there was written by an earlier run: the request was set aside then.
 */
static int mark_unreadable(struct wd_consumer *c, struct wd_http *http, struct item *it, const char *why,
                           struct wd_error *err)
{
    struct wd_buf reason = {0}, orig = {0}, body = {0};
    int rc = -1;
    if (wd_s3_head(c->aws, http, c->cfg.s3, dl_bucket(c), it->dl_name, err) == 0) {
        it->marked_before = true;
        return 0;
    }
    if (err->cls != WD_ERR_NOT_FOUND)
        return -1;
    if (aside_metadata(it->key, why, &reason, &orig) < 0 ||
        wd_buf_printf(&body,
                      "widgetd set this request aside where it is, without reading or moving it.\n"
                      "request key (escaped): %s\nreason: %s\n",
                      orig.data, reason.data) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    struct wd_header meta[] = {{"widgetd-error", reason.data},
                               {"widgetd-original-key", orig.data},
                               {"widgetd-unreadable", "the request was left in place"}};
    rc = wd_s3_put(c->aws, http, c->cfg.s3, dl_bucket(c), it->dl_name, body.data, body.len, "text/plain",
                   meta, 3, err);
out:
    wd_buf_free(&reason);
    wd_buf_free(&orig);
    wd_buf_free(&body);
    return rc;
}

static void run_read(struct wd_consumer *c, struct wd_http *http, struct item *it)
{
    struct wd_buf body = {0}, ident = {0};
    if (it->archived != NULL) {
        /* The listing shows an archived class: a GET could only fail, so none is sent; after a restart
         * the marker's HEAD tells that it was set aside before (SPEC 5: never read again). */
        wd_error_set(
            it->err, WD_ERR_BAD_INPUT, 0, "InvalidObjectState",
            "unreadable request: the object is in the archived storage class %s and must be restored "
            "before it can be read (as listed; not read)",
            it->archived);
        it->unreadable = true;
        it->outcome = ST_BAD;
        it->bad = true;
        return;
    }
    /* One byte over the limit is enough to know a request is too large, without reading all of it. */
    if (wd_s3_get(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, it->key, WD_REQUEST_MAX_BYTES + 1, &body,
                  it->etag, it->err) < 0) {
        if (it->err->cls == WD_ERR_NOT_FOUND) {
            it->vanished = true;
            it->outcome = ST_GONE;
        } else if (it->err->cls == WD_ERR_UNREADABLE) {
            unreadable_reason(it);
            it->outcome = ST_BAD;
            it->bad = true;
        } else if (strcmp(it->err->code, "ResponseTooLarge") == 0) {
            wd_error_set(it->err, WD_ERR_BAD_INPUT, 0, NULL, "request is larger than %d bytes",
                         WD_REQUEST_MAX_BYTES);
            it->outcome = ST_BAD;
            it->bad = true;
        } else {
            it->outcome = ST_FAILED;
        }
        goto out;
    }
    if (wd_request_parse(body.data ? body.data : "", body.len, &it->req, it->err) < 0) {
        it->bad = it->err->cls == WD_ERR_BAD_INPUT;
        it->outcome = it->bad ? ST_BAD : ST_FAILED;
        if (it->bad) {
            it->body = body; /* kept to write the dead letter */
            body = (struct wd_buf){0};
        }
        goto out;
    }
    if (c->cfg.store.ops->identity(it->req, &ident) < 0 || (it->identity = wd_buf_steal(&ident)) == NULL) {
        wd_error_nomem(it->err);
        it->outcome = ST_FAILED;
        goto out;
    }
    it->outcome = ST_READ;
out:
    wd_buf_free(&body);
    wd_buf_free(&ident);
}

/*
 * Deletes the request from the intake, on condition that it is still the version that was read: a
 * producer that overwrites a key between our GET and DELETE has written a new request, which must not
 * be deleted unread. When the condition fails (412), the new version stays for a later poll and the
 * version read counts as done (it->replaced). Without an ETag (too large to read) the DELETE is plain.
 */
static int delete_request(struct wd_consumer *c, struct wd_http *http, struct item *it, struct wd_error *err)
{
    if (wd_s3_delete(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, it->key, it->etag, err) == 0)
        return 0;
    if (err->cls != WD_ERR_CONDITION || it->etag[0] == '\0')
        return -1;
    it->replaced = true;
    return 0;
}

/*
 * Sets the request aside in the dead-letter location with the reason, then deletes it from the intake.
 * A bad request whose body was read whole is written with one PUT of those bytes; otherwise (too large
 * to read, or rejected by the store after parsing) it is copied server-side.
 */
static int dead_letter(struct wd_consumer *c, struct wd_http *http, struct item *it,
                       const struct wd_error *why, struct wd_error *err)
{
    struct wd_buf reason = {0}, dst = {0}, orig = {0};
    bool shortened;
    int rc = -1;
    if (dead_letter_name(c->cfg.dead_letter_prefix, it->key, &dst, &shortened) < 0 ||
        (shortened
             ? aside_metadata(it->key, why->message, &reason, &orig)
             : wd_escape(&reason, WD_ESCAPE_METADATA, why->message, strlen(why->message), MAX_REASON)) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    free(it->dl_name);
    it->dl_name = wd_buf_steal(&dst);
    if (it->dl_name == NULL) {
        wd_error_nomem(err);
        goto out;
    }
    if (it->unreadable) {
        rc = mark_unreadable(c, http, it, why->message, err);
        goto out;
    }
    struct wd_header meta[] = {{"widgetd-error", reason.data}, {"widgetd-original-key", orig.data}};
    size_t n_meta = shortened ? 2 : 1;
    if (it->body.data != NULL) {
        if (wd_s3_put(c->aws, http, c->cfg.s3, dl_bucket(c), it->dl_name, it->body.data, it->body.len,
                      "application/json", meta, n_meta, err) < 0)
            goto out;
    } else if (wd_s3_copy(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, it->key, dl_bucket(c), it->dl_name,
                          meta, n_meta, err) < 0) {
        goto out;
    }
    rc = delete_request(c, http, it, err);
out:
    wd_buf_free(&reason);
    wd_buf_free(&dst);
    wd_buf_free(&orig);
    return rc;
}

/* Sets the item aside with the reason in it->err; the item ends DONE (dead-lettered) or FAILED. */
static void run_dead_letter(struct wd_consumer *c, struct wd_http *http, struct item *it)
{
    struct wd_error why = *it->err;
    int rc = dead_letter(c, http, it, &why, it->err);
    if (rc < 0 && it->err->cls == WD_ERR_UNREADABLE && !it->unreadable) {
        /* S3 will not copy it (too large, archived, encrypted): a marker records it instead. */
        struct wd_error copy = *it->err, first = why;
        wd_error_set(&why, WD_ERR_BAD_INPUT, copy.http_status, copy.code, "%s; unreadable request: %s (%s)",
                     first.message, unreadable_cause(&copy), copy.message);
        it->unreadable = true;
        rc = mark_unreadable(c, http, it, why.message, it->err);
    }
    if (rc < 0) {
        it->outcome = ST_FAILED;
        return;
    }
    *it->err = why;
    it->dead_lettered = true;
    it->outcome = ST_DONE;
}

static void run_apply(struct wd_consumer *c, struct wd_http *http, struct item *it)
{
    const struct wd_store *store = &c->cfg.store;
    if (store->ops->apply(store, c->aws, http, it->req, &it->applied, it->err) < 0) {
        if (!store->ops->rejects_content(it->err)) {
            it->outcome = ST_FAILED;
            return;
        }
        /* The store refuses this request's content for good (e.g. an item over 400 KB): set it aside. */
        run_dead_letter(c, http, it);
        return;
    }
    /* Only now, with the effect durable in the store, may the request leave the bucket (SPEC 5). */
    if (delete_request(c, http, it, it->err) < 0) {
        it->outcome = ST_FAILED;
        return;
    }
    it->outcome = ST_DONE;
}

static int list_batch(struct wd_consumer *c, struct wd_http *http, struct wd_poll_stats *stats,
                      struct wd_error *err);

/* A worker's fiber: runs its task to the end, then reports back and is free again. */
static void worker_run(void *arg)
{
    struct worker *w = arg;
    struct wd_consumer *c = w->c;
    struct task t = w->task;
    if (t.kind == TASK_LIST) {
        c->list_rc = list_batch(c, w->http, &c->stats, &c->list_err);
    } else {
        struct item *it = slot(c, t.serial);
        if (it->err == NULL && (it->err = calloc(1, sizeof(*it->err))) == NULL) {
            wd_error_nomem(&c->fallback_err);
            it->err = &c->fallback_err;
            it->outcome = ST_FAILED; /* as a call that could not be made */
        } else if (t.kind == TASK_READ)
            run_read(c, w->http, it);
        else if (t.kind == TASK_APPLY)
            run_apply(c, w->http, it);
        else
            run_dead_letter(c, w->http, it);
    }
    c->done[c->done_len++] = t.serial;
    c->progress++;
    c->idle[c->n_idle++] = w;
}

/* --- the driver: the scheduler decides, the workers run ----------------------------------------- */

static void drop_err(struct wd_consumer *c, struct item *it)
{
    if (it->err != &c->fallback_err)
        free(it->err);
    it->err = NULL;
}

/* Frees the items from serial base up to (not including) serial to, which leave the batch. */
static void drop_items(struct wd_consumer *c, size_t to)
{
    for (; c->base < to; c->base++) {
        struct item *it = slot(c, c->base);
        free(it->key);
        free(it->identity);
        free(it->dl_name);
        wd_buf_free(&it->body);
        wd_request_free(it->req);
        drop_err(c, it);
        memset(it, 0, sizeof(*it));
    }
}

static void clear_continuation(struct wd_consumer *c)
{
    free(c->cont_token);
    free(c->cont_after);
    c->cont_token = c->cont_after = NULL;
}

/* The listing goes on past the batch: from cont_token, or after cont_after (past the dead letters). */
static bool more_to_list(const struct wd_consumer *c)
{
    return c->cont_token != NULL || c->cont_after != NULL;
}

static void clear_batch(struct wd_consumer *c)
{
    drop_items(c, c->end);
    c->base = c->end = 0;
    clear_continuation(c);
}

/* A free worker, made now when there is room; NULL with err when none can be made. */
static struct worker *take_worker(struct wd_consumer *c, struct wd_error *err)
{
    if (c->n_idle > 0)
        return c->idle[--c->n_idle];
    if (c->n_workers == c->max_workers) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "more tasks than workers");
        return NULL;
    }
    struct worker *w = &c->workers[c->n_workers];
    struct wd_http_options ho = c->cfg.http;
    ho.pool = c->pool;
    *w = (struct worker){.c = c};
    if ((w->fiber = wd_fiber_new(0, err)) == NULL)
        return NULL;
    if ((w->http = wd_http_new(&ho, err)) == NULL) {
        wd_fiber_free(w->fiber);
        return NULL;
    }
    c->n_workers++;
    return w;
}

/*
 * Between polls, when every worker is idle: frees the workers beyond the first keep, so that memory
 * follows the calls the last poll needed rather than the most ever (a burst at 1,000 calls in flight
 * costs about 20 MB more while it lasts). The next poll makes them again as its limit needs them (a
 * fiber and an easy handle: microseconds, against a poll's round trips).
 */
static void shed_workers(struct wd_consumer *c, int keep)
{
    if (keep < 1)
        keep = 1;
    if (c->n_idle != c->n_workers || c->n_workers <= keep)
        return;
    for (int i = keep; i < c->n_workers; i++) {
        wd_http_free(c->workers[i].http);
        wd_fiber_free(c->workers[i].fiber);
        c->workers[i] = (struct worker){0};
    }
    c->n_workers = c->n_idle = keep;
    for (int i = 0; i < keep; i++)
        c->idle[i] = &c->workers[i];
#ifdef __GLIBC__
    malloc_trim(0); /* the freed handles' buffers go back to the system, not only to malloc's free lists */
#endif
}

/* Starts a task: it runs until its first call waits, or to its end when it needs none. */
static void push_task(struct wd_consumer *c, enum task_kind kind, size_t serial)
{
    struct wd_error err;
    c->inflight++;
    if ((int)c->inflight > c->peak)
        c->peak = (int)c->inflight;
    if (c->peak > c->peak_all)
        c->peak_all = c->peak;
    if (c->peak > c->peak_poll)
        c->peak_poll = c->peak;
    struct worker *w = take_worker(c, &err);
    if (w == NULL) {
        /* No worker, no call: the task fails at once, like a call that could not be sent. */
        if (kind == TASK_LIST) {
            c->list_rc = -1;
            c->list_err = err;
        } else {
            struct item *it = slot(c, serial);
            drop_err(c, it); /* a bad request's reason, kept for its dead-letter task */
            c->fallback_err = err;
            it->err = &c->fallback_err;
            it->outcome = ST_FAILED;
        }
        c->done[c->done_len++] = serial;
        return;
    }
    w->task = (struct task){kind, serial};
    wd_fiber_run(w->fiber, worker_run, w);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Set aside by a marker in this process's life: left in the bucket, never to be read again. */
static bool is_set_aside(const struct wd_consumer *c, const char *key)
{
    return c->n_aside > 0 && bsearch(&key, c->aside, c->n_aside, sizeof(*c->aside), cmp_key) != NULL;
}

/* Remembers key as set aside. Returns -1 when out of memory (it is then read again, and found marked). */
static int remember_aside(struct wd_consumer *c, const char *key)
{
    if (is_set_aside(c, key))
        return 0;
    if (c->n_aside == c->cap_aside) {
        size_t cap = c->cap_aside ? 2 * c->cap_aside : 16;
        char **n = realloc(c->aside, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        c->aside = n;
        c->cap_aside = cap;
    }
    char *copy = strdup(key);
    if (copy == NULL)
        return -1;
    size_t at = 0;
    while (at < c->n_aside && strcmp(c->aside[at], key) < 0)
        at++;
    memmove(&c->aside[at + 1], &c->aside[at], (c->n_aside - at) * sizeof(*c->aside));
    c->aside[at] = copy;
    c->n_aside++;
    return 0;
}

static bool is_dead_letter_key(const struct wd_consumer *c, const char *key)
{
    const char *p = c->cfg.dead_letter_prefix;
    return strcmp(dl_bucket(c), c->cfg.requests_bucket) == 0 && p && *p && strncmp(key, p, strlen(p)) == 0;
}

/*
 * Lists up to one page of request keys into the batch, from where the listing left off (the bucket's start
 * in a new poll), leaving out dead-letter keys and the keys that the scheduler holds; one whose widget is
 * unknown ends the batch. Remembers where the listing goes on.
 */
static int list_batch(struct wd_consumer *c, struct wd_http *http, struct wd_poll_stats *stats,
                      struct wd_error *err)
{
    struct wd_s3_list page = {0};
    char *token = c->cont_token;
    char *start_after = c->cont_after;
    bool stop = false;
    double now = mono_now();
    size_t taken = 0;
    int rc = -1;

    c->cont_token = c->cont_after = NULL;
    /* Page on only while the pages hold nothing to take (dead-letter or held keys), a few pages at most. */
    for (int pages = 0; pages < 8 && !stop && taken == 0; pages++) {
        struct wd_error lerr;
        wd_s3_list_clear(&page);
        if (wd_s3_list(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, c->cfg.requests_prefix, start_after,
                       token, c->cfg.list_page, &page, &lerr) < 0) {
            stats->list_failed = c->list_failed = true;
            c->list_err = lerr;
            rc = 0;
            goto out;
        }
        if (page.n_keys > (size_t)c->cfg.list_page) {
            /* A server fault (SPEC 4): the batch has room for what was asked for, and no more. */
            stats->list_failed = c->list_failed = true;
            wd_error_set(&c->list_err, WD_ERR_TRANSIENT, 0, NULL,
                         "the listing holds %zu keys where at most %d were asked for", page.n_keys,
                         c->cfg.list_page);
            rc = 0;
            goto out;
        }
        bool jumped = false;
        for (size_t i = 0; i < page.n_keys && !stop; i++) {
            const char *key = page.keys[i];
            if (is_dead_letter_key(c, key)) {
                /* Skip the whole dead-letter prefix at once rather than page through it. */
                if (!jumped) {
                    free(start_after);
                    if (asprintf(&start_after, "%s\xF4\x8F\xBF\xBF", c->cfg.dead_letter_prefix) < 0) {
                        start_after = NULL;
                        goto nomem;
                    }
                    jumped = true;
                }
                continue;
            }
            if (is_set_aside(c, key))
                continue; /* unreadable, set aside by a marker: as if it had never been written */
            stats->listed++;
            size_t index;
            int verdict = wd_order_offer(c->order, key, now, &index, err);
            if (verdict < 0)
                goto out;
            stop = verdict == WD_ORDER_ENDS;
            if (verdict != WD_ORDER_TAKEN)
                continue;
            /* The scheduler's batch holds at most cap items, as the ring does; the worker tasks wait
             * until this loop is over (no call is made in it), so base cannot move meanwhile. */
            taken++;
            c->end = c->base + index + 1;
            struct item *it = slot(c, c->base + index);
            if ((it->key = strdup(key)) == NULL)
                goto nomem;
            it->archived = page.archived[i];
        }
        free(token);
        token = NULL;
        if (!page.truncated)
            break;
        if (!jumped) {
            if (page.next_token == NULL)
                break;
            if ((token = strdup(page.next_token)) == NULL)
                goto nomem;
        }
        if (taken > 0 && !stop) {
            /* The listing goes on from here when the batch has room again. */
            c->cont_token = token;
            c->cont_after = start_after;
            token = start_after = NULL;
        }
    }
    rc = 0;
    goto out;
nomem:
    wd_error_nomem(err);
out:
    free(token);
    free(start_after);
    wd_s3_list_clear(&page);
    return rc;
}

/* Remembers the first reason the poll broke off; it ends once the tasks in flight are over. */
static void fault(struct wd_consumer *c, const struct wd_error *err)
{
    if (!c->broken)
        c->fault = *err;
    c->broken = true;
}

/* Emits the outcome of a finished item. Returns -1 when out of memory. */
static int finish_item(struct wd_consumer *c, struct item *it, struct wd_poll_stats *stats)
{
    struct wd_event ev = {.key = it->key, .req = it->req, .err = it->err};
    struct wd_buf where = {0};

    switch (it->outcome) {
    case ST_DONE:
        stats->taken++;
        if (it->dead_lettered) {
            if (wd_buf_printf(&where, "%s%s",
                              strcmp(dl_bucket(c), c->cfg.requests_bucket) ? dl_bucket(c) : "",
                              strcmp(dl_bucket(c), c->cfg.requests_bucket) ? ":" : "") < 0 ||
                wd_buf_append_str(&where, it->dl_name) < 0)
                return -1;
            ev.kind = !it->unreadable     ? WD_EV_DEAD_LETTERED
                      : it->marked_before ? WD_EV_SET_ASIDE_BEFORE
                                          : WD_EV_SET_ASIDE;
            ev.detail = where.data;
            c->emit(&ev, c->ctx);
        } else {
            ev.kind = it->applied.not_found ? WD_EV_NOT_FOUND : WD_EV_APPLIED;
            c->emit(&ev, c->ctx);
            ev.kind = WD_EV_IGNORED_ATTR;
            for (size_t i = 0; i < it->applied.n_ignored; i++) {
                ev.detail = it->applied.ignored[i];
                c->emit(&ev, c->ctx);
            }
        }
        if (it->replaced) {
            ev.kind = WD_EV_REPLACED;
            ev.detail = NULL;
            c->emit(&ev, c->ctx);
        }
        break;
    case ST_GONE:
        ev.kind = WD_EV_VANISHED;
        c->emit(&ev, c->ctx);
        break;
    case ST_FAILED:
        stats->failed++;
        ev.kind = WD_EV_FAILED;
        c->emit(&ev, c->ctx);
        break;
    default:
        break; /* read: the request goes on */
    }
    wd_buf_free(&where);
    return 0;
}

/* Starts every task that the scheduler lets go now. */
static void dispatch(struct wd_consumer *c)
{
    enum wd_order_task task;
    size_t i;
    if (c->stopping || c->broken)
        return; /* stop taking new work; what runs finishes */
    if (c->listing)
        return; /* the first LIST task fills the scheduler's batch; a stale wake-up must not look at it */
    while (wd_order_pick(c->order, &task, &i))
        push_task(c, (enum task_kind)task, c->base + i);
    /*
     * The next page is listed while this one's reads and applies run, as the scheduler asks for it: the
     * page's end then costs no round trips. The LIST task offers its keys in one go once its call is over,
     * so the batch may run meanwhile.
     */
    if (more_to_list(c) && !c->listing_more && wd_order_wants_page(c->order, (size_t)c->cfg.list_page) &&
        mono_now() - c->poll_start < RUN_ON_S) {
        c->listing_more = true;
        c->list_rc = 0;
        push_task(c, TASK_LIST, LIST_TASK);
    }
}

/* A LIST task finished: the scheduler has the keys it found. */
static void on_listed(struct wd_consumer *c)
{
    c->listing = c->listing_more = false;
    if (c->list_failed)
        c->emit(&(struct wd_event){.kind = WD_EV_LIST_FAILED, .err = &c->list_err}, c->ctx);
    c->list_failed = false;
    if (c->list_rc < 0)
        fault(c, &c->list_err);
}

/* The task of the item with that serial finished: the scheduler learns where it left the item, the
 * caller what became of it. */
static void on_finished(struct wd_consumer *c, size_t serial)
{
    struct item *it = slot(c, serial);
    size_t i = serial - c->base;
    struct wd_error err;
    int rc;
    switch (it->outcome) {
    case ST_READ:
        rc = wd_order_read_ok(c->order, i, it->identity, &err);
        break;
    case ST_BAD:
        rc = wd_order_read_bad(c->order, i, &err);
        break;
    case ST_GONE:
        rc = wd_order_read_gone(c->order, i, &err);
        break;
    case ST_DONE:
        rc = wd_order_done(c->order, i, &err);
        if (rc == 0 && it->unreadable && remember_aside(c, it->key) < 0)
            rc = wd_error_nomem(&err);
        break;
    default:
        rc = wd_order_failed(c->order, i, mono_now(), &err);
        break;
    }
    if (rc < 0)
        fault(c, &err);
    if (finish_item(c, it, &c->stats) < 0) {
        wd_error_nomem(&err);
        fault(c, &err);
    }
    if (it->outcome != ST_BAD)
        drop_err(c, it); /* reported; a bad request keeps its reason for the dead-letter task */
}

int wd_consumer_start(struct wd_consumer *c, struct wd_error *err)
{
    if (c->polling)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "a poll is already running");
    c->stats = (struct wd_poll_stats){0};
    c->peak_poll = 0;
    c->poll_start = mono_now();
    wd_order_begin(c->order, c->poll_start);
    clear_continuation(c); /* a poll lists from the bucket's start */
    c->polling = c->listing = true;
    c->list_failed = false;
    c->list_rc = 0;
    push_task(c, TASK_LIST, LIST_TASK);
    if (c->done_len > 0)
        wd_http_pool_kick(c->pool); /* it ended without a call: the event loop must still hear of it */
    return 0;
}

/* Tells the limit what the calls waited, and the scheduler how many tasks may run now. */
static void adapt(struct wd_consumer *c)
{
    double sum;
    unsigned long n;
    wd_http_pool_take_waits(c->pool, &sum, &n);
    double now = mono_now();
    unsigned long throttled = wd_aws_throttled(c->aws);
    wd_limit_throttled(&c->limit, now, throttled - c->throttled);
    c->throttled = throttled;
    wd_limit_report(&c->limit, now, sum, n, c->peak, (int)c->inflight);
    c->peak = (int)c->inflight;
    size_t tasks = (size_t)wd_limit_get(&c->limit);
    /* Reads run ahead by a multiple of the tasks, which bounds the parsed requests held. */
    wd_order_set_limits(c->order, tasks, tasks * READ_AHEAD_PER_TASK);
}

/* Hands the finished tasks to the scheduler and starts what it lets go, until nothing more ends at once. */
static void drive(struct wd_consumer *c)
{
    do {
        size_t n_done = c->done_len;
        memcpy(c->finished, c->done, n_done * sizeof(*c->finished));
        c->done_len = 0;
        for (size_t d = 0; d < n_done; d++) {
            c->inflight--;
            if (c->finished[d] == LIST_TASK)
                on_listed(c);
            else
                on_finished(c, c->finished[d]);
        }
        if (c->polling && !c->listing)
            drop_items(c, c->base + wd_order_compact(c->order)); /* what has its outcome makes room */
        if (c->polling)
            dispatch(c);
    } while (c->done_len > 0);
}

int wd_consumer_process(struct wd_consumer *c, bool *finished, struct wd_poll_stats *stats,
                        struct wd_error *err)
{
    *finished = false;
    /* Moves the calls on; the workers whose call ended go on, and those whose task ended report. */
    if (wd_http_pool_run(c->pool, err) < 0)
        return -1;
    adapt(c);
    drive(c);
    if (!c->polling || c->inflight > 0)
        return 0;

    /* Nothing runs and nothing more may start: the poll is over. */
    c->stats.held = wd_order_holds(c->order);
    *stats = c->stats;
    *finished = true;
    c->polling = false;
    wd_order_end(c->order);
    clear_batch(c);
    shed_workers(c, c->peak_poll);
    if (c->broken) {
        c->broken = false;
        *err = c->fault;
        return -1;
    }
    return 0;
}

void wd_consumer_stop(struct wd_consumer *c)
{
    c->stopping = true;
}

bool wd_consumer_polling(const struct wd_consumer *c)
{
    return c->polling;
}

int wd_consumer_fd(const struct wd_consumer *c)
{
    return wd_http_pool_fd(c->pool);
}

unsigned long wd_consumer_progress(const struct wd_consumer *c)
{
    return c->progress;
}

void wd_consumer_calls(const struct wd_consumer *c, int *now, int *limit, int *peak)
{
    *now = (int)c->inflight;
    *limit = wd_limit_get(&c->limit);
    *peak = c->peak_all;
}

/* --- life cycle ---------------------------------------------------------------------------------- */

struct wd_consumer *wd_consumer_new(const struct wd_consumer_config *cfg, struct wd_aws *aws, wd_event_fn fn,
                                    void *ctx, struct wd_error *err)
{
    struct wd_consumer *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        wd_error_nomem(err);
        return NULL;
    }
    c->cfg = *cfg;
    if (c->cfg.calls_in_flight < 1)
        c->cfg.calls_in_flight = 1;
    if (c->cfg.list_page < 1 || c->cfg.list_page > 1000)
        c->cfg.list_page = 1000;
    /* The next page is listed while this one's last reads run, at the most calls in flight too. */
    size_t most = (size_t)c->cfg.calls_in_flight;
    c->cap = wd_order_batch_for((size_t)c->cfg.list_page, most, most * READ_AHEAD_PER_TASK);
    wd_limit_init(&c->limit, c->cfg.calls_in_flight, mono_now());
    c->throttled = wd_aws_throttled(aws); /* a reload's new consumer may share the counters' past */
    struct wd_order_config oc = {
        .batch_max = c->cap,
        .max_tasks = (size_t)wd_limit_get(&c->limit),
        .read_ahead = (size_t)wd_limit_get(&c->limit) * READ_AHEAD_PER_TASK,
        .once = c->cfg.once,
        .hold_min_s = c->cfg.hold_min_s,
        .hold_max_s = c->cfg.hold_max_s,
    };
    c->aws = aws;
    c->emit = fn;
    c->ctx = ctx;
    /* The scheduler's tasks, and beside them the LIST of the next page. */
    c->max_workers = c->cfg.calls_in_flight + 1;
    c->done_cap = (size_t)c->cfg.list_page + (size_t)c->max_workers + 1;
    c->done = calloc(c->done_cap, sizeof(*c->done));
    c->finished = calloc(c->done_cap, sizeof(*c->finished));
    c->workers = calloc((size_t)c->max_workers, sizeof(*c->workers));
    c->idle = calloc((size_t)c->max_workers, sizeof(*c->idle));
    c->items = calloc(c->cap, sizeof(*c->items));
    if (c->done == NULL || c->finished == NULL || c->workers == NULL || c->idle == NULL || c->items == NULL) {
        wd_error_nomem(err);
        goto fail;
    }
    if ((c->order = wd_order_new(&oc, err)) == NULL)
        goto fail;
    if ((c->pool = wd_http_pool_new(c->max_workers, err)) == NULL)
        goto fail;
    return c;
fail:
    wd_consumer_free(c);
    return NULL;
}

void wd_consumer_free(struct wd_consumer *c)
{
    if (c == NULL)
        return;
    /* Calls in flight end within their timeouts; their results are dropped, the requests stay. */
    while (c->pool != NULL && wd_http_pool_busy(c->pool)) {
        struct wd_error err;
        wd_http_pool_wait(c->pool, 1000);
        if (wd_http_pool_run(c->pool, &err) < 0)
            break;
    }
    for (int i = 0; i < c->n_workers; i++) {
        wd_http_free(c->workers[i].http);
        wd_fiber_free(c->workers[i].fiber);
    }
    wd_http_pool_free(c->pool);
    if (c->items != NULL)
        clear_batch(c);
    free(c->items);
    wd_order_free(c->order);
    for (size_t i = 0; i < c->n_aside; i++)
        free(c->aside[i]);
    free(c->aside);
    free(c->workers);
    free(c->idle);
    free(c->done);
    free(c->finished);
    free(c);
}
