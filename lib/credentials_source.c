/* The helpers every credential source shares: the AWS CLI's reading of the environment, the "tried" notes. */
#include "credentials_source.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *wd_credentials_env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

int wd_credentials_note(struct wd_buf *tried, struct wd_error *err, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if ((tried->len > 0 && wd_buf_append_str(tried, "; ") < 0) || wd_buf_append_str(tried, line) < 0)
        return wd_error_nomem(err);
    return 0;
}
