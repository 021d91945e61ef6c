/* Growable byte buffers. */
#include "buf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wd_buf_reserve(struct wd_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int wd_buf_append(struct wd_buf *b, const void *p, size_t n)
{
    if (wd_buf_reserve(b, n) < 0)
        return -1;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int wd_buf_append_str(struct wd_buf *b, const char *s)
{
    return wd_buf_append(b, s, strlen(s));
}

int wd_buf_append_char(struct wd_buf *b, char c)
{
    return wd_buf_append(b, &c, 1);
}

int wd_buf_printf(struct wd_buf *b, const char *fmt, ...)
{
    /* One formatting pass when the result fits the spare room, which is the usual case. */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    if (wd_buf_reserve(b, (size_t)n) < 0) {
        if (b->data != NULL)
            b->data[b->len] = '\0'; /* the failed pass may have written into the spare room */
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void wd_buf_reset(struct wd_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void wd_buf_free(struct wd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void wd_buf_free_secure(struct wd_buf *b)
{
    if (b->data != NULL)
        OPENSSL_cleanse(b->data, b->cap);
    wd_buf_free(b);
}

char *wd_buf_steal(struct wd_buf *b)
{
    if (b->data == NULL && wd_buf_reserve(b, 0) < 0)
        return NULL;
    if (b->len == 0)
        b->data[0] = '\0';
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
