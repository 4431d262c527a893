/* Unit tests for common/buf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"

static void test_append_and_take(void **state) {
        (void)state;
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1024);
        assert_string_equal(pmw_buf_ptr(&buf), "");
        pmw_buf_append_str(&buf, "abc");
        pmw_buf_append_char(&buf, '-');
        pmw_buf_appendf(&buf, "%d/%s", 42, "x");
        pmw_buf_append_int(&buf, -9223372036854775807LL - 1);
        assert_string_equal(pmw_buf_ptr(&buf), "abc-42/x-9223372036854775808");
        assert_false(pmw_buf_failed(&buf));
        size_t len;
        char *s = pmw_buf_take(&buf, &len);
        assert_int_equal(len, strlen(s));
        assert_int_equal(pmw_buf_len(&buf), 0);
        free(s);
        pmw_buf_cleanup(&buf);
}

static void test_limit_is_sticky(void **state) {
        (void)state;
        pmw_buf_t buf;
        pmw_buf_init(&buf, 5);
        pmw_buf_append_str(&buf, "12345");
        assert_false(pmw_buf_failed(&buf));
        pmw_buf_append_char(&buf, '6');
        assert_true(pmw_buf_failed(&buf));
        pmw_buf_reset(&buf);
        assert_false(pmw_buf_failed(&buf));
        pmw_buf_append_str(&buf, "123456");
        assert_true(pmw_buf_failed(&buf));
        /* A failed buffer ignores appends that would fit. */
        pmw_buf_append_str(&buf, "1");
        assert_int_equal(pmw_buf_len(&buf), 0);
        pmw_buf_cleanup(&buf);
}

static void test_truncate(void **state) {
        (void)state;
        pmw_buf_t buf;
        pmw_buf_init(&buf, 100);
        pmw_buf_append_str(&buf, "hello, world");
        pmw_buf_truncate(&buf, 5);
        assert_string_equal(pmw_buf_ptr(&buf), "hello");
        pmw_buf_cleanup(&buf);
}

static void check_json(const char *in, size_t len, const char *want) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1024);
        pmw_buf_append_json_str(&buf, in, len);
        assert_string_equal(pmw_buf_ptr(&buf), want);
        pmw_buf_cleanup(&buf);
}

static void test_json_str(void **state) {
        (void)state;
        check_json("plain", 5, "\"plain\"");
        check_json("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
        check_json("\n\r\t\x01", 4, "\"\\n\\r\\t\\u0001\"");
        check_json("caf\xc3\xa9 \xf0\x9f\x93\xa7", 10,
                   "\"caf\xc3\xa9 \xf0\x9f\x93\xa7\"");
        /* Invalid UTF-8: lone continuation, truncated sequence, overlong,
         * surrogate. */
        check_json("a\x80z", 3, "\"a\xef\xbf\xbdz\"");
        check_json("a\xc3", 2, "\"a\xef\xbf\xbd\"");
        check_json("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
        check_json("\xed\xa0\x80", 3,
                   "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
        /* Embedded NUL. */
        check_json("a\0b", 3, "\"a\\u0000b\"");
}

static void test_utf8_prefix(void **state) {
        (void)state;
        assert_int_equal(pmw_utf8_valid_prefix("abc", 3), 3);
        assert_int_equal(pmw_utf8_valid_prefix("ab\xc3\xa9", 4), 4);
        assert_int_equal(pmw_utf8_valid_prefix("ab\xc3", 3), 2);
        assert_int_equal(pmw_utf8_valid_prefix("\xf4\x90\x80\x80", 4), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_append_and_take),
            cmocka_unit_test(test_limit_is_sticky),
            cmocka_unit_test(test_truncate),
            cmocka_unit_test(test_json_str),
            cmocka_unit_test(test_utf8_prefix),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
