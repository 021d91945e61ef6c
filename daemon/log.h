/* The only writer of output: lines on stderr with syslog priority prefixes (<3>, <4>, <6>, <7>). */
#ifndef WD_LOG_H
#define WD_LOG_H

#include <stddef.h>
#include <syslog.h>

#include "buf.h"

/* Lines above this priority (LOG_DEBUG > LOG_INFO > ...) are dropped. Default LOG_INFO. */
void wd_log_set_level(int level);
int wd_log_level_parse(
    const char *s); /* "debug", "info", "notice", "warning", "err"/"error"; -1 if unknown */

/* Writes "<prio>message\n" in one write(2), so concurrent lines never interleave. */
void wd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A user-controlled string made safe for one log line: control characters, '\\' and '\'' escaped
 * (\xNN), so a key holding a newline cannot forge a second line. Returns a pointer into buf.
 */
const char *wd_log_quote(struct wd_buf *buf, const char *s);

#endif
