/* Keeping secrets out of freed memory and core dumps: a wiping allocator for jansson, no core dumps. */
#include "secrets.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

/* The size in front of each block, padded so that the caller's part keeps malloc's alignment. */
#define HEADER (sizeof(size_t) > alignof(max_align_t) ? sizeof(size_t) : alignof(max_align_t))

void *wd_wipe_malloc(size_t size)
{
    if (size > SIZE_MAX - HEADER)
        return NULL;
    unsigned char *block = malloc(HEADER + size);
    if (block == NULL)
        return NULL;
    memcpy(block, &size, sizeof(size));
    return block + HEADER;
}

void wd_wipe_free(void *p)
{
    if (p == NULL)
        return;
    unsigned char *block = (unsigned char *)p - HEADER;
    size_t size;
    memcpy(&size, block, sizeof(size));
    OPENSSL_cleanse(block, HEADER + size);
    free(block);
}

int wd_secrets_protect(struct wd_error *err)
{
    json_set_alloc_funcs(wd_wipe_malloc, wd_wipe_free);
    /* A core dump would hold the credentials in clear; so would another process's view of our memory. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return wd_error_set(err, WD_ERR_INTERNAL, 0, NULL, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
    return 0;
}
