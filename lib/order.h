/* The ordering rules of SPEC 4-5 as a pure scheduler: what of a batch may run next, and what is held. */
#ifndef WD_ORDER_H
#define WD_ORDER_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/*
 * A batch is one poll's listed request keys, in key order; each becomes an item with an index. An item
 * is read (its widget becomes known), then applied or, when it is no valid request, set aside; each of
 * these is a task that the caller runs and whose outcome it reports. The scheduler knows nothing of
 * HTTP, threads or what a request holds: it decides which task may start, and keeps across polls the
 * "holds", failed requests waiting to be tried again. It has no clock: times are monotonic seconds
 * given by the caller. Not thread-safe: one thread at a time.
 */
struct wd_order;

struct wd_order_config {
    size_t batch_max;  /* items in a batch at most; more keys are refused, never stored */
    size_t max_tasks;  /* tasks in flight at most */
    size_t read_ahead; /* reads run at most this many items ahead of the first unfinished one */
    bool once;         /* a failed request stays held for the scheduler's whole life */
    double hold_min_s; /* otherwise: first wait before a failed request is tried again */
    double hold_max_s; /* longest wait; a hold expired for twice this long is forgotten */
};

/*
 * The batch_max that lets a batch take the next page of `page` keys as soon as fewer than max_tasks items
 * are left unread, however far (up to read_ahead) the reads ran past its oldest unfinished item: what
 * stays in the batch then is at most read_ahead + max_tasks - 1 items. Two pages at the least.
 */
size_t wd_order_batch_for(size_t page, size_t max_tasks, size_t read_ahead);

/* Copies cfg. Returns NULL with err when out of memory or when a count in cfg is 0. */
struct wd_order *wd_order_new(const struct wd_order_config *cfg, struct wd_error *err);
/* Accepts NULL. Forgets the holds too: a new scheduler (a reloaded service) starts without any. */
void wd_order_free(struct wd_order *o);

/* Changes max_tasks and read_ahead (each at least 1): tasks already running go on; no new one starts
 * beyond the new counts. */
void wd_order_set_limits(struct wd_order *o, size_t max_tasks, size_t read_ahead);

/* Starts a new batch (a poll) at time now: the previous one is forgotten, long-expired holds dropped. */
void wd_order_begin(struct wd_order *o, double now);
/* Forgets the batch, keeping the holds: the poll is over. */
void wd_order_end(struct wd_order *o);

enum wd_order_verdict {
    WD_ORDER_TAKEN, /* the key joined the batch as item *index */
    WD_ORDER_HELD,  /* it failed before and waits: leave it in the bucket this poll */
    WD_ORDER_ENDS,  /* nothing from this key on joins the batch: a read of it failed, or the batch is full */
};

/*
 * Offers the batch the next listed key (borrowed; copied), in key order, at time now; the batch is
 * listed before its first task is picked. Returns a verdict, or -1 with err when out of memory.
 */
int wd_order_offer(struct wd_order *o, const char *key, double now, size_t *index, struct wd_error *err);

/*
 * Drops the items at the batch's start that have their outcome, so that more keys can join a batch that
 * runs on: the items left move to the front, item i becoming item i - n. Returns n (0 once a read failed:
 * nothing more joins such a batch). The rules are kept: a request whose widget's previous one left failed
 * stays held back.
 */
size_t wd_order_compact(struct wd_order *o);
/* How many more keys the batch can take now: 0 once a read failed. */
size_t wd_order_room(const struct wd_order *o);
/* Items of the batch that may still be read and whose read has not started. */
size_t wd_order_unread(const struct wd_order *o);
/*
 * Whether the next page of `page` keys should be listed now: the batch has room for all of it, and fewer
 * items are left unread than the reads may run ahead, so that the page arrives before the reads run out
 * even when its LIST takes several times a call's wait (a server lists thousands of keys slower than it
 * answers a GET). Never later than wd_order_batch_for() promises: with fewer than max_tasks unread.
 */
bool wd_order_wants_page(const struct wd_order *o, size_t page);

enum wd_order_task {
    WD_ORDER_READ,        /* fetch and parse the request */
    WD_ORDER_APPLY,       /* apply it to the store, then delete it from the bucket */
    WD_ORDER_DEAD_LETTER, /* set it aside: it is no valid request */
};

/*
 * The next task that may start now, marked as started: applies and dead-letters ready to go first,
 * then reads. Returns true and fills *task and *index, or false when nothing may start until an
 * outcome is reported.
 */
bool wd_order_pick(struct wd_order *o, enum wd_order_task *task, size_t *index);

/*
 * Outcomes of the tasks handed out by wd_order_pick(). Each returns 0, or -1 with err: out of memory,
 * or WD_ERR_INTERNAL when item i has no task of that kind running (the call then changes nothing).
 */
/*
 * Read: a valid request of the widget named by identity (borrowed; copied). Out of memory, it counts
 * as unread: nothing after it goes ahead.
 */
int wd_order_read_ok(struct wd_order *o, size_t i, const char *identity, struct wd_error *err);
/* Read: not a valid request; it has no widget and is to be set aside. */
int wd_order_read_bad(struct wd_order *o, size_t i, struct wd_error *err);
/* Read: the request was gone (taken by someone else). */
int wd_order_read_gone(struct wd_order *o, size_t i, struct wd_error *err);
/* Applied and deleted, or set aside: the request left the bucket; a hold on its key ends. */
int wd_order_done(struct wd_order *o, size_t i, struct wd_error *err);
/*
 * A read, apply, delete or dead-letter failed at time now: the request stays in the bucket and is held.
 * What it holds back follows from what failed: an unread request every later request (its widget is
 * unknown), an applied one its widget's later requests, a bad one nothing.
 */
int wd_order_failed(struct wd_order *o, size_t i, double now, struct wd_error *err);

/* Failed requests held now (the expired ones that are kept for their back-off included). */
size_t wd_order_holds(const struct wd_order *o);

#endif
