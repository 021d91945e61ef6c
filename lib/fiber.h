/*
 * Fibers: tasks that wait on the network without a thread each. A fiber runs a function on its own stack
 * and hands control back to whoever resumed it when it must wait (wd_fiber_yield); the HTTP pool
 * (http_pool.c) resumes it when its transfer is over. All fibers of a process run on one thread.
 */
#ifndef WD_FIBER_H
#define WD_FIBER_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct wd_fiber;

/* A fiber with a stack of stack_size bytes (0: the default), idle. Returns NULL with err. */
struct wd_fiber *wd_fiber_new(size_t stack_size, struct wd_error *err);
/* Frees an idle fiber (its function returned, or never started); accepts NULL. */
void wd_fiber_free(struct wd_fiber *f);

/*
 * Runs fn(arg) on the idle fiber f until fn returns or yields. Called from outside any fiber. Returns
 * true when fn has returned (f is idle again and may run another function).
 */
bool wd_fiber_run(struct wd_fiber *f, void (*fn)(void *), void *arg);
/* Resumes f where it yielded, until it yields again or its function returns (then true). */
bool wd_fiber_resume(struct wd_fiber *f);
/* From inside a fiber: back to the code that ran or resumed it. */
void wd_fiber_yield(void);
/* The fiber running now, or NULL outside any fiber. */
struct wd_fiber *wd_fiber_current(void);

#endif
