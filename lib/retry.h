/* When to try a failed AWS call again, and how long to wait first (AWS "standard" retry mode). */
#ifndef WD_RETRY_H
#define WD_RETRY_H

#include <stdatomic.h>
#include <stdbool.h>

#include "error.h"

struct wd_retry_policy {
    int max_attempts;     /* including the first; AWS standard mode: 3 */
    double base_s;        /* 1 s in AWS standard mode */
    double max_backoff_s; /* 20 s in AWS standard mode */
    /* Uniform in [0, 1); injectable so tests need no sleeping or luck. NULL: a thread-safe default. */
    double (*rand01)(void *ctx);
    void *rand_ctx;
    int quota_capacity; /* tokens of each endpoint's retry quota (below): WD_RETRY_QUOTA_CAPACITY */
};

/* The standard-mode defaults. */
struct wd_retry_policy wd_retry_policy_default(void);

/* True when the error class is worth another attempt and attempts are left (attempt is 1-based). */
int wd_retry_should(const struct wd_retry_policy *p, const struct wd_error *err, int attempt);

/* Seconds to wait after failed attempt number `attempt` (1-based): rand * min(base * 2^(attempt-1), max). */
double wd_retry_delay(const struct wd_retry_policy *p, int attempt);

/*
 * The retry quota of AWS standard mode, one per endpoint: a bucket of 500 tokens; a retry takes 5 (10
 * after a timeout) and is refused when the bucket cannot pay; a success gives back what its retry took,
 * or 1 when it needed none. During a long outage the bucket empties and calls fail after one attempt
 * instead of multiplying the load on a struggling service. Thread-safe.
 */
struct wd_retry_quota {
    atomic_int tokens;
    int capacity;
};

#define WD_RETRY_QUOTA_CAPACITY 500
#define WD_RETRY_COST 5
#define WD_RETRY_TIMEOUT_COST 10
#define WD_RETRY_NO_RETRY_REFILL 1

void wd_retry_quota_init(struct wd_retry_quota *q, int capacity);

/* Takes the price of retrying after err; returns it (> 0), or 0 when the quota cannot pay. */
int wd_retry_quota_acquire(struct wd_retry_quota *q, const struct wd_error *err);

/* A call succeeded; cost is what its last retry took (0 when it needed none). */
void wd_retry_quota_success(struct wd_retry_quota *q, int cost);

#endif
