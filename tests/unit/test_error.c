/* Unit tests for common/error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/error.h"

static void test_new_formats_message(void **state) {
        (void)state;
        pmw_error_t *err = pmw_error_new(PMW_ERR_INVALID, "key %s: %d", "a", 7);
        assert_int_equal(pmw_error_code(err), PMW_ERR_INVALID);
        assert_string_equal(pmw_error_string(err), "key a: 7");
        assert_false(pmw_error_is_retriable(err));
        pmw_error_destroy(err);
}

static void test_retriable(void **state) {
        (void)state;
        pmw_error_t *err = pmw_error_new_retriable(PMW_ERR_TRANSPORT, "x");
        assert_true(pmw_error_is_retriable(err));
        pmw_error_destroy(err);
}

static void test_prefix_twice(void **state) {
        (void)state;
        pmw_error_t *err = pmw_error_new(PMW_ERR_IO, "No such file");
        err              = pmw_error_prefix(err, "open %s", "/x");
        err              = pmw_error_prefix(err, "config");
        assert_string_equal(pmw_error_string(err),
                            "config: open /x: No such file");
        assert_int_equal(pmw_error_code(err), PMW_ERR_IO);
        pmw_error_destroy(err);
}

static void test_destroy_null(void **state) {
        (void)state;
        pmw_error_destroy(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_new_formats_message),
            cmocka_unit_test(test_retriable),
            cmocka_unit_test(test_prefix_twice),
            cmocka_unit_test(test_destroy_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
