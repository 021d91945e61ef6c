/* What every credential source shares: how it reads the environment, and how it says why it had nothing. */
#ifndef WD_CREDENTIALS_SOURCE_H
#define WD_CREDENTIALS_SOURCE_H

#include "buf.h"
#include "error.h"

/*
 * The contract of a source, on the chain's behalf: it returns 1 with the credentials and a description
 * of where they came from (never a secret), 0 with one note in `tried` on why it had nothing (so that
 * the chain may ask the next source), or -1 with err when it is configured but unusable (a reason to
 * stop rather than to quietly use some other identity).
 */

/* getenv(), except that an empty variable counts as unset, as in the AWS CLI. */
const char *wd_credentials_env(const char *name);

/* Appends one "; "-separated note on a source that had nothing. Returns 0 or -1 with err. */
int wd_credentials_note(struct wd_buf *tried, struct wd_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
