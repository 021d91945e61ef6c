/* Unit tests: the retry policy's classes and full-jitter back-off, with an injected random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "aws.h"
#include "retry.h"

static double fixed(void *ctx)
{
    return *(double *)ctx;
}

static void test_delay(void **state)
{
    (void)state;
    double r = 1.0 - 1e-12;
    struct wd_retry_policy p = wd_retry_policy_default();
    p.rand01 = fixed;
    p.rand_ctx = &r;
    /* rand * min(2^(n-1) s, 20 s) */
    assert_float_equal(wd_retry_delay(&p, 1), 1.0, 1e-6);
    assert_float_equal(wd_retry_delay(&p, 2), 2.0, 1e-6);
    assert_float_equal(wd_retry_delay(&p, 5), 16.0, 1e-6);
    assert_float_equal(wd_retry_delay(&p, 6), 20.0, 1e-6);
    assert_float_equal(wd_retry_delay(&p, 60), 20.0, 1e-6);
    r = 0.25;
    assert_float_equal(wd_retry_delay(&p, 3), 1.0, 1e-9);
    r = 0.0;
    assert_float_equal(wd_retry_delay(&p, 3), 0.0, 1e-9);
    /* The default source stays within [0, cap). */
    p.rand01 = NULL;
    for (int i = 0; i < 100; i++) {
        double d = wd_retry_delay(&p, 2);
        assert_true(d >= 0.0 && d < 2.0);
    }
}

static void test_should(void **state)
{
    (void)state;
    struct wd_retry_policy p = wd_retry_policy_default();
    struct wd_error e = {0};
    e.cls = WD_ERR_TRANSIENT;
    assert_true(wd_retry_should(&p, &e, 1));
    assert_true(wd_retry_should(&p, &e, 2));
    assert_false(wd_retry_should(&p, &e, 3)); /* 3 attempts in all */
    e.cls = WD_ERR_THROTTLED;
    assert_true(wd_retry_should(&p, &e, 1));
    enum wd_error_class never[] = {WD_ERR_AUTH,   WD_ERR_MISSING,   WD_ERR_NOT_FOUND, WD_ERR_CONDITION,
                                   WD_ERR_CLIENT, WD_ERR_BAD_INPUT, WD_ERR_CONFIG,    WD_ERR_INTERNAL};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        e.cls = never[i];
        assert_false(wd_retry_should(&p, &e, 1));
    }
}

static void test_quota(void **state)
{
    (void)state;
    struct wd_retry_quota q;
    struct wd_error e = {.cls = WD_ERR_TRANSIENT};
    wd_retry_quota_init(&q, 500);
    /* 100 retries of 5 tokens empty the bucket; the 101st is refused. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(wd_retry_quota_acquire(&q, &e), 5);
    assert_int_equal(wd_retry_quota_acquire(&q, &e), 0);
    /* A success after a retry gives its 5 back; a plain success gives 1. */
    wd_retry_quota_success(&q, 5);
    assert_int_equal(atomic_load(&q.tokens), 5);
    wd_retry_quota_success(&q, 0);
    assert_int_equal(atomic_load(&q.tokens), 6);
    /* A retry after a timeout costs 10. */
    strcpy(e.code, "Timeout");
    assert_int_equal(wd_retry_quota_acquire(&q, &e), 0);
    for (int i = 0; i < 4; i++)
        wd_retry_quota_success(&q, 0);
    assert_int_equal(wd_retry_quota_acquire(&q, &e), 10);
    assert_int_equal(atomic_load(&q.tokens), 0);
    /* Never above capacity. */
    for (int i = 0; i < 1000; i++)
        wd_retry_quota_success(&q, 5);
    assert_int_equal(atomic_load(&q.tokens), 500);
}

static void test_clock_skew(void **state)
{
    (void)state;
    struct wd_error e = {.cls = WD_ERR_AUTH};
    long off = 0;
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    time_t server = 784111777;
    strcpy(e.code, "RequestTimeTooSkewed");
    assert_true(wd_aws_clock_skewed(&e, "Sun, 06 Nov 1994 08:49:37 GMT", server - 1200, &off));
    assert_int_equal(off, 1200);
    strcpy(e.code, "InvalidSignatureException");
    assert_true(wd_aws_clock_skewed(&e, "Sun, 06 Nov 1994 08:49:37 GMT", server + 1200, &off));
    assert_int_equal(off, -1200);
    /* A small offset did not cause the refusal: keep the clock. */
    assert_false(wd_aws_clock_skewed(&e, "Sun, 06 Nov 1994 08:49:37 GMT", server - 60, &off));
    /* Other codes, no or bad Date header: not a skew. */
    strcpy(e.code, "AccessDenied");
    assert_false(wd_aws_clock_skewed(&e, "Sun, 06 Nov 1994 08:49:37 GMT", server - 1200, &off));
    strcpy(e.code, "SignatureDoesNotMatch");
    assert_false(wd_aws_clock_skewed(&e, "", server - 1200, &off));
    assert_false(wd_aws_clock_skewed(&e, "yesterday-ish", server - 1200, &off));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_should),
        cmocka_unit_test(test_quota),
        cmocka_unit_test(test_clock_skew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
