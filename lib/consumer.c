/*
 * The request pipeline: a scheduler on the caller's thread and a pool of workers, each with its own HTTP
 * client. The scheduler owns all state; workers only run one task on one batch item and report back.
 *
 * Ordering (SPEC 4-5): items of a batch are in key order. An item is read (GET + parse) before its widget
 * is known, so an item may be applied only when every earlier item has been read ("the read frontier")
 * and the previous item of the same widget is done. A read that fails stops the frontier for the rest of
 * the batch; an apply or delete that fails blocks the rest of that widget's items. Failed items are "held"
 * across polls so that the requests left in the bucket are always a key-order suffix of each widget's.
 */
#include "consumer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "s3_xml.h"

#define NO_ITEM SIZE_MAX
#define LIST_TASK (SIZE_MAX - 1)
#define MAX_REASON 1024

enum item_state {
    ST_NEW,     /* listed, not read yet */
    ST_READING, /* GET + parse running */
    ST_READ,    /* valid request, widget known, waiting for its turn */
    ST_BAD,     /* not a valid request: to be dead-lettered */
    ST_RUNNING, /* apply + delete (or dead-letter) running */
    ST_DONE,    /* outcome reached, request deleted */
    ST_FAILED,  /* a call failed: kept in the bucket, held */
    ST_BLOCKED, /* not taken this poll: an earlier item it depends on failed */
    ST_GONE,    /* disappeared before it was read */
};

enum task_kind { TASK_LIST, TASK_READ, TASK_APPLY, TASK_DEAD_LETTER };

struct item {
    char *key;
    enum item_state state;   /* the scheduler's view; only the scheduler writes it */
    enum item_state outcome; /* written by the worker; becomes state when the scheduler takes the result */
    struct wd_buf body;      /* a bad request's whole body, to set it aside with one PUT */
    struct wd_request *req;
    char *identity;
    size_t prev; /* previous item of the same widget in this batch, or NO_ITEM */
    /* Results, written by the worker that ran the item's task. */
    struct wd_error err;
    struct wd_apply_result applied; /* what the store did besides storing the effect */
    bool bad;                       /* not a valid request (SPEC 2) */
    bool dead_lettered;             /* set aside: a bad request, or one the store rejects for good */
    bool vanished;
};

enum hold_scope { HOLD_ALL, HOLD_WIDGET, HOLD_NONE };

/* A request that failed and is waiting: which later requests it holds back, and until when. */
struct hold {
    char *key;
    char *identity; /* HOLD_WIDGET */
    enum hold_scope scope;
    double until; /* monotonic seconds; ignored in once mode */
    int failures;
};

struct task {
    enum task_kind kind;
    size_t index;
};

struct wd_consumer {
    struct wd_consumer_config cfg;
    struct wd_aws *aws;
    wd_event_fn emit;
    void *ctx;

    pthread_t *threads;
    int n_threads;

    pthread_mutex_t lock;
    pthread_cond_t work_cv;
    struct task *queue; /* pending tasks, FIFO */
    size_t q_head, q_len, q_cap;
    size_t *done;     /* indexes of finished tasks */
    size_t *finished; /* the scheduler's copy of done, taken under the lock */
    size_t done_len, done_cap;
    bool quit;

    int efd;               /* eventfd: readable when tasks finished */
    atomic_ulong progress; /* tasks finished, for the watchdog */

    /* The poll in progress; touched only by the scheduler (and by the LIST task while it runs alone). */
    bool polling, stopping, nomem;
    double poll_start;
    struct wd_poll_stats stats;
    struct wd_error list_err;
    int list_rc;
    struct item *items; /* the current batch, in key order */
    size_t n_items;
    struct hsearch_data widgets; /* widget identity -> 1 + index of its latest item */
    bool have_table;
    size_t next_read;  /* next item to read */
    size_t frontier;   /* every item before it is read (or failed to be) */
    size_t first_open; /* first item without an outcome */
    size_t read_stop;  /* an item that could not be read: nothing from it on is applied */
    size_t inflight;

