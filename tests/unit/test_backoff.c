/* Unit tests for common/backoff: jittered delays and Retry-After. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/backoff.h"
#include "common/clock.h"

static void test_rand_reference(void **state) {
        (void)state;
        /* splitmix64's published outputs for seed 0. */
        uint64_t rng = 0;
        assert_true(pmw_rand_next(&rng) == UINT64_C(0xe220a8397b1dcdaf));
        assert_true(pmw_rand_next(&rng) == UINT64_C(0x6e789e6aa1b965f4));
        assert_true(pmw_rand_next(&rng) == UINT64_C(0x06c45d188009454f));

        /* Same seed, same sequence; another seed, another one. */
        uint64_t a = 42, b = 42, c = 43;
        for (int i = 0; i < 100; i++) {
                uint64_t va = pmw_rand_next(&a);
                assert_true(va == pmw_rand_next(&b));
                assert_true(va != pmw_rand_next(&c));
        }
}

/* Draws n delays; checks they stay within [0, cap] and fill that range
 * (deterministic: the seed is fixed). */
static void
check_range(int64_t initial, int64_t max, unsigned attempt, int64_t cap) {
        uint64_t rng = 12345;
        int64_t lo = INT64_MAX, hi = -1;
        double sum  = 0;
        const int n = 20000;

        for (int i = 0; i < n; i++) {
                int64_t d =
                    pmw_backoff_delay_ms(initial, max, attempt, -1, &rng);
                if (d < 0 || d > cap)
                        fail_msg("attempt %u: delay %lld outside [0, %lld]",
                                 attempt, (long long)d, (long long)cap);
                lo = d < lo ? d : lo;
                hi = d > hi ? d : hi;
                sum += (double)d;
        }
        /* Full jitter: from near 0 to near cap, mean cap / 2. */
        assert_true(lo <= cap / 100);
        assert_true(hi >= cap - cap / 100);
        assert_true(sum / n > 0.48 * (double)cap);
        assert_true(sum / n < 0.52 * (double)cap);
}

static void test_exponential_caps(void **state) {
        (void)state;
        /* The defaults: retry.initial_backoff_ms 500, max_backoff_ms 60000. */
        static const int64_t caps[] = {500,   1000,  2000,  4000,  8000,
                                       16000, 32000, 60000, 60000, 60000};
        for (unsigned a = 1; a <= 10; a++)
                check_range(500, 60000, a, caps[a - 1]);
        /* Attempt 0 is treated as the first. */
        check_range(500, 60000, 0, 500);
        /* An initial delay above the maximum is capped at once. */
        check_range(90000, 60000, 1, 60000);
}

static void test_uniform_small_cap(void **state) {
        (void)state;
        /* cap 3: each of 0, 1, 2, 3 about a quarter of the time. */
        uint64_t rng  = 7;
        int counts[4] = {0};
        const int n   = 40000;
        for (int i = 0; i < n; i++) {
                int64_t d = pmw_backoff_delay_ms(3, 100, 1, -1, &rng);
                assert_true(d >= 0 && d <= 3);
                counts[d]++;
        }
        for (int v = 0; v < 4; v++) {
                assert_true(counts[v] > n / 4 - n / 40);
                assert_true(counts[v] < n / 4 + n / 40);
        }

        /* The delay is the generator's next draw modulo cap + 1 (for a cap
         * this small the rejection step never triggers). */
        uint64_t a = 99, b = 99;
        for (int i = 0; i < 100; i++) {
                int64_t d = pmw_backoff_delay_ms(500, 60000, 1, -1, &a);
                assert_int_equal(d, (int64_t)(pmw_rand_next(&b) % 501));
        }
}

