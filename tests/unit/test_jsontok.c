/* Unit tests for common/jsontok (the project's JSON tokenizer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/defs.h"
#include "common/mem.h"
#include "common/jsontok.h"

static void parse_ok(pmw_jsontok_t *doc, const char *text) {
        pmw_error_t *err = pmw_jsontok_parse(doc, text, strlen(text), 0);
        if (err)
                fail_msg("%s: %s", text, pmw_error_string(err));
}

static void test_tokens_and_navigation(void **state) {
        (void)state;
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        const char *text =
            " {\"a\": [1, {\"b\": null}, \"x\"], \"c\": true, "
            "\"a\": false} ";
        parse_ok(&doc, text);
        assert_int_equal(doc.count, 12);
        assert_int_equal(doc.toks[0].type, PMW_JSONTOK_OBJECT);
        assert_int_equal(doc.toks[0].next, 12);
        /* Raw span of the root: from '{' to '}'. */
        assert_int_equal(doc.toks[0].start, 1);
        assert_int_equal(doc.toks[0].len, strlen(text) - 2);
        assert_int_equal(doc.toks[2].type, PMW_JSONTOK_ARRAY);
        assert_int_equal(doc.toks[2].next, 8);
        assert_memory_equal(pmw_jsontok_raw(&doc, 2),
                            "[1, {\"b\": null}, \"x\"]", doc.toks[2].len);
        /* The last "a" wins, as in jansson. */
        uint32_t a = pmw_jsontok_get(&doc, 0, "a");
        assert_int_equal(doc.toks[a].type, PMW_JSONTOK_FALSE);
        uint32_t c = pmw_jsontok_get(&doc, 0, "c");
        assert_int_equal(doc.toks[c].type, PMW_JSONTOK_TRUE);
        assert_int_equal(pmw_jsontok_get(&doc, 0, "zz"), 0);
        uint32_t inner = pmw_jsontok_get(&doc, 4, "b");
        assert_int_equal(doc.toks[inner].type, PMW_JSONTOK_NULL);
        pmw_jsontok_cleanup(&doc);
}

static void test_strings(void **state) {
        (void)state;
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        pmw_buf_t scratch;
        pmw_buf_init(&scratch, SIZE_MAX);
        size_t len;

        parse_ok(&doc,
                 "[\"plain\", \"a\\n\\\"\\\\\\/\\u00e9\\ud83d\\ude00z\", "
                 "\"\xc3\xa9\xf0\x9f\x98\x80\", \"\\u0000\"]");
        const char *s = pmw_jsontok_str(&doc, 1, &scratch, &len);
        assert_int_equal(len, 5);
        assert_memory_equal(s, "plain", 5);
        assert_true(pmw_jsontok_str_eq(&doc, 1, "plain"));
        assert_false(pmw_jsontok_str_eq(&doc, 1, "plai"));

        assert_true(doc.toks[2].flags & PMW_JSONTOK_F_ESCAPED);
        s                 = pmw_jsontok_str(&doc, 2, &scratch, &len);
        const char want[] = "a\n\"\\/\xc3\xa9\xf0\x9f\x98\x80z";
        assert_int_equal(len, sizeof(want) - 1);
        assert_memory_equal(s, want, len);
        assert_true(pmw_jsontok_str_eq(&doc, 2, want));
        /* UTF-16 units: a \n " \ / é (1) 😀 (2) z = 9. */
        assert_int_equal(pmw_jsontok_str_utf16_len(&doc, 2), 9);
        /* Raw UTF-8: é is 1 unit, the emoji 2. */
        assert_int_equal(pmw_jsontok_str_utf16_len(&doc, 3), 3);

        s = pmw_jsontok_str(&doc, 4, &scratch, &len);
        assert_int_equal(len, 1);
        assert_int_equal(s[0], '\0');

        pmw_buf_reset(&scratch);
        pmw_jsontok_str_append(&doc, 1, &scratch);
        pmw_jsontok_str_append(&doc, 1, &scratch);
        assert_string_equal(pmw_buf_ptr(&scratch), "plainplain");
        pmw_buf_cleanup(&scratch);
        pmw_jsontok_cleanup(&doc);
}

