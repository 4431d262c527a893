/* Unit tests for common/postmark_batch: batch request bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "common/postmark_batch.h"

#define M1 "{\"From\":\"a@x.org\",\"To\":\"b@y.org\",\"TextBody\":\"1\"}"
#define M2 "{\"From\":\"a@x.org\",\"To\":\"c@y.org\",\"TextBody\":\"2\"}"
#define T1                                                                     \
        "{\"From\":\"a@x.org\",\"To\":\"b@y.org\",\"TemplateId\":1,"           \
        "\"TemplateModel\":{\"p\":19.99}}"

static bool add(pmw_batch_body_t *bb, const char *msg) {
        return pmw_batch_body_add(bb, msg, strlen(msg));
}

/* Parses body with jansson and returns the array of messages in it. */
static json_t *messages(const char *body, size_t len, pmw_endpoint_t ep) {
        json_error_t jerr;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null(root);
        json_t *array = root;
        if (ep == PMW_ENDPOINT_BATCH_TEMPLATES) {
                assert_true(json_is_object(root));
                assert_int_equal(json_object_size(root), 1);
                array = json_object_get(root, "Messages");
        }
        assert_true(json_is_array(array));
        json_incref(array);
        json_decref(root);
        return array;
}

static void test_batch_shape(void **state) {
        (void)state;
        pmw_batch_body_t bb;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 500, 1 << 20);
        assert_int_equal(pmw_batch_body_count(&bb), 0);
        assert_int_equal(pmw_batch_body_len(&bb), 2);
        assert_true(add(&bb, M1));
        assert_int_equal(pmw_batch_body_len(&bb), strlen("[" M1 "]"));
        assert_true(add(&bb, M2));
        assert_int_equal(pmw_batch_body_count(&bb), 2);
        assert_int_equal(pmw_batch_body_len(&bb), strlen("[" M1 "," M2 "]"));
        size_t len;
        const char *body = pmw_batch_body_finish(&bb, &len);
        assert_string_equal(body, "[" M1 "," M2 "]");
        assert_int_equal(len, strlen(body));
        assert_int_equal(pmw_batch_body_len(&bb), len);
        /* finish is idempotent, and a finished body takes nothing more. */
        assert_string_equal(pmw_batch_body_finish(&bb, &len), body);
        assert_false(pmw_batch_body_fits(&bb, 1));

        json_t *array = messages(body, len, PMW_ENDPOINT_BATCH);
        assert_int_equal(json_array_size(array), 2);
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(array, 1), "To")),
            "c@y.org");
        json_decref(array);
        pmw_batch_body_cleanup(&bb);
}

static void test_templates_shape(void **state) {
        (void)state;
        pmw_batch_body_t bb;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH_TEMPLATES, 500, 1 << 20);
        assert_int_equal(pmw_batch_body_endpoint(&bb),
                         PMW_ENDPOINT_BATCH_TEMPLATES);
        assert_true(add(&bb, T1));
        assert_true(add(&bb, T1));
        size_t len;
        const char *body = pmw_batch_body_finish(&bb, &len);
        assert_string_equal(body, "{\"Messages\":[" T1 "," T1 "]}");
        json_t *array = messages(body, len, PMW_ENDPOINT_BATCH_TEMPLATES);
        assert_int_equal(json_array_size(array), 2);
        json_decref(array);
        pmw_batch_body_cleanup(&bb);
}

static void test_empty(void **state) {
        (void)state;
        pmw_batch_body_t bb;
        size_t len;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 10, 100);
        assert_string_equal(pmw_batch_body_finish(&bb, &len), "[]");
        assert_int_equal(len, 2);
        pmw_batch_body_reset(&bb, PMW_ENDPOINT_BATCH_TEMPLATES);
        assert_string_equal(pmw_batch_body_finish(&bb, &len),
                            "{\"Messages\":[]}");
        assert_int_equal(len, 15);
        pmw_batch_body_cleanup(&bb);
}

static void test_max_messages(void **state) {
        (void)state;
        pmw_batch_body_t bb;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 3, 1 << 20);
        for (int i = 0; i < 3; i++)
                assert_true(add(&bb, M1));
        assert_false(pmw_batch_body_fits(&bb, 2));
        assert_false(add(&bb, "{}"));
        assert_int_equal(pmw_batch_body_count(&bb), 3);
        size_t len;
        const char *body = pmw_batch_body_finish(&bb, &len);
        assert_string_equal(body, "[" M1 "," M1 "," M1 "]");
        pmw_batch_body_cleanup(&bb);

        /* 500 is Postmark's limit and works. */
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, PMW_BATCH_MAX_MESSAGES,
                            50 << 20);
        for (int i = 0; i < PMW_BATCH_MAX_MESSAGES; i++)
                assert_true(add(&bb, M2));
        assert_false(add(&bb, M2));
        body          = pmw_batch_body_finish(&bb, &len);
        json_t *array = messages(body, len, PMW_ENDPOINT_BATCH);
        assert_int_equal(json_array_size(array), PMW_BATCH_MAX_MESSAGES);
        json_decref(array);
        pmw_batch_body_cleanup(&bb);
}