static void test_no_overflow(void **state) {
        (void)state;
        static const unsigned attempts[] = {1,  2,  30,  61,      62,
                                            63, 64, 100, 1000000, UINT_MAX};
        uint64_t rng                     = 1;

        for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
                for (int k = 0; k < 100; k++) {
                        int64_t d = pmw_backoff_delay_ms(INT64_MAX, INT64_MAX,
                                                         attempts[i], -1, &rng);
                        assert_true(d >= 0);
                        d = pmw_backoff_delay_ms(500, 60000, attempts[i], -1,
                                                 &rng);
                        assert_true(d >= 0 && d <= 60000);
                        d = pmw_backoff_delay_ms(1, INT64_MAX, attempts[i],
                                                 INT64_MAX, &rng);
                        assert_true(d == INT64_MAX);
                }
        }
        /* 1 << 61 is still computed; from attempt 63 on the cap is max. */
        check_range(1, INT64_MAX, 62, INT64_C(1) << 61);
        check_range(1, INT64_MAX, 63, INT64_MAX);
        check_range(INT64_MAX / 2 + 1, INT64_MAX, 2, INT64_MAX);
}

static void test_degenerate_settings(void **state) {
        (void)state;
        uint64_t rng = 5;
        for (unsigned a = 1; a < 70; a++) {
                assert_int_equal(pmw_backoff_delay_ms(0, 60000, a, -1, &rng),
                                 0);
                assert_int_equal(pmw_backoff_delay_ms(-5, 60000, a, -1, &rng),
                                 0);
                assert_int_equal(pmw_backoff_delay_ms(500, 0, a, -1, &rng), 0);
                assert_int_equal(pmw_backoff_delay_ms(500, -1, a, 100, &rng),
                                 0);
                /* Retry-After with no backoff configured: honoured up to
                 * the maximum. */
                assert_int_equal(pmw_backoff_delay_ms(0, 60000, a, 700, &rng),
                                 700);
        }
}

static void test_retry_after(void **state) {
        (void)state;
        uint64_t rng = 2024;

        for (int i = 0; i < 1000; i++) {
                /* Above every jittered delay of attempt 1 (cap 500). */
                assert_int_equal(
                    pmw_backoff_delay_ms(500, 60000, 1, 5000, &rng), 5000);
                /* Bounded by retry.max_backoff_ms. */
                assert_int_equal(
                    pmw_backoff_delay_ms(500, 60000, 1, 120000, &rng), 60000);
                assert_int_equal(
                    pmw_backoff_delay_ms(500, 60000, 3, INT64_MAX, &rng),
                    60000);
        }

        /* max(Retry-After, jittered): the same draw with and without. */
        for (int i = 0; i < 1000; i++) {
                uint64_t a = (uint64_t)i, b = (uint64_t)i;
                int64_t jitter = pmw_backoff_delay_ms(500, 60000, 8, -1, &a);
                int64_t d      = pmw_backoff_delay_ms(500, 60000, 8, 30000, &b);
                assert_int_equal(d, jitter > 30000 ? jitter : 30000);
                assert_true(a == b); /* one draw either way */
                a = b  = (uint64_t)i;
                jitter = pmw_backoff_delay_ms(500, 60000, 8, -1, &a);
                assert_int_equal(pmw_backoff_delay_ms(500, 60000, 8, 0, &b),
                                 jitter);
        }
}

/* 2015-10-21T07:28:00Z, the RFC 9110 example date. */
#define OCT21 INT64_C(1445412480000)

static int64_t ra_ok(const char *value, int64_t now) {
        int64_t ms = -12345;
        if (!pmw_backoff_parse_retry_after(value, now, &ms))
                fail_msg("refused \"%s\"", value);
        return ms;
}

static void ra_bad_at(const char *value, int64_t now) {
        int64_t ms = -12345;
        if (pmw_backoff_parse_retry_after(value, now, &ms))
                fail_msg("accepted \"%s\" as %lld", value, (long long)ms);
        assert_int_equal(ms, -12345); /* untouched */
}

static void ra_bad(const char *value) {
        ra_bad_at(value, OCT21);
}

