/* The lease item parser behind wd_lease_ddb_call(), exposed for its fuzz target (tests/fuzz) only. */
#ifndef WD_LEASE_DDB_INTERNAL_H
#define WD_LEASE_DDB_INTERNAL_H

#include <stddef.h>

#include "error.h"
#include "lease.h"
#include "store.h"

/*
 * Parses body[0..len), a GetItem answer for the lease item fence->lease_key, into out: out->exists false
 * when it holds no Item. Every attribute is checked (type, size, printable ASCII for owner and rvn, at most
 * 18 digits for leadership). Returns 0, or -1 with err (WD_ERR_INTERNAL, code "BadLeaseItem" for an item
 * that is not one of ours) and out untouched.
 */
int wd_lease_ddb_parse_item(const struct wd_fence *fence, const char *body, size_t len,
                            struct wd_lease_record *out, struct wd_error *err);

#endif