static void test_max_bytes(void **state) {
        (void)state;
        pmw_batch_body_t bb;
        size_t one = strlen(M1);
        /* Room for exactly two: "[" M1 "," M1 "]". */
        size_t max = 1 + one + 1 + one + 1;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 500, max);
        assert_true(add(&bb, M1));
        assert_true(pmw_batch_body_fits(&bb, one));
        assert_false(pmw_batch_body_fits(&bb, one + 1));
        assert_true(add(&bb, M1));
        assert_int_equal(pmw_batch_body_len(&bb), max);
        /* Refused, body unchanged. */
        assert_false(add(&bb, "{}"));
        assert_false(pmw_batch_body_fits(&bb, 0));
        assert_int_equal(pmw_batch_body_count(&bb), 2);
        size_t len;
        const char *body = pmw_batch_body_finish(&bb, &len);
        assert_int_equal(len, max);
        assert_string_equal(body, "[" M1 "," M1 "]");
        pmw_batch_body_cleanup(&bb);

        /* The templates wrapper counts too: 13 + message + 2 bytes. */
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH_TEMPLATES, 500,
                            13 + strlen(T1) + 2 + 1 + 2);
        assert_true(add(&bb, T1));
        assert_true(pmw_batch_body_fits(&bb, 2));
        assert_false(pmw_batch_body_fits(&bb, 3));
        assert_true(add(&bb, "{}"));
        body = pmw_batch_body_finish(&bb, &len);
        assert_int_equal(len, 13 + strlen(T1) + 2 + 1 + 2);
        pmw_batch_body_cleanup(&bb);

        /* A huge length does not overflow the check. */
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 500, 100);
        assert_true(add(&bb, "{}"));
        assert_false(pmw_batch_body_fits(&bb, SIZE_MAX));
        assert_false(pmw_batch_body_fits(&bb, SIZE_MAX - 3));
        pmw_batch_body_cleanup(&bb);
}

static void test_oversized_alone(void **state) {
        (void)state;
        pmw_batch_body_t bb;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 500, 20);
        /* Bigger than the whole body limit, but the batch is empty. */
        assert_true(pmw_batch_body_fits(&bb, strlen(M1)));
        assert_true(add(&bb, M1));
        assert_false(add(&bb, "{}"));
        assert_int_equal(pmw_batch_body_count(&bb), 1);
        size_t len;
        const char *body = pmw_batch_body_finish(&bb, &len);
        assert_string_equal(body, "[" M1 "]");
        pmw_batch_body_cleanup(&bb);
}

static void test_reuse(void **state) {
        (void)state;
        pmw_batch_body_t bb;
        size_t len;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 2, 1 << 20);
        assert_true(add(&bb, M1));
        assert_true(add(&bb, M2));
        assert_false(add(&bb, M1));
        (void)pmw_batch_body_finish(&bb, &len);

        /* reset: same memory, new endpoint, the limits stay. */
        const char *before = pmw_batch_body_finish(&bb, &len);
        pmw_batch_body_reset(&bb, PMW_ENDPOINT_BATCH_TEMPLATES);
        assert_int_equal(pmw_batch_body_count(&bb), 0);
        assert_true(add(&bb, T1));
        const char *body = pmw_batch_body_finish(&bb, &len);
        assert_ptr_equal(body, before);
        assert_string_equal(body, "{\"Messages\":[" T1 "]}");

        /* take: the caller owns the body; the builder starts afresh. */
        pmw_batch_body_reset(&bb, PMW_ENDPOINT_BATCH);
        assert_true(add(&bb, M2));
        char *taken = pmw_batch_body_take(&bb, &len);
        assert_string_equal(taken, "[" M2 "]");
        assert_int_equal(len, strlen(taken));
        assert_int_equal(pmw_batch_body_count(&bb), 0);
        assert_true(add(&bb, M1));
        assert_true(add(&bb, M1));
        assert_false(add(&bb, M1));
        assert_string_equal(pmw_batch_body_finish(&bb, &len),
                            "[" M1 "," M1 "]");
        free(taken);
        pmw_batch_body_cleanup(&bb);
        /* cleanup then init again works. */
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 1, 10);
        taken = pmw_batch_body_take(&bb, &len);
        assert_string_equal(taken, "[]");
        free(taken);
        pmw_batch_body_cleanup(&bb);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_batch_shape),
            cmocka_unit_test(test_templates_shape),
            cmocka_unit_test(test_empty),
            cmocka_unit_test(test_max_messages),
            cmocka_unit_test(test_max_bytes),
            cmocka_unit_test(test_oversized_alone),
            cmocka_unit_test(test_reuse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
