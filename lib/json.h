/* Writing JSON with jansson into wd_buf: the compact, order-preserving text both stores send. */
#ifndef WD_JSON_H
#define WD_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "error.h"

/* Appends the compact JSON text of j (NULL: out of memory upstream) to out, unchanged on failure.
 * Returns 0, or -1 with WD_ERR_NOMEM. */
int wd_json_append(const json_t *j, struct wd_buf *out, struct wd_error *err);

/* obj[key] = a new string value; false when out of memory. */
bool wd_json_set_string(json_t *obj, const char *key, const char *value);

/*
 * Sets err for a jansson load failure: "<what>: <jansson's text, escaped> (line L, column C)" with class
 * cls, or WD_ERR_NOMEM when jansson ran out of memory. jansson quotes the input near the error, which
 * may be anything, hence the escaping. Returns -1.
 */
int wd_json_load_error(struct wd_error *err, enum wd_error_class cls, const char *what,
                       const json_error_t *jerr);

#endif
