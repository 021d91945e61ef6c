/*
 * Logging: lines on stderr (priority-prefixed unless stderr is a terminal), or structured journal entries
 * when stderr is the journal.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

static int max_level = LOG_INFO;
static bool to_journal;
/* "<3>" prefixes are for journald or another log reader; a person at a terminal reads plain lines. */
static bool prefixed = true;

void wd_log_set_level(int level)
{
    max_level = level;
}

int wd_log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", LOG_DEBUG},     {"info", LOG_INFO}, {"notice", LOG_NOTICE},
                  {"warning", LOG_WARNING}, {"err", LOG_ERR},   {"error", LOG_ERR}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcasecmp(s, levels[i].name) == 0)
            return levels[i].level;
    return -1;
}

void wd_log_open(void)
{
    /* systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it gave us; a redirect breaks the match. */
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    to_journal = js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
                 (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
    /* As systemd's own tools do: no prefix on a terminal, unless journald is the reader after all. */
    prefixed = to_journal || !isatty(STDERR_FILENO);
}

bool wd_log_to_journal(void)
{
    return to_journal;
}

int wd_log_journal_fields(int prio, const char *message, const struct wd_log_ids *ids,
                          struct wd_buf fields[6])
{
    int n = 0;
    if (wd_buf_printf(&fields[n++], "MESSAGE=%s", message) < 0 ||
        wd_buf_printf(&fields[n++], "PRIORITY=%d", prio) < 0 ||
        wd_buf_append_str(&fields[n++], "SYSLOG_IDENTIFIER=widgetd") < 0)
        return -1;
    if (ids != NULL) {
        const struct {
            const char *name;
            const char *value;
        } f[] = {{"REQUEST_KEY=", ids->request_key},
                 {"REQUEST_ID=", ids->request_id},
                 {"WIDGET_ID=", ids->widget_id}};
        for (size_t i = 0; i < 3; i++) {
            if (f[i].value == NULL)
                continue;
            /* Raw values: the journal's native protocol carries any bytes, newlines included. */
            if (wd_buf_append_str(&fields[n], f[i].name) < 0 ||
                wd_buf_append(&fields[n], f[i].value, strlen(f[i].value)) < 0)
                return -1;
            n++;
        }
    }
    return n;
}

__attribute__((format(printf, 3, 0))) static void emit(int prio, const struct wd_log_ids *ids,
                                                       const char *fmt, va_list ap)
{
    char line[4096];
    int n = prefixed ? snprintf(line, sizeof(line), "<%d>", prio) : 0;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2; /* truncated: still one line */
    if (to_journal) {
        struct wd_buf fields[6] = {{0}};
        struct iovec iov[6];
        line[len] = '\0';
        int k = wd_log_journal_fields(prio, line + n, ids, fields);
        for (int i = 0; i < k; i++)
            iov[i] = (struct iovec){fields[i].data, fields[i].len};
        /* If the journal refuses, fall back to the stream, which journald also reads. */
        bool sent = k > 0 && sd_journal_sendv(iov, k) >= 0;
        for (int i = 0; i < 6; i++)
            wd_buf_free(&fields[i]);
        if (sent)
            return;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}

void wd_log(int prio, const char *fmt, ...)
{
    if (prio > max_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(prio, NULL, fmt, ap);
    va_end(ap);
}

void wd_log_request(int prio, const struct wd_log_ids *ids, const char *fmt, ...)
{
    if (prio > max_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(prio, ids, fmt, ap);
    va_end(ap);
}
