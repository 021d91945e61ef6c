/* INI files read whole into wiped memory and parsed by inih line by line, leaving no copy of a line behind.
 */
#include "ini_text.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Moves b into a block of cap bytes: a fresh one, and the old one wiped (realloc would not wipe it). */
static int grow(struct wd_buf *b, size_t cap)
{
    char *p = malloc(cap);
    if (p == NULL)
        return -1;
    if (b->data != NULL) {
        memcpy(p, b->data, b->len + 1);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    } else {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int wd_ini_file_read(const char *path, size_t max, struct wd_buf *out)
{
    int saved;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0)
        goto fail;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    if (max > SIZE_MAX / 2 - 2)
        max = SIZE_MAX / 2 - 2;
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
        errno = EFBIG;
        goto fail;
    }
    /* A regular file's size, plus one byte to see the end without growing; 4 KiB for a pipe or device. */
    size_t cap = S_ISREG(st.st_mode) && st.st_size >= 0 && (uintmax_t)st.st_size <= max
                     ? (size_t)st.st_size + 2
                     : 4096;
    if (grow(out, cap) < 0) {
        errno = ENOMEM;
        goto fail;
    }
    for (;;) {
        if (out->len + 1 == out->cap) {
            size_t bigger = out->cap <= (max + 2) / 2 ? out->cap * 2 : max + 2;
            if (bigger <= out->cap) {
                errno = EFBIG;
                goto fail;
            }
            if (grow(out, bigger) < 0) {
                errno = ENOMEM;
                goto fail;
            }
        }
        ssize_t n = read(fd, out->data + out->len, out->cap - 1 - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->data[out->len] = '\0';
        if (out->len > max) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    return 0;
fail:
    saved = errno;
    close(fd);
    wd_buf_free_secure(out);
    errno = saved;
    return -1;
}

struct reader {
    struct wd_ini_text *t;
    void *user;
};

/* The line at t->pos: [*start, *start + *len) without "\n" and trailing "\r"; *next is past its "\n". */
static void next_line(const struct wd_ini_text *t, size_t pos, int lineno, size_t *start, size_t *len,
                      size_t *next)
{
    const char *nl = memchr(t->data + pos, '\n', t->len - pos);
    size_t end = nl != NULL ? (size_t)(nl - t->data) : t->len;
    *next = nl != NULL ? end + 1 : t->len;
    /* inih would skip a BOM itself, but the length check and on_line must not count it. */
    if (lineno == 1 && end - pos >= 3 && memcmp(t->data + pos, "\xEF\xBB\xBF", 3) == 0)
        pos += 3;
    while (end > pos && t->data[end - 1] == '\r')
        end--;
    *start = pos;
    *len = end - pos;
}

/* inih's fgets-like reader: one whole line per call; at the end, wipes inih's line buffer. */
static char *read_line(char *str, int num, void *stream)
{
    struct reader *r = stream;
    struct wd_ini_text *t = r->t;
    size_t start, len, next;
    if (t->pos >= t->len) {
        /* inih calls us once more after the last line, with its buffer, just before freeing it. */
        OPENSSL_cleanse(str, (size_t)num);
        return NULL;
    }
    next_line(t, t->pos, t->lineno + 1, &start, &len, &next);
    if (len + 1 > (size_t)num) { /* cannot happen: every line was checked against max_line */
        OPENSSL_cleanse(str, (size_t)num);
        t->pos = t->len;
        return NULL;
    }
    t->lineno++;
    t->pos = next;
    memcpy(str, t->data + start, len);
    str[len] = '\0';
    if (t->on_line != NULL)
        t->on_line(r->user, t->lineno, t->data + start, len);
    return str;
}

int wd_ini_parse_text(struct wd_ini_text *t, ini_handler handler, void *user)
{
    size_t max_line = t->max_line < (size_t)INT_MAX - 3 ? t->max_line : (size_t)INT_MAX - 3;
    size_t pos = 0, start, len, next;

    /* Whole lines or nothing: a NUL would end inih's line early, a long line would be split. */
    t->lineno = 0;
    t->pos = 0;
    for (int lineno = 1; pos < t->len; lineno++, pos = next) {
        next_line(t, pos, lineno, &start, &len, &next);
        if (memchr(t->data + pos, '\0', next - pos) != NULL) {
            t->lineno = lineno;
            return WD_INI_NUL;
        }
        if (len > max_line) {
            t->lineno = lineno;
            return WD_INI_TOO_LONG;
        }
    }

    /*
     * Debian's libinih makes its build options run-time globals. One heap line buffer of a fixed size
     * (so no realloc leaves a copy), no continuation lines, and parse to the end: the reader's last call
     * is the one that wipes the buffer.
     */
    bool use_stack = ini_use_stack, allow_realloc = ini_allow_realloc, multiline = ini_allow_multiline,
         stop_first = ini_stop_on_first_error;
    int initial_alloc = ini_initial_alloc, max = ini_max_line;
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_allow_multiline = false;
    ini_stop_on_first_error = false;
    ini_initial_alloc = (int)max_line + 3; /* inih's margin: "\r", "\n" and the NUL */
    ini_max_line = (int)max_line + 3;

    struct reader r = {.t = t, .user = user};
    int rc = ini_parse_stream(read_line, &r, handler, user);

    ini_use_stack = use_stack;
    ini_allow_realloc = allow_realloc;
    ini_allow_multiline = multiline;
    ini_stop_on_first_error = stop_first;
    ini_initial_alloc = initial_alloc;
    ini_max_line = max;
    return rc == -2 ? WD_INI_NOMEM : rc;
}
