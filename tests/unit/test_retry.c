/* Unit tests: the retry policy's classes and full-jitter back-off, with an injected random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_should),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
