/* Owned, growable byte buffers (always NUL-terminated once allocated) and borrowed byte cursors. */
#ifndef WD_BUF_H
#define WD_BUF_H

#include <stddef.h>

/* Owns data. A zero-initialised wd_buf is a valid empty buffer. */
struct wd_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Borrows data; never freed through this type. */
struct wd_cursor {
    const char *data;
    size_t len;
};

/* All return 0, or -1 when out of memory (the buffer is then unchanged). */
int wd_buf_reserve(struct wd_buf *b, size_t extra);
int wd_buf_append(struct wd_buf *b, const void *p, size_t n);
int wd_buf_append_str(struct wd_buf *b, const char *s);
int wd_buf_append_char(struct wd_buf *b, char c);
int wd_buf_printf(struct wd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory. */
void wd_buf_reset(struct wd_buf *b);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void wd_buf_free(struct wd_buf *b);
/* Wipes the contents (OPENSSL_cleanse) then frees: for buffers that held a secret. */
void wd_buf_free_secure(struct wd_buf *b);
/* Hands the NUL-terminated data to the caller (returns owned, "" when empty; NULL on OOM). */
char *wd_buf_steal(struct wd_buf *b);

#endif
