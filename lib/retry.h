/* When to try a failed AWS call again, and how long to wait first (AWS "standard" retry mode). */
#ifndef WD_RETRY_H
#define WD_RETRY_H

#include "error.h"

struct wd_retry_policy {
    int max_attempts;     /* including the first; AWS standard mode: 3 */
    double base_s;        /* 1 s in AWS standard mode */
    double max_backoff_s; /* 20 s in AWS standard mode */
    /* Uniform in [0, 1); injectable so tests need no sleeping or luck. NULL: a thread-safe default. */
    double (*rand01)(void *ctx);
    void *rand_ctx;
};

/* The standard-mode defaults. */
struct wd_retry_policy wd_retry_policy_default(void);

/* True when the error class is worth another attempt and attempts are left (attempt is 1-based). */
int wd_retry_should(const struct wd_retry_policy *p, const struct wd_error *err, int attempt);

/* Seconds to wait after failed attempt number `attempt` (1-based): rand * min(base * 2^(attempt-1), max). */
double wd_retry_delay(const struct wd_retry_policy *p, int attempt);

#endif
