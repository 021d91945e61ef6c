/*
 * Fibers: makecontext(3) gives each fiber its own stack and its first frame; every later switch is a
 * _setjmp/_longjmp pair, which unlike swapcontext saves no signal mask and so makes no system call (the
 * mask never changes here). QEMU's coroutines do the same. Under AddressSanitizer every switch is
 * announced, so that it knows which stack is live and never reports one fiber's frames as another's.
 */
/* _FORTIFY_SOURCE turns _longjmp into __longjmp_chk, which refuses a jump to another stack. */
#undef _FORTIFY_SOURCE
#include "fiber.h"

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SAN_START(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define SAN_FINISH(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#define SAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define SAN_START(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define SAN_FINISH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define SAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/*
 * A task's deepest path (jansson, expat, the signer, vsnprintf) uses a few tens of KB, more under the
 * sanitizers; only the pages touched count towards memory, so the reserve is generous.
 */
#define DEFAULT_STACK (256u * 1024)

struct wd_fiber {
    jmp_buf ctx;  /* where the fiber goes on */
    jmp_buf back; /* where the code that ran or resumed it goes on */
    void *map;    /* the stack, with a guard page at its low end */
    size_t map_size;
    void (*fn)(void *);
    void *arg;
    bool entered;  /* the fiber has run: ctx holds where it yielded */
    bool returned; /* fn returned: idle */
    void *fake_stack;
};

static _Thread_local struct wd_fiber *current;
/* The stack of the code that ran or resumed the current fiber, for AddressSanitizer. */
static _Thread_local const void *resumer_bottom;
static _Thread_local size_t resumer_size;

static void *stack_base(const struct wd_fiber *f)
{
    return (char *)f->map + sysconf(_SC_PAGESIZE);
}

static size_t stack_size(const struct wd_fiber *f)
{
    return f->map_size - (size_t)sysconf(_SC_PAGESIZE);
}

/* A fiber's first frame: runs one function after another, handing control back after each. */
static void entry(void)
{
    SAN_FINISH(NULL, &resumer_bottom, &resumer_size);
    for (;;) {
        struct wd_fiber *f = current;
        f->fn(f->arg);
        f->returned = true;
        wd_fiber_yield();
    }
}

struct wd_fiber *wd_fiber_new(size_t size, struct wd_error *err)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size = ((size ? size : DEFAULT_STACK) + page - 1) / page * page;
    struct wd_fiber *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        wd_error_nomem(err);
        return NULL;
    }
    f->map_size = size + page;
    f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    /* An overflow hits the guard page and stops the process, rather than overwrite another fiber. */
    if (f->map == MAP_FAILED || mprotect(f->map, page, PROT_NONE) < 0) {
        wd_error_set(err, WD_ERR_NOMEM, 0, NULL, "cannot map a %zu-byte fiber stack: %s", size,
                     strerror(errno));
        if (f->map != MAP_FAILED)
            munmap(f->map, f->map_size);
        free(f);
        return NULL;
    }
    f->returned = true;
    return f;
}

void wd_fiber_free(struct wd_fiber *f)
{
    if (f == NULL)
        return;
    /* Frames parked on this stack leave their red zones poisoned; the addresses will be reused. */
    SAN_UNPOISON(stack_base(f), stack_size(f));
    munmap(f->map, f->map_size);
    free(f);
}

/*
 * Continues f until it yields; returns true when its function has returned. The first time, first is the
 * entry point made for its stack (its caller's local: a ucontext_t is nearly 1 KB, needed only to start).
 */
static bool enter(struct wd_fiber *f, const ucontext_t *first)
{
    void *fake = NULL;
    current = f;
    SAN_START(&fake, stack_base(f), stack_size(f));
    if (_setjmp(f->back) == 0) {
        if (!f->entered) {
            f->entered = true;
            setcontext(first);
        }
        _longjmp(f->ctx, 1);
    }
    SAN_FINISH(fake, NULL, NULL);
    current = NULL;
    return f->returned;
}

bool wd_fiber_run(struct wd_fiber *f, void (*fn)(void *), void *arg)
{
    f->fn = fn;
    f->arg = arg;
    f->returned = false;
    if (f->entered)
        return enter(f, NULL);
    ucontext_t first;
    getcontext(&first);
    first.uc_stack.ss_sp = stack_base(f);
    first.uc_stack.ss_size = stack_size(f);
    first.uc_link = NULL; /* entry() never returns */
    makecontext(&first, entry, 0);
    return enter(f, &first);
}

bool wd_fiber_resume(struct wd_fiber *f)
{
    return enter(f, NULL);
}

void wd_fiber_yield(void)
{
    struct wd_fiber *f = current;
    SAN_START(&f->fake_stack, resumer_bottom, resumer_size);
    if (_setjmp(f->ctx) == 0)
        _longjmp(f->back, 1);
    SAN_FINISH(f->fake_stack, &resumer_bottom, &resumer_size);
}

struct wd_fiber *wd_fiber_current(void)
{
    return current;
}
