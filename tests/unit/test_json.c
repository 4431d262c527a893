/* Unit tests for tests/kafka-tool/json: the compact writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include <jansson.h>

#include "tests/kafka-tool/json.h"

/* Parses text with jansson, writes it back, compares with want. */
static void check_roundtrip(const char *text, const char *want) {
        json_error_t jerr;
        json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
        assert_non_null(v);
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1 << 20);
        pmw_json_write(&buf, v);
        assert_false(pmw_buf_failed(&buf));
        assert_string_equal(pmw_buf_ptr(&buf), want);
        pmw_buf_cleanup(&buf);
        json_decref(v);
}

static void check_real(double d, const char *want) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 64);
        pmw_json_write_real(&buf, d);
        assert_string_equal(pmw_buf_ptr(&buf), want);
        pmw_buf_cleanup(&buf);
}

static void test_reals_shortest(void **state) {
        (void)state;
        /* json_dumps would print 19.989999999999998. */
        check_roundtrip("19.99", "19.99");
        check_roundtrip("1.5e300", "1.5e+300");
        check_roundtrip("0.1", "0.1");
        check_roundtrip("-2.5E-3", "-0.0025");
        check_roundtrip("1.0", "1.0");
        check_roundtrip("100.0", "100.0");
        check_roundtrip("1e5", "100000.0");
        check_roundtrip("-0.0", "-0.0");
        check_roundtrip("1e22", "1e+22");
        check_real(0.1 + 0.2, "0.30000000000000004");
        check_real(1.0 / 3.0, "0.3333333333333333");
        check_real(123456789012345678.0, "1.2345678901234568e+17");
        check_real(1.7976931348623157e308, "1.7976931348623157e+308");
        check_real(NAN, "null");
        check_real(INFINITY, "null");
}

static void test_reals_roundtrip(void **state) {
        (void)state;
        /* Awkward values: each must read back bit for bit, as a real. */
        const double vals[] = {5e-324,  2.2250738585072014e-308, 0.1,
                               1e-7,    9007199254740993.0,      4.35,
                               -1e-300, 3.141592653589793};
        for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
                pmw_buf_t buf;
                pmw_buf_init(&buf, 64);
                pmw_json_write_real(&buf, vals[i]);
                json_error_t jerr;
                json_t *v =
                    json_loads(pmw_buf_ptr(&buf), JSON_DECODE_ANY, &jerr);
                assert_non_null(v);
                assert_true(json_is_real(v));
                assert_true(json_real_value(v) == vals[i]);
                json_decref(v);
                pmw_buf_cleanup(&buf);
        }
}

static void test_values(void **state) {
        (void)state;
        check_roundtrip(
            "{ \"b\" : 1, \"a\" : [true, false, null, -7],"
            " \"c\": {} , \"d\": [] }",
            "{\"b\":1,\"a\":[true,false,null,-7],\"c\":{},"
            "\"d\":[]}");
        check_roundtrip("-9223372036854775808", "-9223372036854775808");
        check_roundtrip("9223372036854775807", "9223372036854775807");
        /* Non-ASCII is copied as UTF-8; only what JSON requires is
         * escaped. */
        check_roundtrip(
            "\"caf\\u00e9 \\ud83d\\udce7 \\\"q\\\" \\\\ \\n\\t\\u0001"
            " \\/\"",
            "\"caf\xc3\xa9 \xf0\x9f\x93\xa7 \\\"q\\\" \\\\ "
            "\\n\\t\\u0001 /\"");
        /* Keys keep their order and are escaped like strings. */
        check_roundtrip(
            "{\"z\":1,\"a\\\"b\":2,\"m\":{\"y\":[1.5,{\"x\":null}]}}",
            "{\"z\":1,\"a\\\"b\":2,\"m\":{\"y\":[1.5,{\"x\":null}]}}");
}

static void check_utf8(const char *in, size_t len, const char *want) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1024);
        pmw_buf_append_json_utf8(&buf, in, len);
        assert_false(pmw_buf_failed(&buf));
        assert_string_equal(pmw_buf_ptr(&buf), want);
        /* Same output as the repairing writer for valid input. */
        pmw_buf_t ref;
        pmw_buf_init(&ref, 1024);
        pmw_buf_append_json_str(&ref, in, len);
        assert_string_equal(pmw_buf_ptr(&ref), want);
        pmw_buf_cleanup(&ref);
        pmw_buf_cleanup(&buf);
}

static void test_write_utf8(void **state) {
        (void)state;
        check_utf8("", 0, "\"\"");
        check_utf8("plain", 5, "\"plain\"");
        check_utf8("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
        check_utf8("\n\r\t\x01\x1f\x7f", 6, "\"\\n\\r\\t\\u0001\\u001f\x7f\"");
        check_utf8("a\0b", 3, "\"a\\u0000b\"");
        check_utf8("caf\xc3\xa9 \xf0\x9f\x93\xa7\"", 11,
                   "\"caf\xc3\xa9 \xf0\x9f\x93\xa7\\\"\"");
        /* Escape at both ends. */
        check_utf8("\"x\"", 3, "\"\\\"x\\\"\"");
}

static void test_buffer_limit(void **state) {
        (void)state;
        json_t *v = json_pack("{s:s}", "key", "a fairly long value here");
        pmw_buf_t buf;
        pmw_buf_init(&buf, 10);
        pmw_json_write(&buf, v);
        assert_true(pmw_buf_failed(&buf));
        pmw_buf_cleanup(&buf);
        json_decref(v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_reals_shortest),
            cmocka_unit_test(test_reals_roundtrip),
            cmocka_unit_test(test_values),
            cmocka_unit_test(test_write_utf8),
            cmocka_unit_test(test_buffer_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