static void test_numbers(void **state) {
        (void)state;
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        parse_ok(&doc,
                 "[0, -0, 123, 9223372036854775807, "
                 "-9223372036854775808, 9223372036854775808, 1.5, "
                 "1e3, -2E-2]");
        int64_t v;
        assert_true(pmw_jsontok_int(&doc, 1, &v));
        assert_int_equal(v, 0);
        assert_true(pmw_jsontok_int(&doc, 3, &v));
        assert_int_equal(v, 123);
        assert_true(pmw_jsontok_int(&doc, 4, &v));
        assert_true(v == INT64_MAX);
        assert_true(pmw_jsontok_int(&doc, 5, &v));
        assert_true(v == INT64_MIN);
        assert_false(pmw_jsontok_int(&doc, 6, &v)); /* overflow */
        assert_false(pmw_jsontok_int(&doc, 7, &v)); /* fraction */
        assert_false(pmw_jsontok_int(&doc, 8, &v)); /* exponent */
        assert_int_equal(doc.toks[9].type, PMW_JSONTOK_NUMBER);
        assert_int_equal(doc.toks[9].len, 5);
        pmw_jsontok_cleanup(&doc);
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
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        for (size_t i = 0; i < PMW_ARRAY_LEN(good); i++)
                parse_ok(&doc, good[i]);
        /* Exactly the maximum depth is fine, one more is not. */
        char *deep = pmw_malloc(2 * PMW_JSONTOK_MAX_DEPTH + 3);
        memset(deep, '[', PMW_JSONTOK_MAX_DEPTH);
        memset(deep + PMW_JSONTOK_MAX_DEPTH, ']', PMW_JSONTOK_MAX_DEPTH);
        deep[2 * PMW_JSONTOK_MAX_DEPTH] = '\0';
        parse_ok(&doc, deep);
        memset(deep, '[', PMW_JSONTOK_MAX_DEPTH + 1);
        memset(deep + PMW_JSONTOK_MAX_DEPTH + 1, ']',
               PMW_JSONTOK_MAX_DEPTH + 1);
        deep[2 * PMW_JSONTOK_MAX_DEPTH + 2] = '\0';
        pmw_error_t *err = pmw_jsontok_parse(&doc, deep, strlen(deep), 0);
        assert_non_null(err);
        assert_string_equal(pmw_error_string(err),
                            "offset 2048: nesting too deep");
        pmw_error_destroy(err);
        free(deep);
        pmw_jsontok_cleanup(&doc);
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
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        for (size_t i = 0; i < PMW_ARRAY_LEN(bad); i++) {
                pmw_error_t *err = pmw_jsontok_parse(&doc, bad[i].text,
                                                     strlen(bad[i].text), 0);
                if (err == NULL)
                        fail_msg("accepted: %s", bad[i].text);
                assert_int_equal(pmw_error_code(err), PMW_ERR_PARSE);
                if (strcmp(pmw_error_string(err), bad[i].error) != 0)
                        fail_msg("%s: got '%s', want '%s'", bad[i].text,
                                 pmw_error_string(err), bad[i].error);
                assert_int_equal(doc.count, 0);
                pmw_error_destroy(err);
        }
        pmw_jsontok_cleanup(&doc);
}

static void test_decoding(void **state) {
        (void)state;
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        parse_ok(&doc,
                 "[\"plain\", \"a\\n\\\"\\u00e9\\ud83d\\ude00\\/\", \"\", "
                 "\"\\u0041\"]");
        char out[64];
        /* Decoded lengths without decoding, then the bytes. */
        assert_int_equal(pmw_jsontok_str_len(&doc, 1), 5);
        assert_int_equal(pmw_jsontok_str_copy(&doc, 1, out), 5);
        assert_memory_equal(out, "plain", 5);
        const char want[] = "a\n\"\xc3\xa9\xf0\x9f\x98\x80/";
        assert_int_equal(pmw_jsontok_str_len(&doc, 2), sizeof(want) - 1);
        assert_int_equal(pmw_jsontok_str_copy(&doc, 2, out), sizeof(want) - 1);
        assert_memory_equal(out, want, sizeof(want) - 1);
        assert_int_equal(pmw_jsontok_str_len(&doc, 3), 0);
        assert_int_equal(pmw_jsontok_str_copy(&doc, 3, out), 0);

        /* Comparison as decoded, with lengths. */
        assert_true(pmw_jsontok_str_eqn(&doc, 2, want, sizeof(want) - 1));
        assert_false(pmw_jsontok_str_eqn(&doc, 2, want, sizeof(want) - 2));
        assert_false(pmw_jsontok_str_eqn(&doc, 2, "a\n\"\xc3\xa9X", 6));
        assert_true(pmw_jsontok_str_eqn(&doc, 3, "", 0));
        assert_false(pmw_jsontok_str_eqn(&doc, 3, "x", 1));
        assert_true(pmw_jsontok_str_eq(&doc, 4, "A"));
        assert_false(pmw_jsontok_str_eq(&doc, 4, "AB"));
        assert_false(pmw_jsontok_str_eq(&doc, 4, ""));
        pmw_jsontok_cleanup(&doc);
}

