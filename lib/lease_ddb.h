/*
 * The lease's DynamoDB calls (SPEC 9): the lease item and the fence items in the lease table, a table
 * with a string hash key "key". Each write is conditional, so two instances can never both believe they
 * won; wd_lease_ddb_call() maps an answer onto the outcome the state machine (lease.h) expects.
 */
#ifndef WD_LEASE_DDB_H
#define WD_LEASE_DDB_H

#include "aws.h"
#include "error.h"
#include "http.h"
#include "lease.h"
#include "store.h"

/*
 * Makes call (lease.h) on the lease item fence->lease_key of fence->table, as owner name. READ fills rec.
 * ACQUIRE writes the lease item and raises every fence item (store.h) to call->new_leadership, all in
 * one TransactWriteItems. Returns the outcome; err tells why for WD_LEASE_FAILED.
 */
enum wd_lease_outcome wd_lease_ddb_call(struct wd_aws *aws, struct wd_http *http,
                                        const struct wd_endpoint *ddb, const struct wd_fence *fence,
                                        const char *name, const struct wd_lease_call *call,
                                        struct wd_lease_record *rec, struct wd_error *err);

#endif
