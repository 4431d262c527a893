/* Unit tests for common/ratelimit: the token bucket, on simulated time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/ratelimit.h"

#define SEC INT64_C(1000000)

static void test_unlimited_never_waits(void **state) {
        (void)state;
        pmw_bucket_t b;
        pmw_bucket_init(&b, 0, 0, 0);
        for (int i = 0; i < 100000; i++)
                assert_int_equal(pmw_bucket_take(&b, 500, 0), 0);
        assert_int_equal(pmw_bucket_take(&b, 1e12, -SEC), 0);
        assert_true(pmw_bucket_rate(&b) == 0);
}

static void test_burst_then_exact_waits(void **state) {
        (void)state;
        pmw_bucket_t b;
        /* The header's example: 1000/s, burst 1000, batches of 500. */
        pmw_bucket_init(&b, 1000, 1000, 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 500000);
        /* Asking again takes nothing: the wait only shrinks with time. */
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 500000);
        assert_int_equal(pmw_bucket_take(&b, 500, 100000), 400000);
        assert_int_equal(pmw_bucket_take(&b, 500, 499999), 1);
        assert_int_equal(pmw_bucket_take(&b, 500, 500000), 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 500000), 1000);
        /* Refills stop at the burst. */
        assert_int_equal(pmw_bucket_take(&b, 1000, 100 * SEC), 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 100 * SEC), 1000);

        /* A rate that does not divide a second: the wait rounds up, and is
         * then enough. */
        pmw_bucket_init(&b, 3, 1, 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 0), 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 0), 333334);
        assert_int_equal(pmw_bucket_take(&b, 1, 333333), 1);
        assert_int_equal(pmw_bucket_take(&b, 1, 333334), 0);
}

static void test_take_larger_than_burst(void **state) {
        (void)state;
        pmw_bucket_t b;
        /* 100/s with a burst of 10: a 500-message batch goes when the bucket
         * is full, and leaves a debt of 490 tokens. */
        pmw_bucket_init(&b, 100, 10, 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 0);
        /* Back to 1 token: 491 tokens at 100/s. */
        assert_int_equal(pmw_bucket_take(&b, 1, 0), 4910000);
        /* Back to the full burst of 10 for the next big batch: 5 s. */
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 5000000);
        assert_int_equal(pmw_bucket_take(&b, 500, 4999999), 1);
        assert_int_equal(pmw_bucket_take(&b, 500, 5000000), 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 5000000), 5000000);

        /* A zero burst: each take waits for the previous one's debt. */
        pmw_bucket_init(&b, 1000, 0, 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 500000);
        assert_int_equal(pmw_bucket_take(&b, 500, 500000), 0);
}

/* Sends batches of n as fast as the bucket allows for `seconds` of
 * simulated time; returns the tokens taken (the first take at t = 0). */
static double simulate(double rate, double burst, double n, int64_t seconds) {
        pmw_bucket_t b;
        int64_t t    = 0;
        double taken = 0;
        pmw_bucket_init(&b, rate, burst, 0);
        while (t <= seconds * SEC) {
                int64_t wait = pmw_bucket_take(&b, n, t);
                if (wait == 0)
                        taken += n;
                else
                        t += wait;
        }
        return taken;
}

static void test_long_run_rate(void **state) {
        (void)state;
        /* 1000/s for 60 s with batches of 500: 60000 tokens after the first
         * burst, exactly, whatever the burst. */
        static const struct {
                double burst;
                double taken;
        } cases[] = {
            {0, 60500},    /* one batch at t = 0, then every 0.5 s */
            {100, 60500},  /* the same: 500 > burst */
            {500, 60500},  /* a batch at t = 0, then every 0.5 s */
            {1000, 61000}, /* two at t = 0, then every 0.5 s */
            {2500, 62500}, /* five at t = 0 */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                double taken = simulate(1000, cases[i].burst, 500, 60);
                if (taken != cases[i].taken)
                        fail_msg("burst %g: %g taken, want %g", cases[i].burst,
                                 taken, cases[i].taken);
                /* The brief's bound: within 1% of the rate over 60 s. */
                double rate = (taken - cases[i].burst) / 60;
                assert_true(rate > 990 && rate < 1010);
        }
        /* Odd rates and sizes: within 1% too. */
        double taken = simulate(3, 1, 1, 600);
        assert_true(taken / 600 > 2.97 && taken / 600 < 3.03);
        taken = simulate(777.7, 50, 333, 60);
        assert_true((taken - 50) / 60 > 777.7 * 0.99);
        assert_true((taken - 50) / 60 < 777.7 * 1.01);
}