static void check_flags(unsigned flags, const char *text, const char *error) {
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        /* Without the flags the text is valid. */
        parse_ok(&doc, text);
        pmw_error_t *err = pmw_jsontok_parse(&doc, text, strlen(text), flags);
        if (error == NULL) {
                if (err)
                        fail_msg("%s: %s", text, pmw_error_string(err));
        } else {
                if (err == NULL)
                        fail_msg("accepted: %s", text);
                if (strcmp(pmw_error_string(err), error) != 0)
                        fail_msg("%s: got '%s', want '%s'", text,
                                 pmw_error_string(err), error);
                assert_int_equal(doc.count, 0);
        }
        pmw_error_destroy(err);
        pmw_jsontok_cleanup(&doc);
}

static void test_no_nul(void **state) {
        (void)state;
        check_flags(PMW_JSONTOK_NO_NUL, "[\"a\\u0000\"]",
                    "offset 3: \\u0000 is not allowed");
        check_flags(PMW_JSONTOK_NO_NUL, "{\"\\u0000\":1}",
                    "offset 2: \\u0000 is not allowed");
        check_flags(PMW_JSONTOK_NO_NUL, "[\"\\u0001\\u0100\"]", NULL);
}

static void test_no_duplicates(void **state) {
        (void)state;
        const unsigned f = PMW_JSONTOK_NO_DUPLICATES;
        check_flags(f, "{\"a\":1,\"b\":2,\"a\":3}",
                    "offset 13: duplicate object key");
        /* After unescaping, in either or both keys. */
        check_flags(f, "{\"a\":1,\"\\u0061\":2}",
                    "offset 7: duplicate object key");
        check_flags(f, "{\"\\u0061\":1,\"a\":2}",
                    "offset 12: duplicate object key");
        check_flags(f, "{\"\\u0061\":1,\"\\u0061\":2}",
                    "offset 12: duplicate object key");
        /* Nested objects are checked; other objects' keys do not count. */
        check_flags(f, "[{\"a\":{\"x\":1,\"x\":2}}]",
                    "offset 13: duplicate object key");
        check_flags(f, "{\"a\":{\"a\":1},\"b\":{\"a\":[{\"a\":2}]}}", NULL);
        check_flags(f, "{\"a\":1,\"A\":1,\"a \":1,\"\":1}", NULL);

        /* A large object goes through the sorted check: the first repeat
         * in the text is named. */
        pmw_buf_t big;
        pmw_buf_init(&big, SIZE_MAX);
        pmw_buf_append_char(&big, '{');
        for (int i = 0; i < 100; i++)
                pmw_buf_appendf(&big, "%s\"k%d\":%d", i ? "," : "", i, i);
        pmw_buf_append_char(&big, '}');
        check_flags(f, pmw_buf_ptr(&big), NULL);
        size_t len = pmw_buf_len(&big);
        pmw_buf_truncate(&big, len - 1);
        size_t at_k70 = pmw_buf_len(&big) + 1;
        pmw_buf_append_str(&big, ",\"k\\u0037\\u0030\":1,\"k5\":2}");
        char *want = NULL;
        pmw_buf_t w;
        pmw_buf_init(&w, 128);
        pmw_buf_appendf(&w, "offset %zu: duplicate object key", at_k70);
        want = pmw_buf_take(&w, NULL);
        check_flags(f, pmw_buf_ptr(&big), want);
        free(want);
        pmw_buf_cleanup(&big);
}