static void test_parse_delta_seconds(void **state) {
        (void)state;
        assert_int_equal(ra_ok("120", 0), 120000);
        assert_int_equal(ra_ok("0", 0), 0);
        assert_int_equal(ra_ok("007", 0), 7000);
        assert_int_equal(ra_ok(" \t120\t ", 0), 120000);
        /* The current time does not matter for a delta. */
        assert_int_equal(ra_ok("1", INT64_MIN), 1000);
        /* Huge values clamp to 2^31 s (RFC 9111 1.2.2), never overflow. */
        assert_int_equal(ra_ok("2147483647", 0), INT64_C(2147483647000));
        assert_int_equal(ra_ok("2147483648", 0), PMW_RETRY_AFTER_MAX_MS);
        assert_int_equal(ra_ok("2147483649", 0), PMW_RETRY_AFTER_MAX_MS);
        assert_int_equal(ra_ok("99999999999999999999999999999999999999", 0),
                         PMW_RETRY_AFTER_MAX_MS);

        ra_bad("");
        ra_bad(" \t ");
        ra_bad("-1");
        ra_bad("+1");
        ra_bad("1.5");
        ra_bad("12a");
        ra_bad("1 2");
        ra_bad("0x10");
        ra_bad("soon");
}

static void test_parse_http_date(void **state) {
        (void)state;
        /* The three forms of RFC 9110 5.6.7, 30 s ahead of now. */
        assert_int_equal(ra_ok("Wed, 21 Oct 2015 07:28:30 GMT", OCT21), 30000);
        assert_int_equal(ra_ok("Wednesday, 21-Oct-15 07:28:30 GMT", OCT21),
                         30000);
        assert_int_equal(ra_ok("Wed Oct 21 07:28:30 2015", OCT21), 30000);
        /* asctime pads a one-digit day with a space. */
        assert_int_equal(
            ra_ok("Sun Nov  6 08:49:37 1994", INT64_C(784111777000) - 1500),
            1500);
        assert_int_equal(
            ra_ok("Sun, 06 Nov 1994 08:49:37 GMT", INT64_C(784111777000) - 1),
            1);
        /* Names in any case; surrounding blanks; a wrong weekday is not
         * checked. */
        assert_int_equal(ra_ok(" wed, 21 OCT 2015 07:28:30 gmt\t", OCT21),
                         30000);
        assert_int_equal(ra_ok("Mon, 21 Oct 2015 07:29:00 GMT", OCT21), 60000);
        /* Leap day, and a leap second. */
        assert_int_equal(
            ra_ok("Mon, 29 Feb 2016 12:00:00 GMT", INT64_C(1456747200000) - 10),
            10);
        assert_int_equal(ra_ok("Wed, 21 Oct 2015 07:28:60 GMT", OCT21), 60000);
        /* In the past, or now: no wait. */
        assert_int_equal(ra_ok("Wed, 21 Oct 2015 07:28:00 GMT", OCT21), 0);
        assert_int_equal(ra_ok("Wed, 21 Oct 2015 07:27:59 GMT", OCT21), 0);
        assert_int_equal(ra_ok("Thu, 01 Jan 1970 00:00:00 GMT", OCT21), 0);
        assert_int_equal(ra_ok("Mon, 01 Jan 0001 00:00:00 GMT", INT64_MAX), 0);
        /* Far future, or a clock far in the past: clamped. */
        assert_int_equal(ra_ok("Fri, 31 Dec 9999 23:59:59 GMT", OCT21),
                         PMW_RETRY_AFTER_MAX_MS);
        assert_int_equal(ra_ok("Wed, 21 Oct 2015 07:28:30 GMT", INT64_MIN),
                         PMW_RETRY_AFTER_MAX_MS);
}