static void test_set_rate(void **state) {
        (void)state;
        pmw_bucket_t b;
        pmw_bucket_init(&b, 1000, 1000, 0);
        assert_int_equal(pmw_bucket_take(&b, 1000, 0), 0);
        /* 0.5 s at 1000/s earned 500 tokens before the change. */
        pmw_bucket_set_rate(&b, 100, 500000);
        assert_true(pmw_bucket_rate(&b) == 100);
        assert_int_equal(pmw_bucket_take(&b, 500, 500000), 0);
        /* Now 100/s: one token takes 10 ms. */
        assert_int_equal(pmw_bucket_take(&b, 1, 500000), 10000);
        assert_int_equal(pmw_bucket_take(&b, 1, 510000), 0);

        /* A debt stays across a change and is repaid at the new rate. */
        pmw_bucket_init(&b, 100, 10, 0);
        assert_int_equal(pmw_bucket_take(&b, 500, 0), 0); /* -490 */
        pmw_bucket_set_rate(&b, 1000, 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 0), 491000);

        /* Unlimited: nothing waits. Back to limited: full again. */
        pmw_bucket_set_rate(&b, 0, 0);
        assert_int_equal(pmw_bucket_take(&b, 1e9, 0), 0);
        pmw_bucket_set_rate(&b, 1000, 7 * SEC);
        assert_int_equal(pmw_bucket_take(&b, 10, 7 * SEC), 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 7 * SEC), 1000);
}

static void test_time_backwards(void **state) {
        (void)state;
        pmw_bucket_t b;
        pmw_bucket_init(&b, 1000, 1000, 10 * SEC);
        assert_int_equal(pmw_bucket_take(&b, 1000, 10 * SEC), 0);
        /* 5 s back: no tokens appear, the wait is the normal one. */
        assert_int_equal(pmw_bucket_take(&b, 1, 5 * SEC), 1000);
        /* ... and time counts from the earlier instant on. */
        assert_int_equal(pmw_bucket_take(&b, 1, 5 * SEC + 999), 1);
        assert_int_equal(pmw_bucket_take(&b, 1, 5 * SEC + 1000), 0);
        /* Far back, or negative: still a plain wait. */
        assert_int_equal(pmw_bucket_take(&b, 1, -100 * SEC), 1000);
        assert_int_equal(pmw_bucket_take(&b, 1, INT64_MIN), 1000);
        /* And forward again from there refills to the burst, no more. */
        assert_int_equal(pmw_bucket_take(&b, 1000, INT64_MAX), 0);
        assert_int_equal(pmw_bucket_take(&b, 1, INT64_MAX), 1000);
}

static void test_huge_waits(void **state) {
        (void)state;
        pmw_bucket_t b;
        pmw_bucket_init(&b, 1e-12, 1, 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 0), 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 0),
                         INT64_C(1000000000000000000));
        pmw_bucket_init(&b, 1e-15, 1, 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 0), 0);
        assert_int_equal(pmw_bucket_take(&b, 1, 0), INT64_MAX);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_unlimited_never_waits),
            cmocka_unit_test(test_burst_then_exact_waits),
            cmocka_unit_test(test_take_larger_than_burst),
            cmocka_unit_test(test_long_run_rate),
            cmocka_unit_test(test_set_rate),
            cmocka_unit_test(test_time_backwards),
            cmocka_unit_test(test_huge_waits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
