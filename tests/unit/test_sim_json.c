/* Unit tests for tests/postmark-sim/sim_json (the simulator's tokenizer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/defs.h"
#include "common/mem.h"
#include "tests/postmark-sim/sim_json.h"

static void parse_ok(pmw_sim_json_t *doc, const char *text) {
        pmw_error_t *err = pmw_sim_json_parse(doc, text, strlen(text));
        if (err)
                fail_msg("%s: %s", text, pmw_error_string(err));
}

static void test_tokens_and_navigation(void **state) {
        (void)state;
        pmw_sim_json_t doc;
        pmw_sim_json_init(&doc);
        const char *text =
            " {\"a\": [1, {\"b\": null}, \"x\"], \"c\": true, "
            "\"a\": false} ";
        parse_ok(&doc, text);
        assert_int_equal(doc.count, 12);
        assert_int_equal(doc.toks[0].type, PMW_SIM_JSON_OBJECT);
        assert_int_equal(doc.toks[0].next, 12);
        /* Raw span of the root: from '{' to '}'. */
        assert_int_equal(doc.toks[0].start, 1);
        assert_int_equal(doc.toks[0].len, strlen(text) - 2);
        assert_int_equal(doc.toks[2].type, PMW_SIM_JSON_ARRAY);
        assert_int_equal(doc.toks[2].next, 8);
        assert_memory_equal(pmw_sim_json_raw(&doc, 2),
                            "[1, {\"b\": null}, \"x\"]", doc.toks[2].len);
        /* The last "a" wins, as in jansson. */
        uint32_t a = pmw_sim_json_get(&doc, 0, "a");
        assert_int_equal(doc.toks[a].type, PMW_SIM_JSON_FALSE);
        uint32_t c = pmw_sim_json_get(&doc, 0, "c");
        assert_int_equal(doc.toks[c].type, PMW_SIM_JSON_TRUE);
        assert_int_equal(pmw_sim_json_get(&doc, 0, "zz"), 0);
        uint32_t inner = pmw_sim_json_get(&doc, 4, "b");
        assert_int_equal(doc.toks[inner].type, PMW_SIM_JSON_NULL);
        pmw_sim_json_cleanup(&doc);
}

static void test_strings(void **state) {
        (void)state;
        pmw_sim_json_t doc;
        pmw_sim_json_init(&doc);
        pmw_buf_t scratch;
        pmw_buf_init(&scratch, SIZE_MAX);
        size_t len;

        parse_ok(&doc,
                 "[\"plain\", \"a\\n\\\"\\\\\\/\\u00e9\\ud83d\\ude00z\", "
                 "\"\xc3\xa9\xf0\x9f\x98\x80\", \"\\u0000\"]");
        const char *s = pmw_sim_json_str(&doc, 1, &scratch, &len);
        assert_int_equal(len, 5);
        assert_memory_equal(s, "plain", 5);
        assert_true(pmw_sim_json_str_eq(&doc, 1, "plain"));
        assert_false(pmw_sim_json_str_eq(&doc, 1, "plai"));

        assert_true(doc.toks[2].flags & PMW_SIM_JSON_F_ESCAPED);
        s                 = pmw_sim_json_str(&doc, 2, &scratch, &len);
        const char want[] = "a\n\"\\/\xc3\xa9\xf0\x9f\x98\x80z";
        assert_int_equal(len, sizeof(want) - 1);
        assert_memory_equal(s, want, len);
        assert_true(pmw_sim_json_str_eq(&doc, 2, want));
        /* UTF-16 units: a \n " \ / é (1) 😀 (2) z = 9. */
        assert_int_equal(pmw_sim_json_str_utf16_len(&doc, 2), 9);
        /* Raw UTF-8: é is 1 unit, the emoji 2. */
        assert_int_equal(pmw_sim_json_str_utf16_len(&doc, 3), 3);

        s = pmw_sim_json_str(&doc, 4, &scratch, &len);
        assert_int_equal(len, 1);
        assert_int_equal(s[0], '\0');

        pmw_buf_reset(&scratch);
        pmw_sim_json_str_append(&doc, 1, &scratch);
        pmw_sim_json_str_append(&doc, 1, &scratch);
        assert_string_equal(pmw_buf_ptr(&scratch), "plainplain");
        pmw_buf_cleanup(&scratch);
        pmw_sim_json_cleanup(&doc);
}

static void test_numbers(void **state) {
        (void)state;
        pmw_sim_json_t doc;
        pmw_sim_json_init(&doc);
        parse_ok(&doc,
                 "[0, -0, 123, 9223372036854775807, "
                 "-9223372036854775808, 9223372036854775808, 1.5, "
                 "1e3, -2E-2]");
        int64_t v;
        assert_true(pmw_sim_json_int(&doc, 1, &v));
        assert_int_equal(v, 0);
        assert_true(pmw_sim_json_int(&doc, 3, &v));
        assert_int_equal(v, 123);
        assert_true(pmw_sim_json_int(&doc, 4, &v));
        assert_true(v == INT64_MAX);
        assert_true(pmw_sim_json_int(&doc, 5, &v));
        assert_true(v == INT64_MIN);
        assert_false(pmw_sim_json_int(&doc, 6, &v)); /* overflow */
        assert_false(pmw_sim_json_int(&doc, 7, &v)); /* fraction */
        assert_false(pmw_sim_json_int(&doc, 8, &v)); /* exponent */
        assert_int_equal(doc.toks[9].type, PMW_SIM_JSON_NUMBER);
        assert_int_equal(doc.toks[9].len, 5);
        pmw_sim_json_cleanup(&doc);
}

