/* The retry policy: which failures are retried and the full-jitter exponential back-off between attempts. */
#include "retry.h"

#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>

static double default_rand01(void *ctx)
{
    (void)ctx;
    unsigned int r;
    /* getrandom never blocks once the pool is initialised; fall back to a middle value if it fails. */
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        return 0.5;
    return (double)r / 4294967296.0;
}

struct wd_retry_policy wd_retry_policy_default(void)
{
    return (struct wd_retry_policy){.max_attempts = 3,
                                    .base_s = 1.0,
                                    .max_backoff_s = 20.0,
                                    .rand01 = NULL,
                                    .rand_ctx = NULL,
                                    .quota_capacity = WD_RETRY_QUOTA_CAPACITY};
}

int wd_retry_should(const struct wd_retry_policy *p, const struct wd_error *err, int attempt)
{
    return wd_error_is_retryable(err) && attempt < p->max_attempts;
}

double wd_retry_delay(const struct wd_retry_policy *p, int attempt)
{
    double r = p->rand01 ? p->rand01(p->rand_ctx) : default_rand01(NULL);
    double cap = p->base_s * ldexp(1.0, attempt > 30 ? 30 : attempt - 1);
    if (cap > p->max_backoff_s)
        cap = p->max_backoff_s;
    return r * cap;
}

void wd_retry_quota_init(struct wd_retry_quota *q, int capacity)
{
    atomic_init(&q->tokens, capacity);
    q->capacity = capacity;
}

int wd_retry_quota_acquire(struct wd_retry_quota *q, const struct wd_error *err)
{
    int cost = strcmp(err->code, "Timeout") == 0 ? WD_RETRY_TIMEOUT_COST : WD_RETRY_COST;
    int have = atomic_load(&q->tokens);
    while (have >= cost)
        if (atomic_compare_exchange_weak(&q->tokens, &have, have - cost))
            return cost;
    return 0;
}

void wd_retry_quota_success(struct wd_retry_quota *q, int cost)
{
    int add = cost > 0 ? cost : WD_RETRY_NO_RETRY_REFILL;
    int have = atomic_load(&q->tokens);
    while (have < q->capacity) {
        int next = have + add > q->capacity ? q->capacity : have + add;
        if (atomic_compare_exchange_weak(&q->tokens, &have, next))
            return;
    }
}