static void test_fit_numbers(void **state) {
        (void)state;
        const unsigned f              = PMW_JSONTOK_FIT_NUMBERS;
        static const char *const ok[] = {
            "[9223372036854775807]",
            "[-9223372036854775808]",
            "[123456789012345678]",
            "[1.7976931348623157e308]",
            "[179769313486231570000000000000000000000000000000000000000000000"
            "000000000000000000000000000000000000000000000000000000000000000000"
            "000000000000000000000000000000000000000000000000000000000000000000"
            "000000000000000000000000000000000000000000000000000000000000000000"
            "000000000000000000000000000000000000000000000.5]",
            "[1e-400]",
            "[0e999999999999999999]",
            "[-0.0000000001e317]",
            "[10e307]",
            "[0.1e309]",
            "[0.001e311]",
        };
        static const struct {
                const char *text;
                const char *error;
        } bad[] = {
            {"[9223372036854775808]", "offset 1: integer out of range"},
            {"[-9223372036854775809]", "offset 1: integer out of range"},
            {"[100000000000000000000000]", "offset 1: integer out of range"},
            {"[1e309]", "offset 1: real number overflow"},
            {"[-1.8e308]", "offset 1: real number overflow"},
            {"[1.7976931348623159e308]", "offset 1: real number overflow"},
            {"[100e307]", "offset 1: real number overflow"},
            {"[0.01e311]", "offset 1: real number overflow"},
            {"[1e99999999999999999999]", "offset 1: real number overflow"},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(ok); i++)
                check_flags(f, ok[i], NULL);
        for (size_t i = 0; i < PMW_ARRAY_LEN(bad); i++)
                check_flags(f, bad[i].text, bad[i].error);
}

static void test_append_compact(void **state) {
        (void)state;
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        pmw_buf_t out;
        pmw_buf_init(&out, SIZE_MAX);
        parse_ok(&doc,
                 " { \"a b\" : [ 1.50 , -0 , 1E+2, \"x \\\" , y\" ] ,\n"
                 "\t\"\\u00e9\": { } , \"n\" : null, \"t\": [ true,false ] } ");
        pmw_jsontok_append_compact(&doc, 0, &out);
        assert_string_equal(pmw_buf_ptr(&out),
                            "{\"a b\":[1.50,-0,1E+2,\"x \\\" , y\"],"
                            "\"\\u00e9\":{},\"n\":null,\"t\":[true,false]}");
        /* A string keeps its quotes and escapes; a scalar its text. */
        pmw_buf_reset(&out);
        pmw_jsontok_append_compact(&doc, 6, &out);
        pmw_jsontok_append_compact(&doc, 4, &out);
        pmw_jsontok_append_compact(&doc, 8, &out);
        assert_string_equal(pmw_buf_ptr(&out), "\"x \\\" , y\"-0{}");
        pmw_buf_cleanup(&out);
        pmw_jsontok_cleanup(&doc);
}

static void test_not_nul_terminated(void **state) {
        (void)state;
        /* The text is read only within its length. */
        char text[] = {'[', '1', ',', '2', ']', ']'};
        pmw_jsontok_t doc;
        pmw_jsontok_init(&doc);
        pmw_error_t *err = pmw_jsontok_parse(&doc, text, 5, 0);
        assert_null(err);
        assert_int_equal(doc.count, 3);
        err = pmw_jsontok_parse(&doc, text, 4, 0);
        assert_non_null(err);
        pmw_error_destroy(err);
        pmw_jsontok_cleanup(&doc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_tokens_and_navigation),
            cmocka_unit_test(test_strings),
            cmocka_unit_test(test_numbers),
            cmocka_unit_test(test_valid_edges),
            cmocka_unit_test(test_invalid),
            cmocka_unit_test(test_decoding),
            cmocka_unit_test(test_no_nul),
            cmocka_unit_test(test_no_duplicates),
            cmocka_unit_test(test_fit_numbers),
            cmocka_unit_test(test_append_compact),
            cmocka_unit_test(test_not_nul_terminated),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
