/*
 * The scheduler of SPEC 4-5: a batch's items in key order with their states, the read frontier, and the
 * holds that outlive a poll.
 *
 * An item is read before its widget is known, so an item may be applied only when every earlier item has
 * been read ("the read frontier") and the previous item of the same widget is done. A read that fails
 * stops the frontier for the rest of the batch; an apply or delete that fails blocks the rest of that
 * widget's items. Failed items are "held" across polls so that the requests left in the bucket are
 * always a key-order suffix of each widget's.
 */
#include "order.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NO_ITEM SIZE_MAX

enum item_state {
    ST_NEW,     /* listed, not read yet */
    ST_READING, /* read task running */
    ST_READ,    /* valid request, widget known, waiting for its turn */
    ST_BAD,     /* not a valid request: to be dead-lettered */
    ST_RUNNING, /* apply (or dead-letter) task running */
    ST_DONE,    /* outcome reached, request deleted */
    ST_FAILED,  /* a task failed: kept in the bucket, held */
    ST_BLOCKED, /* not taken this poll: an earlier item it depends on failed */
    ST_GONE,    /* disappeared before it was read */
};

struct item {
    char *key;
    char *identity; /* its widget, once read; NULL for a request without one */
    enum item_state state;
    size_t prev; /* previous item of the same widget in this batch, or NO_ITEM */
    bool linked; /* its widget's chain goes through it (it passed the frontier, not held back) */
};

enum hold_scope { HOLD_ALL, HOLD_WIDGET, HOLD_NONE };

/* A request that failed and is waiting: which later requests it holds back, and until when. */
struct hold {
    char *key;
    char *identity; /* HOLD_WIDGET */
    enum hold_scope scope;
    double until; /* ignored in once mode */
    int failures;
};

struct wd_order {
    struct wd_order_config cfg;

    struct item *items; /* the batch, in key order; cfg.batch_max of them allocated */
    size_t n_items;
    size_t *widgets; /* open addressing, identity -> 1 + index of its latest item linked; 0 = free */
    size_t n_slots;  /* a power of two, more than twice batch_max: a probe always ends */
    double poll_start;
    size_t next_read;  /* next item to read */
    size_t frontier;   /* every item before it is read (or failed to be) */
    size_t first_open; /* first item without an outcome */
    size_t read_stop;  /* an item that could not be read: nothing from it on is applied */
    size_t scan;       /* where wd_order_pick() goes on looking for applies, until the next outcome */
    size_t running;    /* tasks in flight */

    struct hold *holds;
    size_t n_holds;
};

/* --- holds: failed requests waiting for a later poll ----------------------------------------------- */

static struct hold *find_hold(struct wd_order *o, const char *key)
{
    for (size_t i = 0; i < o->n_holds; i++)
        if (strcmp(o->holds[i].key, key) == 0)
            return &o->holds[i];
    return NULL;
}

static void drop_hold(struct wd_order *o, struct hold *h)
{
    free(h->key);
    free(h->identity);
    *h = o->holds[--o->n_holds];
}

static bool hold_active(const struct wd_order *o, const struct hold *h, double now)
{
    return o->cfg.once || now < h->until;
}

/* Records that item it failed; its scope says what it holds back. Returns -1 when out of memory. */
static int add_hold(struct wd_order *o, const struct item *it, enum hold_scope scope, double now)
{
    struct hold *h = find_hold(o, it->key);
    if (h == NULL) {
        struct hold *n = realloc(o->holds, (o->n_holds + 1) * sizeof(*n));
        if (n == NULL)
            return -1;
        o->holds = n;
        h = &o->holds[o->n_holds];
        *h = (struct hold){0};
        if ((h->key = strdup(it->key)) == NULL)
            return -1;
        o->n_holds++;
    }
    free(h->identity);
    h->identity = NULL;
    if (scope == HOLD_WIDGET && (h->identity = strdup(it->identity)) == NULL)
        scope = HOLD_ALL; /* out of memory: holding back everything is the safe side */
    h->scope = scope;
    h->failures++;
    double wait = o->cfg.hold_min_s;
    for (int i = 1; i < h->failures && wait < o->cfg.hold_max_s; i++)
        wait *= 2;
    if (wait > o->cfg.hold_max_s)
        wait = o->cfg.hold_max_s;
    h->until = now + wait;
    return 0;
}

