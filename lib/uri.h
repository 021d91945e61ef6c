/* URI encoding as SigV4 and S3 define it (RFC 3986 unreserved characters kept, the rest %XX uppercase). */
#ifndef WD_URI_H
#define WD_URI_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * Appends the encoding of src[0..len) to out: A-Z a-z 0-9 - . _ ~ are kept, every other byte becomes
 * %XX (uppercase hex); '/' is kept when keep_slash. Used for S3 object keys in paths (keep_slash) and
 * for query names and values (!keep_slash). Returns 0, or -1 when out of memory.
 */
int wd_uri_encode(struct wd_buf *out, const char *src, size_t len, bool keep_slash);

/*
 * Appends the percent-decoding of src[0..len) to out ("+" is kept as "+"). Returns 0, -1 on a
 * malformed escape or out of memory.
 */
int wd_uri_decode(struct wd_buf *out, const char *src, size_t len);

#endif
