/* Unit tests for common/clock: RFC 3339 parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/clock.h"

static int64_t parse_ok(const char *s) {
        int64_t ms       = -1;
        pmw_error_t *err = pmw_time_parse_rfc3339(s, strlen(s), &ms);
        if (err)
                fail_msg("%s: %s", s, pmw_error_string(err));
        return ms;
}

static void parse_bad(const char *s) {
        int64_t ms       = 12345;
        pmw_error_t *err = pmw_time_parse_rfc3339(s, strlen(s), &ms);
        if (!err)
                fail_msg("accepted \"%s\"", s);
        assert_int_equal(pmw_error_code(err), PMW_ERR_PARSE);
        assert_int_equal(ms, 12345); /* untouched on error */
        pmw_error_destroy(err);
}

static void test_parse_valid(void **state) {
        (void)state;
        assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
        assert_int_equal(parse_ok("2026-11-27T19:30:00Z"), 1795807800000LL);
        assert_int_equal(parse_ok("2026-11-27T20:30:00+01:00"),
                         1795807800000LL);
        assert_int_equal(parse_ok("2026-11-27T14:00:00-05:30"),
                         1795807800000LL);
        assert_int_equal(parse_ok("2026-11-27t19:30:00.5z"), 1795807800500LL);
        assert_int_equal(parse_ok("2026-11-27 19:30:00.123456789Z"),
                         1795807800123LL);
        /* Leap day and leap second. */
        assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), 1709164800000LL);
        assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), 1483228799999LL);
        /* Before the epoch. */
        assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -1000);
}

static void test_parse_invalid(void **state) {
        (void)state;
        parse_bad("");
        parse_bad("2026-11-27");
        parse_bad("2026-11-27T19:30:00");       /* no offset */
        parse_bad("2026-11-27T19:30Z");         /* no seconds */
        parse_bad("2026-13-01T00:00:00Z");      /* month */
        parse_bad("2025-02-29T00:00:00Z");      /* not a leap year */
        parse_bad("2026-11-27T24:00:00Z");      /* hour */
        parse_bad("2026-11-27T19:30:00.Z");     /* empty fraction */
        parse_bad("2026-11-27T19:30:00+0100");  /* offset needs a colon */
        parse_bad("2026-11-27T19:30:00Z junk"); /* trailing text */
        parse_bad("tomorrow");
}

static void test_parse_not_nul_terminated(void **state) {
        (void)state;
        const char s[] = "2026-11-27T19:30:00Zgarbage";
        int64_t ms;
        assert_null(pmw_time_parse_rfc3339(s, 20, &ms));
        assert_int_equal(ms, 1795807800000LL);
}

static void test_format(void **state) {
        (void)state;
        char out[PMW_RFC3339_MS_SIZE];
        assert_int_equal(pmw_time_format_rfc3339_ms(0, out), 24);
        assert_string_equal(out, "1970-01-01T00:00:00.000Z");
        pmw_time_format_rfc3339_ms(1795807800123LL, out);
        assert_string_equal(out, "2026-11-27T19:30:00.123Z");
        pmw_time_format_rfc3339_ms(1709164800000LL + 86399999, out);
        assert_string_equal(out, "2024-02-29T23:59:59.999Z");
        pmw_time_format_rfc3339_ms(-5, out); /* clamped */
        assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

static void test_round_trip(void **state) {
        (void)state;
        char out[PMW_RFC3339_MS_SIZE];
        /* Every 997th hour over 60 years, plus odd milliseconds. */
        for (int64_t ms = 0; ms < 60LL * 365 * 86400000; ms += 3589000037LL) {
                pmw_time_format_rfc3339_ms(ms, out);
                assert_int_equal(parse_ok(out), ms);
        }
}

static void test_clocks_move(void **state) {
        (void)state;
        int64_t a = pmw_clock_mono_us();
        int64_t b = pmw_clock_mono_us();
        assert_true(b >= a);
        /* After 2020 and before 2200. */
        assert_true(pmw_clock_wall_ms() > 1577836800000LL);
        assert_true(pmw_clock_wall_ms() < 7258118400000LL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_valid),
            cmocka_unit_test(test_parse_invalid),
            cmocka_unit_test(test_parse_not_nul_terminated),
            cmocka_unit_test(test_format),
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_clocks_move),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
