/* Logging: priority-prefixed lines on stderr, which journald turns into priorities. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int max_level = LOG_INFO;

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

void wd_log(int prio, const char *fmt, ...)
{
    if (prio > max_level)
        return;
    char line[4096];
    int n = snprintf(line, sizeof(line), "<%d>", prio);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2; /* truncated: still one line */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}

const char *wd_log_quote(struct wd_buf *buf, const char *s)
{
    wd_buf_reset(buf);
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        int rc = (*p < 0x20 || *p == 0x7f || *p == '\\' || *p == '\'') ? wd_buf_printf(buf, "\\x%02X", *p)
                                                                       : wd_buf_append_char(buf, (char)*p);
        if (rc < 0)
            return "(out of memory)";
    }
    return buf->data ? buf->data : "";
}
