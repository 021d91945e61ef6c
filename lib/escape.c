/* Escaping outside strings for a log line, S3 user metadata or an error reason: one set of rules. */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ELLIPSIS "..."

/* Length of the valid UTF-8 sequence at p (at most n bytes) and its code point, or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    } else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, c = p[0] & 0x1f, min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, c = p[0] & 0x0f, min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/*
 * Printable code points that still change how a line reads: C1 controls (some terminals act on them),
 * the line and paragraph separators (some viewers break the line there) and the bidirectional
 * embeddings, overrides and isolates, which can show a key in another order than it is stored.
 */
static bool deceptive(uint32_t cp)
{
    return cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* "\xNN" for each of the n bytes at p. */
static size_t hex_escape(char *unit, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unit[o++] = '\\', unit[o++] = 'x';
        unit[o++] = hex[p[i] >> 4], unit[o++] = hex[p[i] & 0xf];
    }
    return o;
}

/*
 * The next unit of output for the input at p (n bytes left): writes its text into unit (at least 16
 * bytes) and returns its length; *step is the input it covers.
 */
static size_t next_unit(enum wd_escape_mode mode, const unsigned char *p, size_t n, char *unit, size_t *step)
{
    uint32_t cp;
    *step = 1;
    if (mode == WD_ESCAPE_METADATA) {
        if (*p == '\\')
            return memcpy(unit, "\\\\", 2), 2;
        if (*p >= 0x21 && *p <= 0x7e)
            return unit[0] = (char)*p, 1;
        return hex_escape(unit, p, 1);
    }
    if (*p < 0x80) {
        bool special = mode == WD_ESCAPE_LOG ? (*p == '\\' || *p == '\'') : (*p == '\\' || *p == '"');
        if (*p < 0x20 || *p == 0x7f || (special && mode == WD_ESCAPE_LOG))
            return hex_escape(unit, p, 1);
        if (special)
            return unit[0] = '\\', unit[1] = (char)*p, 2;
        return unit[0] = (char)*p, 1;
    }
    size_t len = utf8_seq(p, n, &cp);
    if (len == 0)
        return hex_escape(unit, p, 1);
    *step = len;
    if (deceptive(cp))
        return hex_escape(unit, p, len);
    memcpy(unit, p, len);
    return len;
}

int wd_escape(struct wd_buf *out, enum wd_escape_mode mode, const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    size_t start = out->len, safe = start; /* safe: where a cut leaves room for the ellipsis */
    bool blank = false, cut = false;
    if (max == 0)
        max = SIZE_MAX;
    if (wd_buf_reserve(out, 0) < 0)
        return -1;
    out->data[out->len] = '\0'; /* a buffer allocated just now */
    for (size_t i = 0; i < len;) {
        char unit[24];
        size_t ulen = 0, step, o;
        if (mode == WD_ESCAPE_METADATA && is_blank(p[i])) {
            blank = true;
            i++;
            continue;
        }
        if (blank && out->len > start)
            unit[ulen++] = ' ';
        blank = false;
        o = next_unit(mode, p + i, len - i, unit + ulen, &step);
        ulen += o;
        if (out->len - start + ulen > max) {
            cut = true;
            break;
        }
        if (wd_buf_append(out, unit, ulen) < 0)
            goto nomem;
        if (mode != WD_ESCAPE_METADATA && out->len - start + strlen(ELLIPSIS) <= max)
            safe = out->len;
        i += step;
    }
    if (cut && mode != WD_ESCAPE_METADATA) {
        out->len = safe;
        if (wd_buf_append_str(out, max >= strlen(ELLIPSIS) ? ELLIPSIS : "") < 0)
            goto nomem;
    }
    return 0;
nomem:
    out->len = start;
    out->data[start] = '\0';
    return -1;
}

const char *wd_escape_str(struct wd_buf *buf, enum wd_escape_mode mode, const char *s)
{
    wd_buf_reset(buf);
    if (wd_escape(buf, mode, s, s != NULL ? strlen(s) : 0, 0) < 0)
        return "(out of memory)";
    return buf->data;
}

const char *wd_escape_fixed(char *dst, size_t cap, enum wd_escape_mode mode, const char *s, size_t len)
{
    struct wd_buf b = {0};
    if (wd_escape(&b, mode, s, len, cap - 1) < 0)
        snprintf(dst, cap, "(out of memory)");
    else
        memcpy(dst, b.data, b.len + 1);
    wd_buf_free(&b);
    return dst;
}

const char *wd_escape_quoted(char *dst, size_t cap, const char *s, size_t len)
{
    dst[0] = '"';
    wd_escape_fixed(dst + 1, cap - 2, WD_ESCAPE_REASON, s, len); /* the closing quote takes the last byte */
    size_t n = strlen(dst);
    dst[n] = '"';
    dst[n + 1] = '\0';
    return dst;
}