static bool widget_held(const struct wd_order *o, const char *identity, double now)
{
    for (size_t i = 0; i < o->n_holds; i++) {
        const struct hold *h = &o->holds[i];
        if (h->scope == HOLD_WIDGET && hold_active(o, h, now) && strcmp(h->identity, identity) == 0)
            return true;
    }
    return false;
}

size_t wd_order_holds(const struct wd_order *o)
{
    return o->n_holds;
}

/* --- the batch ----------------------------------------------------------------------------------- */

/* Makes item i its widget's latest, linking it to the one before (FNV-1a, linear probing). */
static void link_widget(struct wd_order *o, size_t i)
{
    struct item *it = &o->items[i];
    it->linked = true;
    uint64_t h = 14695981039346656037u;
    for (const unsigned char *p = (const unsigned char *)it->identity; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    size_t mask = o->n_slots - 1;
    for (size_t s = (size_t)h & mask;; s = (s + 1) & mask) {
        if (o->widgets[s] == 0) {
            o->widgets[s] = i + 1;
            return;
        }
        if (strcmp(o->items[o->widgets[s] - 1].identity, it->identity) == 0) {
            it->prev = o->widgets[s] - 1;
            o->widgets[s] = i + 1;
            return;
        }
    }
}

static size_t read_limit(const struct wd_order *o)
{
    return o->read_stop < o->n_items ? o->read_stop : o->n_items;
}

/* Moves the read frontier over newly read items, linking each to the previous item of its widget. */
static void advance(struct wd_order *o)
{
    size_t stop = read_limit(o);
    while (o->frontier < stop && o->items[o->frontier].state != ST_NEW &&
           o->items[o->frontier].state != ST_READING) {
        struct item *it = &o->items[o->frontier];
        if (it->state == ST_READ) {
            /* A widget whose earlier request is held waits behind it, in this poll too. */
            if (widget_held(o, it->identity, o->poll_start))
                it->state = ST_BLOCKED;
            else
                link_widget(o, o->frontier);
        }
        o->frontier++;
    }
    while (o->first_open < o->n_items) {
        enum item_state st = o->items[o->first_open].state;
        if (st != ST_DONE && st != ST_GONE && st != ST_FAILED && st != ST_BLOCKED)
            break;
        o->first_open++;
    }
    o->scan = o->first_open;
}

static void clear_batch(struct wd_order *o)
{
    for (size_t i = 0; i < o->n_items; i++) {
        free(o->items[i].key);
        free(o->items[i].identity);
    }
    o->n_items = 0;
}

void wd_order_begin(struct wd_order *o, double now)
{
    clear_batch(o);
    o->poll_start = now;
    if (!o->cfg.once) {
        /*
         * An expired hold lets its request be tried again but is kept, so repeated failures back off
         * further; one long expired belongs to a request that has gone (taken by another consumer).
         */
        for (size_t i = 0; i < o->n_holds;)
            if (now > o->holds[i].until + 2 * o->cfg.hold_max_s)
                drop_hold(o, &o->holds[i]);
            else
                i++;
    }
    memset(o->widgets, 0, o->n_slots * sizeof(*o->widgets));
    o->next_read = o->frontier = o->first_open = o->scan = o->running = 0;
    o->read_stop = NO_ITEM;
}

void wd_order_end(struct wd_order *o)
{
    clear_batch(o);
}

int wd_order_offer(struct wd_order *o, const char *key, double now, size_t *index, struct wd_error *err)
{
    /* The batch never grows past what was allocated, whatever a listing holds. */
    if (o->n_items == o->cfg.batch_max)
        return WD_ORDER_ENDS;
    struct hold *h = find_hold(o, key);
    if (h != NULL && hold_active(o, h, now))
        /* A held request whose widget is unknown: nothing after it may be applied before it. */
        return h->scope == HOLD_ALL ? WD_ORDER_ENDS : WD_ORDER_HELD;
    struct item *it = &o->items[o->n_items];
    if ((it->key = strdup(key)) == NULL)
        return wd_error_nomem(err);
    it->identity = NULL;
    it->state = ST_NEW;
    it->prev = NO_ITEM;
    it->linked = false;
    *index = o->n_items++;
    return WD_ORDER_TAKEN;
}

size_t wd_order_compact(struct wd_order *o)
{
    size_t cut = o->first_open;
    /* After a failed read nothing more joins the batch: no room is needed, and read_stop may be in the cut.
     */
    if (cut == 0 || o->read_stop != NO_ITEM)
        return 0;
    for (size_t i = cut; i < o->n_items; i++) {
        struct item *it = &o->items[i];
        if (it->prev == NO_ITEM)
            continue;
        if (it->prev >= cut) {
            it->prev -= cut;
            continue;
        }
        /* Its widget's previous request leaves the batch: done, it is no longer waited for; failed or held
         * back, this one is held back now, as wd_order_pick() would have found. */
        enum item_state ps = o->items[it->prev].state;
        if (it->state == ST_READ && (ps == ST_FAILED || ps == ST_BLOCKED))
            it->state = ST_BLOCKED;
        it->prev = NO_ITEM;
    }
    for (size_t i = 0; i < cut; i++) {
        free(o->items[i].key);
        free(o->items[i].identity);
    }
    memmove(o->items, o->items + cut, (o->n_items - cut) * sizeof(*o->items));
    o->n_items -= cut;
    o->next_read -= cut;
    o->frontier -= cut;
    o->first_open -= cut;
    o->scan -= cut;
    /*
     * The widget chains again, over the items left. A widget whose latest item left needs no entry: done,
     * its next request has no predecessor; failed (or behind a failure), a hold of its widget holds its
     * next request back at the frontier.
     */
    memset(o->widgets, 0, o->n_slots * sizeof(*o->widgets));
    for (size_t i = 0; i < o->frontier; i++) {
        if (!o->items[i].linked)
            continue;
        size_t prev = o->items[i].prev;
        link_widget(o, i);
        o->items[i].prev = prev; /* link_widget() may find an item of the widget whose link left */
    }
    return cut;
}

size_t wd_order_batch_for(size_t page, size_t max_tasks, size_t read_ahead)
{
    /*
     * Two pages alone were too few at 512 calls in flight with 100 ms each way: the items between the
     * oldest unfinished one and the reads filled half the batch, the next page waited for them, and the
     * calls in flight drained to nothing at every page's end.
     */
    size_t behind = max_tasks + read_ahead;
    return page + (behind > page ? behind : page);
}

size_t wd_order_room(const struct wd_order *o)
{
    if (o->read_stop != NO_ITEM)
        return 0;
    return o->cfg.batch_max - o->n_items;
}

void wd_order_set_limits(struct wd_order *o, size_t max_tasks, size_t read_ahead)
{
    o->cfg.max_tasks = max_tasks > 0 ? max_tasks : 1;
    o->cfg.read_ahead = read_ahead > 0 ? read_ahead : 1;
}

size_t wd_order_unread(const struct wd_order *o)
{
    size_t limit = read_limit(o);
    return limit > o->next_read ? limit - o->next_read : 0; /* reads ran past a read that then failed */
}

bool wd_order_wants_page(const struct wd_order *o, size_t page)
{
    return wd_order_room(o) >= page && wd_order_unread(o) < o->cfg.read_ahead;
}

bool wd_order_pick(struct wd_order *o, enum wd_order_task *task, size_t *index)
{
    if (o->running >= o->cfg.max_tasks)
        return false;
    for (; o->scan < o->frontier; o->scan++) {
        struct item *it = &o->items[o->scan];
        if (it->state == ST_BAD) {
            *task = WD_ORDER_DEAD_LETTER;
        } else if (it->state == ST_READ) {
            enum item_state ps = it->prev == NO_ITEM ? ST_DONE : o->items[it->prev].state;
            if (ps == ST_FAILED || ps == ST_BLOCKED)
                it->state = ST_BLOCKED;
            if (ps != ST_DONE)
                continue;
            *task = WD_ORDER_APPLY;
        } else {
            continue;
        }
        it->state = ST_RUNNING;
        o->running++;
        *index = o->scan++;
        return true;
    }
    /* Reads run at most read_ahead items ahead of the first unfinished one, which bounds memory. */
    if (o->next_read < read_limit(o) && o->next_read - o->first_open < o->cfg.read_ahead) {
        o->items[o->next_read].state = ST_READING;
        o->running++;
        *task = WD_ORDER_READ;
        *index = o->next_read++;
        return true;
    }
    return false;
}

/* --- outcomes ------------------------------------------------------------------------------------ */

/* Item i if it is in the batch and in one of the states given, else NULL with err. */
static struct item *running_item(struct wd_order *o, size_t i, enum item_state state,
                                 enum item_state or_state, struct wd_error *err)
{
    if (i >= o->n_items || (o->items[i].state != state && o->items[i].state != or_state)) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "scheduler: item %zu has no such task running", i);
        return NULL;
    }
    return &o->items[i];
}

