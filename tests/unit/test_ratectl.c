/* Unit tests for common/ratectl: the 429 rate controller, with injected
 * time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/ratectl.h"

#define S INT64_C(1000000) /* one second in microseconds */

static void test_configured_decrease_and_recover(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 1000, 1, 0);
        assert_true(pmw_ratectl_rate(&c) == 1000);
        /* Nothing to recover at the configured rate. */
        assert_false(pmw_ratectl_success(&c, 5 * S));

        assert_true(pmw_ratectl_throttled(&c, 10 * S));
        assert_true(pmw_ratectl_rate(&c) == 750);
        /* 429s from requests already in flight: no second decrease. */
        assert_false(pmw_ratectl_throttled(&c, 10 * S + S / 2));
        assert_true(pmw_ratectl_rate(&c) == 750);
        /* No step before a second without 429. */
        assert_false(pmw_ratectl_success(&c, 10 * S + S - 1));
        /* Steps of 10% of the configured rate per second, capped. */
        int64_t t       = 11 * S;
        double expect[] = {850, 950, 1000};
        for (size_t i = 0; i < 3; i++, t += S) {
                assert_true(pmw_ratectl_success(&c, t));
                assert_true(pmw_ratectl_rate(&c) == expect[i]);
        }
        assert_false(pmw_ratectl_success(&c, t));
        assert_true(pmw_ratectl_rate(&c) == 1000);
}

static void test_repeated_throttling_after_cooldown(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 1000, 1, 0);
        assert_true(pmw_ratectl_throttled(&c, S));
        assert_true(pmw_ratectl_throttled(&c, 2 * S));
        assert_true(pmw_ratectl_rate(&c) == 562.5);
        /* Never below the floor. */
        for (int64_t t = 3 * S; t < 100 * S; t += S)
                (void)pmw_ratectl_throttled(&c, t);
        assert_true(pmw_ratectl_rate(&c) == 1.0);
}

static void test_unlimited_uses_measured_rate(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 0, 1, 0);
        assert_true(pmw_ratectl_rate(&c) == 0);
        /* 4000 units per second for two seconds. */
        for (int i = 0; i < 8; i++)
                pmw_ratectl_accepted(&c, 1000, i * (S / 4));
        pmw_ratectl_accepted(&c, 0, 2 * S);
        assert_true(pmw_ratectl_throttled(&c, 2 * S));
        assert_true(pmw_ratectl_rate(&c) == 3000);
        /* Steps of 10% of 4000 (where the decrease started); lifted once
         * past twice 4000. */
        int64_t t = 3 * S;
        int steps = 0;
        while (pmw_ratectl_rate(&c) > 0 && steps < 100) {
                assert_true(pmw_ratectl_success(&c, t));
                t += S;
                steps++;
        }
        assert_int_equal(steps, 13); /* 3000 + 13 x 400 = 8200 */
        assert_true(pmw_ratectl_rate(&c) == 0);
        assert_false(pmw_ratectl_success(&c, t));
}

static void test_unlimited_first_second(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 0, 10, 0);
        /* A 429 30 ms after 2000 messages were accepted: the window is
         * taken as a second long (2000/s), not 30 ms (66,667/s), and not
         * as nothing. */
        pmw_ratectl_accepted(&c, 2000, 10000);
        assert_true(pmw_ratectl_throttled(&c, 30000));
        assert_true(pmw_ratectl_rate(&c) == 1500);
}

static void test_unlimited_floor(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 0, 10, 0);
        /* Nothing accepted yet: the floor, not zero. */
        assert_true(pmw_ratectl_throttled(&c, 0));
        assert_true(pmw_ratectl_rate(&c) == 10);
}

static void test_unlimited_nothing_sent_floor(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 0, 1, 0);
        assert_true(pmw_ratectl_throttled(&c, 0));
        assert_true(pmw_ratectl_rate(&c) == 1.0);
        /* Nothing was known: a second at the floor, then a step of one
         * floor reaches twice the reference and lifts the limit again. */
        assert_true(pmw_ratectl_success(&c, S));
        assert_true(pmw_ratectl_rate(&c) == 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_configured_decrease_and_recover),
            cmocka_unit_test(test_repeated_throttling_after_cooldown),
            cmocka_unit_test(test_unlimited_uses_measured_rate),
            cmocka_unit_test(test_unlimited_first_second),
            cmocka_unit_test(test_unlimited_floor),
            cmocka_unit_test(test_unlimited_nothing_sent_floor),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
