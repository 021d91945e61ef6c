/* Errors as values: a class that drives what the caller does, plus the HTTP status, AWS code and a message.
 */
#ifndef WD_ERROR_H
#define WD_ERROR_H

#include <stdbool.h>

enum wd_error_class {
    WD_OK = 0,
    WD_ERR_TRANSIENT, /* connection error, timeout, 5xx, RequestTimeout: retry later */
    WD_ERR_THROTTLED, /* SlowDown, ThrottlingException, ...: retry later, slower */
    WD_ERR_AUTH,      /* 403, InvalidAccessKeyId, SignatureDoesNotMatch, ExpiredToken: deployment's fault */
    WD_ERR_MISSING,   /* NoSuchBucket, ResourceNotFoundException: deployment's fault */
    WD_ERR_NOT_FOUND, /* the object or item asked for does not exist (NoSuchKey, 404 on HEAD) */
    WD_ERR_CONDITION, /* a condition on a write failed (ConditionalCheckFailedException, 412) */
    WD_ERR_CLIENT,    /* the store permanently rejects this call for its content (ValidationException) */
    WD_ERR_BAD_INPUT, /* a widget request breaks SPEC section 2 */
    /*
     * The object cannot be read or copied for a reason of its own (SPEC 5): an archived storage class,
     * encryption with a customer-provided key, too large for CopyObject. Never cured by retrying.
     */
    WD_ERR_UNREADABLE,
    /*
     * This instance may no longer write (SPEC 9): the store's fence refused a write because another
     * leadership has begun, or the lease gate is closed (not the leader, or the lease may pass to another
     * before a call started now would end). The request is left for the leader.
     */
    WD_ERR_FENCED,
    WD_ERR_CONFIG,   /* configuration or credentials are unusable */
    WD_ERR_NOMEM,    /* out of memory */
    WD_ERR_INTERNAL, /* anything else: a bug or an unexpected response */
};

struct wd_error {
    enum wd_error_class cls;
    long http_status;  /* 0 when no HTTP response was received */
    char code[64];     /* AWS error code ("SlowDown", "ValidationException"), or "" */
    char message[512]; /* for people; never holds a secret */
};

/* Sets every field of err (err may be NULL). Always returns -1 so callers can `return wd_error_set(...)`. */
int wd_error_set(struct wd_error *err, enum wd_error_class cls, long http_status, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Shorthand for an out-of-memory error. Returns -1. */
int wd_error_nomem(struct wd_error *err);

void wd_error_clear(struct wd_error *err);

/* "transient", "throttled", "auth", ... */
const char *wd_error_class_name(enum wd_error_class cls);

/* True for the classes a later attempt may cure (transient, throttled). */
bool wd_error_is_retryable(const struct wd_error *err);

#endif
