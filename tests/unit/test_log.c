/* Unit tests for common/log: levels, formats, secret masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/log.h"

static pmw_buf_t captured;

static void sink(void *opaque, const char *line, size_t len) {
        (void)opaque;
        pmw_buf_append(&captured, line, len);
}

static int setup(void **state) {
        (void)state;
        pmw_buf_init(&captured, 1 << 20);
        pmw_log_set_sink(sink, NULL);
        pmw_log_setup(PMW_LOG_NOTICE, PMW_LOG_FORMAT_TEXT);
        return 0;
}

static int teardown(void **state) {
        (void)state;
        pmw_log_set_sink(NULL, NULL);
        pmw_log_clear_secrets();
        pmw_buf_cleanup(&captured);
        return 0;
}

static int evaluated;
static int side_effect(void) {
        return ++evaluated;
}

static void test_level_filter(void **state) {
        (void)state;
        pmw_log(PMW_LOG_DEBUG, "test", "hidden %d", side_effect());
        assert_int_equal(pmw_buf_len(&captured), 0);
        assert_int_equal(evaluated, 0); /* arguments not evaluated */
        pmw_log(PMW_LOG_NOTICE, "test", "shown %d", 1);
        assert_non_null(
            strstr(pmw_buf_ptr(&captured), " NOTICE test: shown 1\n"));
}

static void test_newlines_flattened(void **state) {
        (void)state;
        pmw_log(PMW_LOG_ERROR, "test", "a\nforged line");
        const char *out = pmw_buf_ptr(&captured);
        assert_non_null(strstr(out, "a forged line\n"));
        assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void test_secrets_masked(void **state) {
        (void)state;
        pmw_log_add_secret("abc"); /* too short: ignored */
        pmw_log_add_secret("tok-1234-secret");
        pmw_log(PMW_LOG_WARN, "test",
                "token=tok-1234-secret again "
                "tok-1234-secret abc");
        const char *out = pmw_buf_ptr(&captured);
        assert_null(strstr(out, "tok-1234-secret"));
        assert_non_null(strstr(out, "token=**** again **** abc"));

        /* The same for text that leaves another way (/ready). */
        pmw_buf_t text;
        pmw_buf_init(&text, 256);
        pmw_buf_append_str(&text, "proxy said: tok-1234-secret refused");
        pmw_log_mask(&text);
        assert_string_equal(pmw_buf_ptr(&text), "proxy said: **** refused");
        pmw_buf_cleanup(&text);
}

static void test_json_format(void **state) {
        (void)state;
        pmw_log_setup(PMW_LOG_INFO, PMW_LOG_FORMAT_JSON);
        pmw_log_add_secret("s3cr3t\"x");
        pmw_log(PMW_LOG_INFO, "kafka", "quote \" s3cr3t\"x tab\t");
        json_error_t jerr;
        json_t *obj = json_loads(pmw_buf_ptr(&captured), 0, &jerr);
        assert_non_null(obj);
        assert_string_equal(json_string_value(json_object_get(obj, "level")),
                            "info");
        assert_string_equal(json_string_value(json_object_get(obj, "event")),
                            "kafka");
        assert_string_equal(json_string_value(json_object_get(obj, "msg")),
                            "quote \" **** tab\t");
        assert_non_null(json_string_value(json_object_get(obj, "time")));
        json_decref(obj);
        pmw_log_setup(PMW_LOG_NOTICE, PMW_LOG_FORMAT_TEXT);
}

static void test_json_context_fields(void **state) {
        (void)state;
        pmw_log_setup(PMW_LOG_INFO, PMW_LOG_FORMAT_JSON);
        pmw_log(PMW_LOG_INFO, "job",
                "job=order-7 partition=3 offset=0012 status=sent attempt=-2 "
                "1x=no msg=no bare words: text a=b, c=d");
        json_error_t jerr;
        json_t *obj = json_loads(pmw_buf_ptr(&captured), 0, &jerr);
        assert_non_null(obj);
        assert_string_equal(json_string_value(json_object_get(obj, "event")),
                            "job");
        assert_string_equal(json_string_value(json_object_get(obj, "job")),
                            "order-7");
        assert_int_equal(json_integer_value(json_object_get(obj, "partition")),
                         3);
        /* A leading zero keeps the value a string (0012 is not JSON). */
        assert_string_equal(json_string_value(json_object_get(obj, "offset")),
                            "0012");
        assert_string_equal(json_string_value(json_object_get(obj, "status")),
                            "sent");
        assert_int_equal(json_integer_value(json_object_get(obj, "attempt")),
                         -2);
        /* Not keys: a leading digit, the line's own names, and anything
         * after the first ": " (quoted text). */
        assert_null(json_object_get(obj, "1x"));
        assert_string_equal(json_string_value(json_object_get(obj, "msg")),
                            "job=order-7 partition=3 offset=0012 status=sent "
                            "attempt=-2 1x=no msg=no bare words: text a=b, "
                            "c=d");
        assert_null(json_object_get(obj, "a"));
        assert_null(json_object_get(obj, "c"));
        json_decref(obj);
        pmw_log_setup(PMW_LOG_NOTICE, PMW_LOG_FORMAT_TEXT);
}

static void test_long_line_cut(void **state) {
        (void)state;
        char big[20000];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        pmw_log(PMW_LOG_ERROR, "test", "%s", big);
        const char *out = pmw_buf_ptr(&captured);
        assert_true(strlen(out) < 8300);
        assert_non_null(strstr(out, "...\n"));
}

static void test_level_names(void **state) {
        (void)state;
        assert_string_equal(pmw_log_level_name(PMW_LOG_WARN), "warn");
        assert_string_equal(pmw_log_level_name(PMW_LOG_DEBUG), "debug");
        assert_string_equal(pmw_log_level_name((pmw_log_level_t)42), "unknown");
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
            cmocka_unit_test_setup_teardown(test_newlines_flattened, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_secrets_masked, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_json_format, setup, teardown),
            cmocka_unit_test_setup_teardown(test_json_context_fields, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_long_line_cut, setup,
                                            teardown),
            cmocka_unit_test(test_level_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
