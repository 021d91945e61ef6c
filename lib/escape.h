/*
 * Making outside strings (request keys and values, server error text) safe where they are shown: in a
 * log line, in S3 user metadata, in an error reason. The one place that decides what is escaped.
 */
#ifndef WD_ESCAPE_H
#define WD_ESCAPE_H

#include <stddef.h>

#include "buf.h"

enum wd_escape_mode {
    /*
     * A value inside a log line, quoted there with '...': printable UTF-8 kept for people to read; C0
     * controls (ESC, CR, LF ...), DEL, C1 controls, the line and paragraph separators, bidirectional
     * controls, bytes that are not UTF-8, '\\' and '\'' as \xNN (each byte), so a value can neither start
     * a forged line (journald reads "<0>" after a newline as a priority), move a terminal's cursor, nor
     * show itself in another order than it is stored.
     */
    WD_ESCAPE_LOG,
    /*
     * An S3 user-metadata value (x-amz-meta-*): printable ASCII only, others as \xNN, '\\' as "\\\\";
     * runs of blanks collapse to one and none is left at either end (SigV4 canonicalises header values
     * that way anyway). A cut at max bytes never splits an escape.
     */
    WD_ESCAPE_METADATA,
    /*
     * Outside text inside an error reason, usually between "...": as WD_ESCAPE_LOG, except that '"' and
     * '\\' are escaped as \" and \\. A cut at max bytes never splits an escape or a character and ends
     * in "..." (within max).
     */
    WD_ESCAPE_REASON,
};

/*
 * Appends s[0..len) to out, escaped for mode, at most max bytes (0: no limit). Returns 0, or -1 when out
 * of memory (out unchanged).
 */
int wd_escape(struct wd_buf *out, enum wd_escape_mode mode, const char *s, size_t len, size_t max);

/*
 * The NUL-terminated s escaped for mode into buf (reset first), for use as a printf argument: returns
 * buf's text, or "(out of memory)". s may be NULL (""). The pointer lives until buf changes.
 */
const char *wd_escape_str(struct wd_buf *buf, enum wd_escape_mode mode, const char *s);

/*
 * s[0..len) escaped for mode into the caller's dst[cap] (cap >= 4), cut to fit: for messages built in
 * fixed arrays. Returns dst.
 */
const char *wd_escape_fixed(char *dst, size_t cap, enum wd_escape_mode mode, const char *s, size_t len);

/* The same for an error reason, in double quotes (cap >= 6): the excerpt of a user value. Returns dst. */
const char *wd_escape_quoted(char *dst, size_t cap, const char *s, size_t len);

#endif
