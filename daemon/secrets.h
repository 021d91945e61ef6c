/* Keeping secrets out of freed memory and core dumps: a wiping allocator for jansson, no core dumps. */
#ifndef WD_SECRETS_H
#define WD_SECRETS_H

#include <stddef.h>

#include "error.h"

/*
 * malloc() and free() for jansson: every block carries its size in a small header, and is wiped
 * (OPENSSL_cleanse) whole before it is freed, so JSON that held a secret (container credentials, and
 * the lexer's copies of them) leaves nothing readable behind. wd_wipe_free() accepts NULL.
 */
void *wd_wipe_malloc(size_t size);
void wd_wipe_free(void *p);

/*
 * Once at start, before any thread and any jansson call: jansson allocates through the two functions
 * above from now on, and the process becomes non-dumpable (no core dump, and no ptrace or /proc/PID/mem
 * by other processes of its user). Returns 0, or -1 with err (WD_ERR_INTERNAL) when the kernel refused
 * PR_SET_DUMPABLE; the allocator is installed either way.
 */
int wd_secrets_protect(struct wd_error *err);

#endif
