/* Error values: setting, clearing and naming them. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int wd_error_set(struct wd_error *err, enum wd_error_class cls, long http_status, const char *code,
                 const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    err->cls = cls;
    err->http_status = http_status;
    snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

int wd_error_nomem(struct wd_error *err)
{
    return wd_error_set(err, WD_ERR_NOMEM, 0, NULL, "out of memory");
}

void wd_error_clear(struct wd_error *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

const char *wd_error_class_name(enum wd_error_class cls)
{
    switch (cls) {
    case WD_OK:
        return "ok";
    case WD_ERR_TRANSIENT:
        return "transient";
    case WD_ERR_THROTTLED:
        return "throttled";
    case WD_ERR_AUTH:
        return "auth";
    case WD_ERR_MISSING:
        return "missing";
    case WD_ERR_NOT_FOUND:
        return "not found";
    case WD_ERR_CONDITION:
        return "condition failed";
    case WD_ERR_CLIENT:
        return "client";
    case WD_ERR_BAD_INPUT:
        return "bad input";
    case WD_ERR_UNREADABLE:
        return "unreadable";
    case WD_ERR_FENCED:
        return "fenced";
    case WD_ERR_CONFIG:
        return "config";
    case WD_ERR_NOMEM:
        return "out of memory";
    case WD_ERR_INTERNAL:
        return "internal";
    }
    return "unknown";
}

bool wd_error_is_retryable(const struct wd_error *err)
{
    return err->cls == WD_ERR_TRANSIENT || err->cls == WD_ERR_THROTTLED;
}
