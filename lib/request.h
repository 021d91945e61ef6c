/* A widget request (SPEC section 2): strict parsing and validation into a struct. Pure: no I/O. */
#ifndef WD_REQUEST_H
#define WD_REQUEST_H

#include <stddef.h>

#include "error.h"

#define WD_REQUEST_MAX_BYTES (256 * 1024)

enum wd_request_type { WD_REQ_CREATE, WD_REQ_UPDATE, WD_REQ_DELETE };

struct wd_attr {
    char *name;  /* 1..255 bytes */
    char *value; /* "" means "remove" in an update and "absent" in a create */
};

/* A validated request. Owns every string. */
struct wd_request {
    enum wd_request_type type;
    char *request_id;
    char *widget_id;
    char *owner;
    char *label;           /* NULL: absent or null; "" : empty */
    char *description;     /* likewise */
    struct wd_attr *attrs; /* otherAttributes with duplicate names merged: last value, first place */
    size_t n_attrs;
};

/*
 * Parses and validates one request body (len bytes, need not be NUL-terminated). Strict JSON: invalid
 * UTF-8, a lone surrogate, \u0000, NaN/Infinity, duplicate keys, integers outside int64, doubles that
 * overflow, nesting over 2048 are all bad requests, anywhere in the document. On success *out is owned
 * by the caller. On failure returns -1 with err->cls == WD_ERR_BAD_INPUT and a message naming the broken
 * rule, user values quoted and escaped (or WD_ERR_NOMEM).
 */
int wd_request_parse(const char *body, size_t len, struct wd_request **out, struct wd_error *err);
void wd_request_free(struct wd_request *req);

const char *wd_request_type_name(enum wd_request_type t); /* "create", "update", "delete" */

#endif
