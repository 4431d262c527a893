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
        pmw_ratectl_init(&c, 1000, 0);
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
        /* Steps of 5% of the configured rate per second, capped. */
        int64_t t       = 11 * S;
        double expect[] = {800, 850, 900, 950, 1000};
        for (size_t i = 0; i < 5; i++, t += S) {
                assert_true(pmw_ratectl_success(&c, t));
                assert_true(pmw_ratectl_rate(&c) == expect[i]);
        }
        assert_false(pmw_ratectl_success(&c, t));
        assert_true(pmw_ratectl_rate(&c) == 1000);
}

static void test_repeated_throttling_after_cooldown(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 1000, 0);
        assert_true(pmw_ratectl_throttled(&c, S));
        assert_true(pmw_ratectl_throttled(&c, 2 * S));
        assert_true(pmw_ratectl_rate(&c) == 562.5);
        /* Never below the floor. */
        for (int64_t t = 3 * S; t < 100 * S; t += S)
                (void)pmw_ratectl_throttled(&c, t);
        assert_true(pmw_ratectl_rate(&c) == PMW_RATECTL_FLOOR);
}

static void test_unlimited_uses_measured_rate(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 0, 0);
        assert_true(pmw_ratectl_rate(&c) == 0);
        /* 4000 units per second for two seconds. */
        for (int i = 0; i < 8; i++)
                pmw_ratectl_sent(&c, 1000, i * (S / 4));
        pmw_ratectl_sent(&c, 0, 2 * S);
        assert_true(pmw_ratectl_throttled(&c, 2 * S));
        assert_true(pmw_ratectl_rate(&c) == 3000);
        /* Steps of 5% of 3000; lifted once past twice 3000. */
        int64_t t = 3 * S;
        int steps = 0;
        while (pmw_ratectl_rate(&c) > 0 && steps < 100) {
                assert_true(pmw_ratectl_success(&c, t));
                t += S;
                steps++;
        }
        assert_int_equal(steps, 20); /* 3000 + 20 x 150 = 6000 */
        assert_true(pmw_ratectl_rate(&c) == 0);
        assert_false(pmw_ratectl_success(&c, t));
}

static void test_unlimited_first_second(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 0, 0);
        /* 500 units in the first half second: the open window counts. */
        pmw_ratectl_sent(&c, 500, S / 10);
        assert_true(pmw_ratectl_throttled(&c, S / 2));
        assert_true(pmw_ratectl_rate(&c) == 750);
}

static void test_unlimited_nothing_sent_floor(void **state) {
        (void)state;
        pmw_ratectl_t c;
        pmw_ratectl_init(&c, 0, 0);
        assert_true(pmw_ratectl_throttled(&c, 0));
        assert_true(pmw_ratectl_rate(&c) == PMW_RATECTL_FLOOR);
        /* It recovers by at least the floor per second. */
        assert_true(pmw_ratectl_success(&c, S));
        assert_true(pmw_ratectl_rate(&c) == 0); /* 2 >= 2 x 1: lifted */
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_configured_decrease_and_recover),
            cmocka_unit_test(test_repeated_throttling_after_cooldown),
            cmocka_unit_test(test_unlimited_uses_measured_rate),
            cmocka_unit_test(test_unlimited_first_second),
            cmocka_unit_test(test_unlimited_nothing_sent_floor),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