/* The task of item it is over, and left it in state. */
static void settle(struct wd_order *o, struct item *it, enum item_state state)
{
    it->state = state;
    o->running--;
    advance(o);
}

int wd_order_read_ok(struct wd_order *o, size_t i, const char *identity, struct wd_error *err)
{
    struct item *it = running_item(o, i, ST_READING, ST_READING, err);
    if (it == NULL)
        return -1;
    if ((it->identity = strdup(identity)) == NULL) {
        /* Unknown widget, as after a failed read: nothing after it may go ahead. */
        o->read_stop = i < o->read_stop ? i : o->read_stop;
        settle(o, it, ST_FAILED);
        return wd_error_nomem(err);
    }
    settle(o, it, ST_READ);
    return 0;
}

int wd_order_read_bad(struct wd_order *o, size_t i, struct wd_error *err)
{
    struct item *it = running_item(o, i, ST_READING, ST_READING, err);
    if (it == NULL)
        return -1;
    settle(o, it, ST_BAD);
    return 0;
}

int wd_order_read_gone(struct wd_order *o, size_t i, struct wd_error *err)
{
    struct item *it = running_item(o, i, ST_READING, ST_READING, err);
    if (it == NULL)
        return -1;
    settle(o, it, ST_GONE);
    return 0;
}