static void test_valid_edges(void **state) {
        (void)state;
        static const char *const good[] = {
            "{}",
            "[]",
            " \t\r\n[ ] ",
            "\"\"",
            "0",
            "true",
            "null",
            "[[[]]]",
            "{\"\":{}}",
            "\"\xe0\xa0\x80\"",
            "\"\xf4\x8f\xbf\xbf\"",
        };
        pmw_sim_json_t doc;
        pmw_sim_json_init(&doc);
        for (size_t i = 0; i < PMW_ARRAY_LEN(good); i++)
                parse_ok(&doc, good[i]);
        /* Exactly the maximum depth is fine, one more is not. */
        char *deep = pmw_malloc(2 * PMW_SIM_JSON_MAX_DEPTH + 3);
        memset(deep, '[', PMW_SIM_JSON_MAX_DEPTH);
        memset(deep + PMW_SIM_JSON_MAX_DEPTH, ']', PMW_SIM_JSON_MAX_DEPTH);
        deep[2 * PMW_SIM_JSON_MAX_DEPTH] = '\0';
        parse_ok(&doc, deep);
        memset(deep, '[', PMW_SIM_JSON_MAX_DEPTH + 1);
        memset(deep + PMW_SIM_JSON_MAX_DEPTH + 1, ']',
               PMW_SIM_JSON_MAX_DEPTH + 1);
        deep[2 * PMW_SIM_JSON_MAX_DEPTH + 2] = '\0';
        pmw_error_t *err = pmw_sim_json_parse(&doc, deep, strlen(deep));
        assert_non_null(err);
        assert_string_equal(pmw_error_string(err),
                            "offset 2048: nesting too deep");
        pmw_error_destroy(err);
        free(deep);
        pmw_sim_json_cleanup(&doc);
}

static void test_invalid(void **state) {
        (void)state;
        static const struct {
                const char *text;
                const char *error;
        } bad[] = {
            {"", "offset 0: unexpected end of input"},
            {"[", "offset 1: unexpected end of input"},
            {"[1,]", "offset 3: unexpected character"},
            {"[1 2]", "offset 3: expected ',' or ']'"},
            {"{\"a\"}", "offset 4: expected ':'"},
            {"{\"a\":1,}", "offset 7: expected a string key"},
            {"{\"a\":1 \"b\":2}", "offset 7: expected ',' or '}'"},
            {"{1:2}", "offset 1: expected a string key"},
            {"\"abc", "offset 0: unterminated string"},
            {"\"\\x\"", "offset 1: invalid escape"},
            {"\"\\u12g4\"", "offset 1: invalid \\u escape"},
            {"\"\\ud800\"", "offset 1: lone high surrogate"},
            {"\"\\ud800\\u0041\"", "offset 1: lone high surrogate"},
            {"\"\\udc00\"", "offset 1: lone low surrogate"},
            {"\"a\x01\"", "offset 2: control character in string"},
            {"\"\xff\"", "offset 1: invalid UTF-8"},
            {"\"\xc0\xaf\"", "offset 1: invalid UTF-8"},
            {"\"\xed\xa0\x80\"", "offset 1: invalid UTF-8"},
            {"\"\xf4\x90\x80\x80\"", "offset 1: invalid UTF-8"},
            {"\"\xe2\x82\"", "offset 1: invalid UTF-8"},
            {"[1] 2", "offset 4: trailing data after the value"},
            {"01", "offset 1: trailing data after the value"},
            {"1.", "offset 2: invalid number"},
            {"-", "offset 0: invalid number"},
            {"1e", "offset 2: invalid number"},
            {"tru", "offset 0: invalid literal"},
            {"nul", "offset 0: invalid literal"},
            {"'a'", "offset 0: unexpected character"},
        };
        pmw_sim_json_t doc;
        pmw_sim_json_init(&doc);
        for (size_t i = 0; i < PMW_ARRAY_LEN(bad); i++) {
                pmw_error_t *err =
                    pmw_sim_json_parse(&doc, bad[i].text, strlen(bad[i].text));
                if (err == NULL)
                        fail_msg("accepted: %s", bad[i].text);
                assert_int_equal(pmw_error_code(err), PMW_ERR_PARSE);
                if (strcmp(pmw_error_string(err), bad[i].error) != 0)
                        fail_msg("%s: got '%s', want '%s'", bad[i].text,
                                 pmw_error_string(err), bad[i].error);
                assert_int_equal(doc.count, 0);
                pmw_error_destroy(err);
        }
        pmw_sim_json_cleanup(&doc);
}

static void test_not_nul_terminated(void **state) {
        (void)state;
        /* The text is read only within its length. */
        char text[] = {'[', '1', ',', '2', ']', ']'};
        pmw_sim_json_t doc;
        pmw_sim_json_init(&doc);
        pmw_error_t *err = pmw_sim_json_parse(&doc, text, 5);
        assert_null(err);
        assert_int_equal(doc.count, 3);
        err = pmw_sim_json_parse(&doc, text, 4);
        assert_non_null(err);
        pmw_error_destroy(err);
        pmw_sim_json_cleanup(&doc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tokens_and_navigation),
            cmocka_unit_test(test_strings),
            cmocka_unit_test(test_numbers),
            cmocka_unit_test(test_valid_edges),
            cmocka_unit_test(test_invalid),
            cmocka_unit_test(test_not_nul_terminated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
