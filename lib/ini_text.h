/* INI files read whole into wiped memory and parsed by inih line by line, leaving no copy of a line behind.
 */
#ifndef WD_INI_TEXT_H
#define WD_INI_TEXT_H

#include <ini.h>
#include <stddef.h>

#include "buf.h"

/*
 * Reads the whole file at path into out (returns owned: the caller wd_buf_free_secure()s it, also on
 * failure). The buffer grows by copying and wiping, never by realloc(), so no unwiped copy of the file
 * is left in freed memory; stdio is not used (its buffer would be another copy). Returns 0, or -1 with
 * errno: that of open(2) or read(2), EISDIR for a directory, EFBIG when the file is longer than max.
 */
int wd_ini_file_read(const char *path, size_t max, struct wd_buf *out);

/* What wd_ini_parse_text() parses, and where it is. */
struct wd_ini_text {
    const char *data; /* borrowed; need not end with a newline */
    size_t len;
    size_t max_line; /* the longest line allowed, in bytes, without its "\n" and trailing "\r" */
    /* Optional: sees each line (without "\n", trailing "\r" and a leading UTF-8 BOM; not NUL-terminated)
     * just before inih does. */
    void (*on_line)(void *user, int lineno, const char *line, size_t len);
    /* Set by the parser: the number of the line being handled (valid in the handler and on_line), or
     * of the offending line after WD_INI_NUL or WD_INI_TOO_LONG. */
    int lineno;
    size_t pos; /* private */
};

#define WD_INI_NOMEM (-2)    /* as inih */
#define WD_INI_NUL (-3)      /* a line holds a NUL byte */
#define WD_INI_TOO_LONG (-4) /* a line is longer than max_line */

/*
 * Parses t->data with inih's ini_parse_stream(), one line per read, no line ever cut. First checks every
 * line: one holding a NUL byte (which would cut it) or longer than max_line is refused before any
 * is handled. Indented lines are ordinary lines (no continuation lines); a UTF-8 BOM is skipped;
 * comments and the rest follow inih's defaults. inih's line buffer is allocated once, never moved, and
 * wiped before inih frees it; nothing else of the text is copied. Sets inih's option globals for the
 * call and restores them: one caller at a time, on one thread.
 * Returns 0, the number of the first line that is a syntax error or whose handler call returned 0 (as
 * inih), WD_INI_NUL or WD_INI_TOO_LONG (t->lineno names the line), or WD_INI_NOMEM.
 */
int wd_ini_parse_text(struct wd_ini_text *t, ini_handler handler, void *user);

#endif
