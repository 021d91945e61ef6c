/*
 * The only writer of output: lines on stderr with syslog priority prefixes (<3>, <4>, <6>, <7>) unless
 * stderr is a terminal, or, when stderr is the journal, journal entries with the request's fields.
 */
#ifndef WD_LOG_H
#define WD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "buf.h"

/* The request a line is about; any member may be NULL. Raw (unquoted) values. */
struct wd_log_ids {
    const char *request_key;
    const char *request_id;
    const char *widget_id;
};

/* Lines above this priority (LOG_DEBUG > LOG_INFO > ...) are dropped. Default LOG_INFO. */
void wd_log_set_level(int level);
int wd_log_level_parse(
    const char *s); /* "debug", "info", "notice", "warning", "err"/"error"; -1 if unknown */

/*
 * Decides once where lines go: to the journal when $JOURNAL_STREAM names the device and inode of
 * stderr (systemd connected stderr to journald), else to stderr: with prefixes, or plain on a terminal.
 */
void wd_log_open(void);
bool wd_log_to_journal(void);

/* Writes "<prio>message\n" (or "message\n") in one write(2), so concurrent lines never interleave. */
void wd_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like wd_log, and in the journal adds REQUEST_KEY=, REQUEST_ID=, WIDGET_ID= for `journalctl FIELD=`. */
void wd_log_request(int prio, const struct wd_log_ids *ids, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The journal fields of one entry ("MESSAGE=...", "PRIORITY=6", "SYSLOG_IDENTIFIER=widgetd",
 * "REQUEST_KEY=..." ...) into fields[0..n), each an owned buffer; returns n (at most 6) or -1 (OOM).
 */
int wd_log_journal_fields(int prio, const char *message, const struct wd_log_ids *ids,
                          struct wd_buf fields[6]);

#endif