int wd_order_done(struct wd_order *o, size_t i, struct wd_error *err)
{
    struct item *it = running_item(o, i, ST_RUNNING, ST_RUNNING, err);
    if (it == NULL)
        return -1;
    struct hold *h = find_hold(o, it->key);
    if (h != NULL)
        drop_hold(o, h);
    settle(o, it, ST_DONE);
    return 0;
}

int wd_order_failed(struct wd_order *o, size_t i, double now, struct wd_error *err)
{
    struct item *it = running_item(o, i, ST_READING, ST_RUNNING, err);
    if (it == NULL)
        return -1;
    /*
     * What a failed request holds back: every later request when it could not be read (its widget is
     * unknown); its widget's later requests when the widget is known; nothing when it is a bad request.
     */
    enum hold_scope scope = HOLD_NONE;
    if (it->state == ST_READING) {
        scope = HOLD_ALL;
        o->read_stop = i < o->read_stop ? i : o->read_stop;
    } else if (it->identity != NULL) {
        scope = HOLD_WIDGET;
    }
    int rc = add_hold(o, it, scope, now);
    settle(o, it, ST_FAILED);
    return rc < 0 ? wd_error_nomem(err) : 0;
}

/* --- life cycle ---------------------------------------------------------------------------------- */

struct wd_order *wd_order_new(const struct wd_order_config *cfg, struct wd_error *err)
{
    if (cfg->batch_max == 0 || cfg->max_tasks == 0 || cfg->read_ahead == 0 ||
        cfg->batch_max > SIZE_MAX / 4 / sizeof(struct item)) {
        wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "scheduler: a batch of %zu, %zu tasks, %zu reads ahead",
                     cfg->batch_max, cfg->max_tasks, cfg->read_ahead);
        return NULL;
    }
    struct wd_order *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        wd_error_nomem(err);
        return NULL;
    }
    o->cfg = *cfg;
    for (o->n_slots = 1; o->n_slots <= 2 * cfg->batch_max;)
        o->n_slots *= 2;
    o->items = calloc(cfg->batch_max, sizeof(*o->items));
    o->widgets = calloc(o->n_slots, sizeof(*o->widgets));
    if (o->items == NULL || o->widgets == NULL) {
        wd_error_nomem(err);
        wd_order_free(o);
        return NULL;
    }
    o->read_stop = NO_ITEM;
    return o;
}

void wd_order_free(struct wd_order *o)
{
    if (o == NULL)
        return;
    if (o->items != NULL)
        clear_batch(o);
    while (o->n_holds > 0)
        drop_hold(o, &o->holds[o->n_holds - 1]);
    free(o->holds);
    free(o->items);
    free(o->widgets);
    free(o);
}