static void test_parse_rfc850_year(void **state) {
        (void)state;
        /* Now: 2026-11-27. "70" is 2070 (44 years ahead); "94" would be
         * 2094, more than 50 years ahead, so it is 1994 (RFC 9110). */
        const int64_t now = INT64_C(1795737600000);
        assert_int_equal(ra_ok("Saturday, 28-Nov-26 00:00:00 GMT", now),
                         86400000);
        assert_int_equal(ra_ok("Sunday, 06-Nov-94 08:49:37 GMT", now), 0);
        int64_t y2070 = pmw_days_from_civil(2070, 1, 1) * 86400000;
        assert_int_equal(y2070, INT64_C(3155760000000));
        assert_int_equal(ra_ok("Wednesday, 01-Jan-70 00:00:00 GMT", now),
                         y2070 - now);
        /* The edges of the window: 2076 is 50 years ahead, 2077 is 51. */
        assert_int_equal(ra_ok("Wednesday, 01-Jan-76 00:00:00 GMT", now),
                         pmw_days_from_civil(2076, 1, 1) * 86400000 - now);
        assert_int_equal(ra_ok("Saturday, 01-Jan-77 00:00:00 GMT", now), 0);
        /* Now: 1999-12-31T23:59:59Z; "00" is 2000, one second ahead. */
        assert_int_equal(
            ra_ok("Saturday, 01-Jan-00 00:00:00 GMT", INT64_C(946684799000)),
            1000);
        /* A clock outside years 50..9949 puts the century outside what an
         * HTTP-date can hold: refused, without overflow. */
        ra_bad_at("Saturday, 01-Jan-00 00:00:00 GMT", INT64_MAX);
        ra_bad_at("Saturday, 01-Jan-00 00:00:00 GMT", INT64_MIN);
        ra_bad_at("Saturday, 01-Jan-00 00:00:00 GMT",
                  pmw_days_from_civil(9999, 1, 1) * 86400000);
}

static void test_parse_bad_dates(void **state) {
        (void)state;
        ra_bad("Wed, 32 Oct 2015 07:28:00 GMT");
        ra_bad("Wed, 00 Oct 2015 07:28:00 GMT");
        ra_bad("Sun, 29 Feb 2015 07:28:00 GMT"); /* not a leap year */
        ra_bad("Thu, 31 Apr 2015 07:28:00 GMT");
        ra_bad("Wed, 21 Oct 2015 24:00:00 GMT");
        ra_bad("Wed, 21 Oct 2015 07:60:00 GMT");
        ra_bad("Wed, 21 Oct 2015 07:28:61 GMT");
        ra_bad("Wed, 21 Oct 2015 07:28:00 UTC");
        ra_bad("Wed, 21 Oct 2015 07:28:00 +0000");
        ra_bad("Wed, 21 Oct 2015 07:28:00");
        ra_bad("Wed, 21 Oct 2015 07:28 GMT");
        ra_bad("Wed, 21 Oct 15 07:28:00 GMT");   /* 2-digit year, fixdate */
        ra_bad("Wed, 1 Oct 2015 07:28:00 GMT");  /* 1-digit day */
        ra_bad("Wed, 21 Foo 2015 07:28:00 GMT"); /* month */
        ra_bad("Xyz, 21 Oct 2015 07:28:00 GMT"); /* weekday */
        ra_bad("21 Oct 2015 07:28:00 GMT");      /* no weekday */
        ra_bad("Wed,21 Oct 2015 07:28:00 GMT");
        ra_bad("Wed, 21  Oct 2015 07:28:00 GMT");
        ra_bad("Wed, 21 Oct 2015 07:28:00 GMT junk");
        ra_bad("Wed, 21 Oct 2015 07:28:00 GMTX");
        ra_bad("Wednesday, 21-Oct-2015 07:28:00 GMT");
        ra_bad("Wednesday, 21-Oct-15 07:28:00");
        ra_bad("Wed Oct 21 07:28:00 15");
        ra_bad("Wed Oct 21 07:28:00 2015 GMT");
        ra_bad("Wed Oct 6 07:28:00 2015"); /* one-digit day needs a pad */
        ra_bad("Wed Oct 21 07:28:00");
        ra_bad("Wed");
        ra_bad("Wed,");
        ra_bad("2015-10-21T07:28:00Z");
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rand_reference),
            cmocka_unit_test(test_exponential_caps),
            cmocka_unit_test(test_uniform_small_cap),
            cmocka_unit_test(test_no_overflow),
            cmocka_unit_test(test_degenerate_settings),
            cmocka_unit_test(test_retry_after),
            cmocka_unit_test(test_parse_delta_seconds),
            cmocka_unit_test(test_parse_http_date),
            cmocka_unit_test(test_parse_rfc850_year),
            cmocka_unit_test(test_parse_bad_dates),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