    struct hold *holds;
    size_t n_holds;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *dl_bucket(const struct wd_consumer *c)
{
    const char *b = c->cfg.dead_letter_bucket;
    return b && *b ? b : c->cfg.requests_bucket;
}

/* --- the worker side --------------------------------------------------------------------------- */

static void run_read(struct wd_consumer *c, struct wd_http *http, struct item *it)
{
    struct wd_buf body = {0}, ident = {0};
    /* One byte over the limit is enough to know a request is too large, without reading all of it. */
    if (wd_s3_get(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, it->key, WD_REQUEST_MAX_BYTES + 1, &body,
                  &it->err) < 0) {
        if (it->err.cls == WD_ERR_NOT_FOUND) {
            it->vanished = true;
            it->outcome = ST_GONE;
        } else if (strcmp(it->err.code, "ResponseTooLarge") == 0) {
            wd_error_set(&it->err, WD_ERR_BAD_INPUT, 0, NULL, "request is larger than %d bytes",
                         WD_REQUEST_MAX_BYTES);
            it->outcome = ST_BAD;
            it->bad = true;
        } else {
            it->outcome = ST_FAILED;
        }
        goto out;
    }
    if (wd_request_parse(body.data ? body.data : "", body.len, &it->req, &it->err) < 0) {
        it->bad = it->err.cls == WD_ERR_BAD_INPUT;
        it->outcome = it->bad ? ST_BAD : ST_FAILED;
        if (it->bad) {
            it->body = body; /* kept to write the dead letter */
            body = (struct wd_buf){0};
        }
        goto out;
    }
    if (c->cfg.store.ops->identity(it->req, &ident) < 0 || (it->identity = wd_buf_steal(&ident)) == NULL) {
        wd_error_nomem(&it->err);
        it->outcome = ST_FAILED;
        goto out;
    }
    it->outcome = ST_READ;
out:
    wd_buf_free(&body);
    wd_buf_free(&ident);
}

/*
 * Sets the request aside in the dead-letter location with the reason, then deletes it from the intake.
 * A bad request whose body was read whole is written with one PUT of those bytes; otherwise (too large
 * to read, or rejected by the store after parsing) it is copied server-side.
 */
static int dead_letter(struct wd_consumer *c, struct wd_http *http, struct item *it,
                       const struct wd_error *why, struct wd_error *err)
{
    struct wd_buf reason = {0}, dst = {0};
    int rc = -1;
    if (wd_escape(&reason, WD_ESCAPE_METADATA, why->message, strlen(why->message), MAX_REASON) < 0 ||
        wd_buf_printf(&dst, "%s%s", c->cfg.dead_letter_prefix, it->key) < 0) {
        wd_error_nomem(err);
        goto out;
    }
    struct wd_header meta[] = {{"widgetd-error", reason.data}};
    if (it->body.data != NULL) {
        if (wd_s3_put(c->aws, http, c->cfg.s3, dl_bucket(c), dst.data, it->body.data, it->body.len,
                      "application/json", meta, 1, err) < 0)
            goto out;
    } else if (wd_s3_copy(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, it->key, dl_bucket(c), dst.data,
                          meta, 1, err) < 0) {
        goto out;
    }
    rc = wd_s3_delete(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, it->key, err);
out:
    wd_buf_free(&reason);
    wd_buf_free(&dst);
    return rc;
}

/* Sets the item aside with the reason in it->err; the item ends DONE (dead-lettered) or FAILED. */
static void run_dead_letter(struct wd_consumer *c, struct wd_http *http, struct item *it)
{
    struct wd_error why = it->err;
    if (dead_letter(c, http, it, &why, &it->err) < 0) {
        it->outcome = ST_FAILED;
        return;
    }
    it->err = why;
    it->dead_lettered = true;
    it->outcome = ST_DONE;
}

static void run_apply(struct wd_consumer *c, struct wd_http *http, struct item *it)
{
    const struct wd_store *store = &c->cfg.store;
    if (store->ops->apply(store, c->aws, http, it->req, &it->applied, &it->err) < 0) {
        if (!store->ops->rejects_content(&it->err)) {
            it->outcome = ST_FAILED;
            return;
        }
        /* The store refuses this request's content for good (e.g. an item over 400 KB): set it aside. */
        run_dead_letter(c, http, it);
        return;
    }
    /* Only now, with the effect durable in the store, may the request leave the bucket (SPEC 5). */
    if (wd_s3_delete(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, it->key, &it->err) < 0) {
        it->outcome = ST_FAILED;
        return;
    }
    it->outcome = ST_DONE;
}

static int list_batch(struct wd_consumer *c, struct wd_http *http, struct wd_poll_stats *stats,
                      struct wd_error *err);

static void *worker_main(void *arg)
{
    struct wd_consumer *c = arg;
    struct wd_error err;
    struct wd_http *http = wd_http_new(&c->cfg.http, &err);

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (c->q_len == 0 && !c->quit)
            pthread_cond_wait(&c->work_cv, &c->lock);
        if (c->q_len == 0 && c->quit)
            break;
        struct task t = c->queue[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        pthread_mutex_unlock(&c->lock);

        struct item *it = t.kind == TASK_LIST ? NULL : &c->items[t.index];
        if (t.kind == TASK_LIST) {
            c->list_rc = list_batch(c, http, &c->stats, &c->list_err);
        } else if (http == NULL) {
            it->err = err;
            it->outcome = ST_FAILED;
        } else if (t.kind == TASK_READ) {
            run_read(c, http, it);
        } else if (t.kind == TASK_APPLY) {
            run_apply(c, http, it);
        } else {
            run_dead_letter(c, http, it);
        }

        pthread_mutex_lock(&c->lock);
        c->done[c->done_len++] = t.index;
        atomic_fetch_add(&c->progress, 1);
        pthread_mutex_unlock(&c->lock);
        /* Wake the scheduler in the event loop. */
        uint64_t one = 1;
        ssize_t w = write(c->efd, &one, sizeof(one));
        (void)w; /* an eventfd counter cannot overflow here; EAGAIN still leaves it readable */
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    wd_http_free(http);
    return NULL;
}

/* --- holds: failed requests waiting for a later poll ----------------------------------------------- */

static struct hold *find_hold(struct wd_consumer *c, const char *key)
{
    for (size_t i = 0; i < c->n_holds; i++)
        if (strcmp(c->holds[i].key, key) == 0)
            return &c->holds[i];
    return NULL;
}

static void drop_hold(struct wd_consumer *c, struct hold *h)
{
    free(h->key);
    free(h->identity);
    *h = c->holds[--c->n_holds];
}

static bool hold_active(const struct wd_consumer *c, const struct hold *h, double now)
{
    return c->cfg.once || now < h->until;
}

/* Records that item it failed; its scope says what it holds back. Returns -1 when out of memory. */
static int add_hold(struct wd_consumer *c, const struct item *it, enum hold_scope scope)
{
    struct hold *h = find_hold(c, it->key);
    if (h == NULL) {
        struct hold *n = realloc(c->holds, (c->n_holds + 1) * sizeof(*n));
        if (n == NULL)
            return -1;
        c->holds = n;
        h = &c->holds[c->n_holds];
        *h = (struct hold){0};
        if ((h->key = strdup(it->key)) == NULL)
            return -1;
        c->n_holds++;
    }
    free(h->identity);
    h->identity = NULL;
    if (scope == HOLD_WIDGET && (h->identity = strdup(it->identity)) == NULL)
        scope = HOLD_ALL; /* out of memory: holding back everything is the safe side */
    h->scope = scope;
    h->failures++;
    double wait = c->cfg.hold_min_s;
    for (int i = 1; i < h->failures && wait < c->cfg.hold_max_s; i++)
        wait *= 2;
    if (wait > c->cfg.hold_max_s)
        wait = c->cfg.hold_max_s;
    h->until = now_s() + wait;
    return 0;
}

/* --- the scheduler ------------------------------------------------------------------------------- */

static void clear_batch(struct wd_consumer *c)
{
    for (size_t i = 0; i < c->n_items; i++) {
        free(c->items[i].key);
        free(c->items[i].identity);
        wd_buf_free(&c->items[i].body);
        wd_request_free(c->items[i].req);
    }
    free(c->items);
    c->items = NULL;
    c->n_items = 0;
}

static void push_task(struct wd_consumer *c, enum task_kind kind, size_t index)
{
    c->inflight++;
    pthread_mutex_lock(&c->lock);
    c->queue[(c->q_head + c->q_len) % c->q_cap] = (struct task){kind, index};
    c->q_len++;
    pthread_cond_signal(&c->work_cv);
    pthread_mutex_unlock(&c->lock);
}

static bool is_dead_letter_key(const struct wd_consumer *c, const char *key)
{
    const char *p = c->cfg.dead_letter_prefix;
    return strcmp(dl_bucket(c), c->cfg.requests_bucket) == 0 && p && *p && strncmp(key, p, strlen(p)) == 0;
}

/*
 * Lists up to one page of request keys into a new batch, leaving out dead-letter keys and keys that are
 * held. A held key whose widget is unknown ends the batch: nothing after it may be applied before it.
 */
static int list_batch(struct wd_consumer *c, struct wd_http *http, struct wd_poll_stats *stats,
                      struct wd_error *err)
{
    struct wd_s3_list page = {0};
    char *token = NULL;
    char *start_after = NULL;
    bool stop = false;
    double now = now_s();
    int rc = -1;

    c->items = calloc((size_t)c->cfg.list_page, sizeof(*c->items));
    if (c->items == NULL)
        return wd_error_nomem(err);

    /* Page on only while the pages hold nothing to take (dead-letter or held keys), a few pages at most. */
    for (int pages = 0; pages < 8 && !stop && c->n_items == 0; pages++) {
        struct wd_error lerr;
        wd_s3_list_clear(&page);
        if (wd_s3_list(c->aws, http, c->cfg.s3, c->cfg.requests_bucket, c->cfg.requests_prefix, start_after,
                       token, c->cfg.list_page, &page, &lerr) < 0) {
            stats->list_failed = true;
            c->list_err = lerr;
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
            stats->listed++;
            struct hold *h = find_hold(c, key);
            if (h != NULL && hold_active(c, h, now)) {
                if (h->scope == HOLD_ALL)
                    stop = true;
                continue;
            }
            struct item *it = &c->items[c->n_items];
            if ((it->key = strdup(key)) == NULL)
                goto nomem;
            it->state = ST_NEW;
            it->prev = NO_ITEM;
            c->n_items++;
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

static bool widget_held(const struct wd_consumer *c, const char *identity, double now)
{
    for (size_t i = 0; i < c->n_holds; i++) {
        const struct hold *h = &c->holds[i];
        if (h->scope == HOLD_WIDGET && hold_active(c, h, now) && strcmp(h->identity, identity) == 0)
            return true;
    }
    return false;
}

/* Emits the outcome of a finished item and updates holds. Returns -1 when out of memory. */
static int finish_item(struct wd_consumer *c, struct item *it, struct wd_poll_stats *stats)
{
    struct wd_event ev = {.key = it->key, .req = it->req, .err = &it->err};
    struct wd_buf where = {0};
    int rc = 0;
    struct hold *h;

    switch (it->state) {
    case ST_DONE:
        if ((h = find_hold(c, it->key)) != NULL)
            drop_hold(c, h);
        stats->taken++;
        if (it->dead_lettered) {
            if (wd_buf_printf(
                    &where, "%s%s%s", strcmp(dl_bucket(c), c->cfg.requests_bucket) ? dl_bucket(c) : "",
                    strcmp(dl_bucket(c), c->cfg.requests_bucket) ? ":" : "", c->cfg.dead_letter_prefix) < 0 ||
                wd_buf_append_str(&where, it->key) < 0)
                return -1;
            ev.kind = WD_EV_DEAD_LETTERED;
            ev.detail = where.data;
            c->emit(&ev, c->ctx);
            break;
        }
        ev.kind = it->applied.not_found ? WD_EV_NOT_FOUND : WD_EV_APPLIED;
        c->emit(&ev, c->ctx);
        ev.kind = WD_EV_IGNORED_ATTR;
        for (size_t i = 0; i < it->applied.n_ignored; i++) {
            ev.detail = it->applied.ignored[i];
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
        /*
         * What a failed request holds back: its widget's later requests when the widget is known; every
         * later request when it could not be read; nothing when it is a bad request (it has no widget).
         */
        if (it->identity != NULL)
            rc = add_hold(c, it, HOLD_WIDGET);
        else
            rc = add_hold(c, it, it->bad ? HOLD_NONE : HOLD_ALL);
        break;
    default:
        break;
    }
    wd_buf_free(&where);
    return rc;
}

/* Starts reads, applies and dead-letters that may go now: ready applies first, then reads. */
static void dispatch(struct wd_consumer *c)
{
    size_t workers = (size_t)c->cfg.workers;
    if (c->stopping || c->nomem)
        return; /* stop taking new work; what runs finishes */
    for (size_t i = c->first_open; i < c->frontier && c->inflight < workers; i++) {
        struct item *it = &c->items[i];
        if (it->state == ST_BAD) {
            it->state = ST_RUNNING;
            push_task(c, TASK_DEAD_LETTER, i);
        } else if (it->state == ST_READ) {
            enum item_state ps = it->prev == NO_ITEM ? ST_DONE : c->items[it->prev].state;
            if (ps == ST_FAILED || ps == ST_BLOCKED)
                it->state = ST_BLOCKED;
            if (ps != ST_DONE)
                continue;
            it->state = ST_RUNNING;
            push_task(c, TASK_APPLY, i);
        }
    }
    /* Reads run at most `window` items ahead of the first unfinished one, which bounds memory. */
    size_t window = workers * 4;
    while (c->inflight < workers && c->next_read < c->read_stop && c->next_read < c->first_open + window) {
        c->items[c->next_read].state = ST_READING;
        push_task(c, TASK_READ, c->next_read++);
    }
}

/* Moves the read frontier over newly read items, linking each to the previous item of its widget. */
static void advance(struct wd_consumer *c)
{
    while (c->frontier < c->read_stop && c->items[c->frontier].state != ST_NEW &&
           c->items[c->frontier].state != ST_READING) {
        struct item *it = &c->items[c->frontier];
        if (it->identity != NULL && it->state == ST_READ) {
            if (widget_held(c, it->identity, c->poll_start)) {
                it->state = ST_BLOCKED;
            } else {
                ENTRY e = {.key = it->identity, .data = NULL}, *found = NULL;
                if (hsearch_r(e, ENTER, &found, &c->widgets) == 0) {
                    c->nomem = true;
                    return;
                }
                if (found->data != NULL)
                    it->prev = (size_t)((uintptr_t)found->data - 1);
                found->data = (void *)(uintptr_t)(c->frontier + 1);
            }
        }
        c->frontier++;
    }
    while (c->first_open < c->n_items) {
        enum item_state st = c->items[c->first_open].state;
        if (st != ST_DONE && st != ST_GONE && st != ST_FAILED && st != ST_BLOCKED)
            break;
        c->first_open++;
    }
}

/* The LIST task finished: start on the batch it found. */
static void on_listed(struct wd_consumer *c)
{
    if (c->stats.list_failed)
        c->emit(&(struct wd_event){.kind = WD_EV_LIST_FAILED, .err = &c->list_err}, c->ctx);
    if (c->list_rc < 0) {
        c->nomem = true;
        return;
    }
    c->read_stop = c->n_items;
    if (c->n_items == 0 || c->stopping)
        return;
    memset(&c->widgets, 0, sizeof(c->widgets));
    if (hcreate_r(c->n_items * 2, &c->widgets) == 0) {
        c->nomem = true;
        return;
    }
    c->have_table = true;
}

static void on_finished(struct wd_consumer *c, size_t i)
{
    struct item *it = &c->items[i];
    if (it->state == ST_READ || it->state == ST_BAD)
        return; /* a read finished; advance() takes it from here */
    if (it->state == ST_FAILED && it->identity == NULL && !it->bad && i < c->read_stop)
        c->read_stop = i; /* unread: its widget is unknown, so nothing after it may go ahead */
    if (finish_item(c, it, &c->stats) < 0)
        c->nomem = true;
}

int wd_consumer_start(struct wd_consumer *c, struct wd_error *err)
{
    if (c->polling)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "a poll is already running");
    c->stats = (struct wd_poll_stats){0};
    c->poll_start = now_s();
    if (!c->cfg.once) {
        /*
         * An expired hold lets its request be tried again but is kept, so repeated failures back off
         * further; one long expired belongs to a request that has gone (taken by another consumer).
         */
        for (size_t i = 0; i < c->n_holds;)
            if (c->poll_start > c->holds[i].until + 2 * c->cfg.hold_max_s)
                drop_hold(c, &c->holds[i]);
            else
                i++;
    }
    c->polling = true;
    c->next_read = c->frontier = c->first_open = 0;
    c->read_stop = 0;
    c->list_rc = 0;
    push_task(c, TASK_LIST, LIST_TASK);
    return 0;
}

int wd_consumer_process(struct wd_consumer *c, bool *finished, struct wd_poll_stats *stats,
                        struct wd_error *err)
{
    uint64_t count;
    ssize_t r = read(c->efd, &count, sizeof(count));
    (void)r; /* EAGAIN: nothing new; the done queue below is the truth */
    *finished = false;

    pthread_mutex_lock(&c->lock);
    size_t n_done = c->done_len;
    memcpy(c->finished, c->done, n_done * sizeof(*c->finished));
    c->done_len = 0;
    pthread_mutex_unlock(&c->lock);

    for (size_t d = 0; d < n_done; d++) {
        c->inflight--;
        if (c->finished[d] == LIST_TASK) {
            on_listed(c);
            continue;
        }
        /* The lock handed the worker's writes over; only now does the scheduler see the outcome. */
        c->items[c->finished[d]].state = c->items[c->finished[d]].outcome;
        on_finished(c, c->finished[d]);
    }
    if (!c->polling)
        return 0;
    if (!c->nomem)
        advance(c);
    dispatch(c);
    if (c->inflight > 0)
        return 0;

    /* Nothing runs and nothing more may start: the poll is over. */
    c->stats.held = c->n_holds;
    *stats = c->stats;
    *finished = true;
    c->polling = false;
    if (c->have_table)
        hdestroy_r(&c->widgets);
    c->have_table = false;
    clear_batch(c);
    if (c->nomem) {
        c->nomem = false;
        return wd_error_nomem(err);
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
    return c->efd;
}

unsigned long wd_consumer_progress(const struct wd_consumer *c)
{
    return atomic_load(&c->progress);
}

int wd_consumer_poll(struct wd_consumer *c, struct wd_poll_stats *stats, struct wd_error *err)
{
    bool finished = false;
    if (wd_consumer_start(c, err) < 0)
        return -1;
    while (!finished) {
        struct pollfd pfd = {.fd = c->efd, .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "poll: %s", strerror(errno));
        if (wd_consumer_process(c, &finished, stats, err) < 0)
            return -1;
    }
    return 0;
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
    if (c->cfg.workers < 1)
        c->cfg.workers = 1;
    if (c->cfg.list_page < 1 || c->cfg.list_page > 1000)
        c->cfg.list_page = 1000;
    c->efd = -1;
    c->aws = aws;
    c->emit = fn;
    c->ctx = ctx;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->work_cv, NULL);
    c->q_cap = (size_t)c->cfg.list_page + (size_t)c->cfg.workers;
    c->done_cap = c->q_cap;
    c->queue = calloc(c->q_cap, sizeof(*c->queue));
    c->done = calloc(c->done_cap, sizeof(*c->done));
    c->finished = calloc(c->done_cap, sizeof(*c->finished));
    c->threads = calloc((size_t)c->cfg.workers, sizeof(*c->threads));
    if (c->queue == NULL || c->done == NULL || c->finished == NULL || c->threads == NULL) {
        wd_error_nomem(err);
        goto fail;
    }
    if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "eventfd: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < c->cfg.workers; i++) {
        if (pthread_create(&c->threads[i], NULL, worker_main, c) != 0) {
            wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "cannot start worker thread %d", i);
            goto fail;
        }
        c->n_threads++;
    }
    return c;
fail:
    wd_consumer_free(c);
    return NULL;
}

void wd_consumer_free(struct wd_consumer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    c->quit = true;
    pthread_cond_broadcast(&c->work_cv);
    pthread_mutex_unlock(&c->lock);
    for (int i = 0; i < c->n_threads; i++)
        pthread_join(c->threads[i], NULL);
    if (c->efd >= 0)
        close(c->efd);
    if (c->have_table)
        hdestroy_r(&c->widgets);
    clear_batch(c);
    while (c->n_holds > 0)
        drop_hold(c, &c->holds[c->n_holds - 1]);
    free(c->holds);
    free(c->threads);
    free(c->queue);
    free(c->done);
    free(c->finished);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->work_cv);
    free(c);
}
