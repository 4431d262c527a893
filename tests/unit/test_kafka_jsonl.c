/* Unit tests for tests/kafka-tool/kafka_jsonl: the JSON lines of pmw-kafka.
 * Parsing produce's input (every field, null versus empty, header order
 * and duplicates, the partition rule, each error message), formatting
 * consume's output (escapes, U+FFFD, -j), and the round trip between the
 * two. No Kafka (the tool itself is covered by integration_kafka_tool). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tests/kafka-tool/kafka_jsonl.h"

/* The record structs hold char *: literals go in through a cast (they are
 * only read). */
#define S(lit) ((char *)(lit))

static void
parse_ok(const char *line, const char *topic, pmw_ktest_record_t *r) {
        pmw_error_t *err = pmw_kafka_jsonl_parse(line, strlen(line), topic, r);
        if (err)
                fail_msg("%s: %s", line, pmw_error_string(err));
}

static void
parse_fails(const char *line, pmw_errcode_t code, const char *expect) {
        pmw_ktest_record_t r;
        pmw_error_t *err = pmw_kafka_jsonl_parse(line, strlen(line), "t", &r);
        if (!err)
                fail_msg("%s: parsed", line);
        if (pmw_error_code(err) != code ||
            strcmp(pmw_error_string(err), expect) != 0) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s: code %d: %s", line,
                         (int)pmw_error_code(err), pmw_error_string(err));
                pmw_error_destroy(err);
                fail_msg("%s", msg);
        }
        pmw_error_destroy(err);
        /* Left empty: nothing to free, nothing half-built. */
        assert_null(r.key);
        assert_null(r.value);
        assert_null(r.headers);
        assert_int_equal(r.header_cnt, 0);
        assert_false(r.has_key);
}

static void assert_header(const pmw_ktest_record_t *r,
                          size_t i,
                          const char *name,
                          const char *value) {
        assert_true(i < r->header_cnt);
        assert_string_equal(r->headers[i].name, name);
        if (value == NULL) {
                assert_null(r->headers[i].value);
                assert_int_equal(r->headers[i].len, 0);
        } else {
                assert_non_null(r->headers[i].value);
                assert_int_equal(r->headers[i].len, strlen(value));
                assert_memory_equal(r->headers[i].value, value, strlen(value));
        }
}

static char *format(const pmw_ktest_record_t *r, bool json_value) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1 << 20);
        pmw_kafka_jsonl_format(&buf, "email.dlq", r, json_value);
        assert_false(pmw_buf_failed(&buf));
        return pmw_buf_take(&buf, NULL);
}

static void test_blank(void **state) {
        (void)state;
        assert_true(pmw_kafka_jsonl_blank("", 0));
        assert_true(pmw_kafka_jsonl_blank(" \t\r\n ", 5));
        assert_false(pmw_kafka_jsonl_blank("  x", 3));
        assert_false(pmw_kafka_jsonl_blank("{}", 2));
        /* Only len bytes count. */
        assert_true(pmw_kafka_jsonl_blank("  x", 2));
}

static void test_parse_full(void **state) {
        (void)state;
        pmw_ktest_record_t r;
        parse_ok(
            "{\"key\":\"customer-42\", \"value\":\"{\\\"To\\\":1}\", "
            "\"headers\":{\"job-id\":\"j-1\",\"empty\":\"\",\"nul\":null},"
            " \"partition\":3}\r",
            "t", &r);
        assert_int_equal(r.partition, 3);
        assert_int_equal(r.offset, -1);
        assert_int_equal(r.timestamp, -1);
        assert_true(r.has_key);
        assert_int_equal(r.key_len, 11);
        assert_string_equal(r.key, "customer-42");
        assert_int_equal(r.len, 8);
        assert_string_equal(r.value, "{\"To\":1}");
        assert_int_equal(r.header_cnt, 3);
        /* In the order of the text. */
        assert_header(&r, 0, "job-id", "j-1");
        assert_header(&r, 1, "empty", "");
        assert_header(&r, 2, "nul", NULL);
        pmw_ktest_record_cleanup(&r);
        assert_null(r.headers);
        assert_int_equal(r.header_cnt, 0);

        /* Only "value": no key, no headers, the partitioner. */
        parse_ok("{\"value\":\"v\"}", "t", &r);
        assert_int_equal(r.partition, -1);
        assert_false(r.has_key);
        assert_null(r.key);
        assert_int_equal(r.header_cnt, 0);
        assert_string_equal(r.value, "v");
        pmw_ktest_record_cleanup(&r);
}

static void test_parse_headers_array(void **state) {
        (void)state;
        pmw_ktest_record_t r;
        parse_ok(
            "{\"value\":\"v\",\"headers\":[[\"b\",\"2\"],[\"a\",\"1\"],"
            "[\"b\",\"3\"],[\"n\",null],[\"z\",\"a\\u0000b\"]]}",
            "t", &r);
        assert_int_equal(r.header_cnt, 5);
        assert_header(&r, 0, "b", "2");
        assert_header(&r, 1, "a", "1");
        assert_header(&r, 2, "b", "3");
        assert_header(&r, 3, "n", NULL);
        assert_int_equal(r.headers[4].len, 3);
        assert_memory_equal(r.headers[4].value, "a\0b", 3);
        pmw_ktest_record_cleanup(&r);

        /* null and [] mean no headers. */
        parse_ok("{\"value\":\"v\",\"headers\":null}", "t", &r);
        assert_int_equal(r.header_cnt, 0);
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"value\":\"v\",\"headers\":[]}", "t", &r);
        assert_int_equal(r.header_cnt, 0);
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"value\":\"v\",\"headers\":{}}", "t", &r);
        assert_int_equal(r.header_cnt, 0);
        pmw_ktest_record_cleanup(&r);
}

static void test_parse_values(void **state) {
        (void)state;
        pmw_ktest_record_t r;

        /* A string is the bytes, NUL included. */
        parse_ok("{\"value\":\"a\\u0000\\n\\u00e9\"}", "t", &r);
        assert_int_equal(r.len, 5);
        assert_memory_equal(r.value, "a\0\n\xc3\xa9", 5);
        pmw_ktest_record_cleanup(&r);

        parse_ok("{\"value\":\"\"}", "t", &r);
        assert_non_null(r.value);
        assert_int_equal(r.len, 0);
        pmw_ktest_record_cleanup(&r);

        parse_ok("{\"value\":null}", "t", &r);
        assert_null(r.value);
        assert_int_equal(r.len, 0);
        pmw_ktest_record_cleanup(&r);

        /* Other JSON: compact text, object keys in order. */
        parse_ok(
            "{\"value\": { \"b\" : [ true, null, 1.5, 1e2 ], \"a\": "
            "{ } , \"s\":\"\\u00e9\\\"\" } }",
            "t", &r);
        assert_string_equal(r.value,
                            "{\"b\":[true,null,1.5,100.0],\"a\":{},"
                            "\"s\":\"\xc3\xa9\\\"\"}");
        assert_int_equal(r.len, strlen(r.value));
        pmw_ktest_record_cleanup(&r);

        parse_ok("{\"value\":42}", "t", &r);
        assert_string_equal(r.value, "42");
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"value\":false}", "t", &r);
        assert_string_equal(r.value, "false");
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"value\":[]}", "t", &r);
        assert_string_equal(r.value, "[]");
        pmw_ktest_record_cleanup(&r);
}

static void test_parse_keys(void **state) {
        (void)state;
        pmw_ktest_record_t r;
        parse_ok("{\"value\":null,\"key\":null}", "t", &r);
        assert_false(r.has_key);
        assert_null(r.key);
        pmw_ktest_record_cleanup(&r);

        /* An empty key is a key. */
        parse_ok("{\"value\":null,\"key\":\"\"}", "t", &r);
        assert_true(r.has_key);
        assert_int_equal(r.key_len, 0);
        assert_string_equal(r.key, "");
        pmw_ktest_record_cleanup(&r);

        parse_ok("{\"value\":null,\"key\":\"\\u0000k\"}", "t", &r);
        assert_true(r.has_key);
        assert_int_equal(r.key_len, 2);
        assert_memory_equal(r.key, "\0k", 2);
        pmw_ktest_record_cleanup(&r);
}

static void test_parse_partition_rule(void **state) {
        (void)state;
        pmw_ktest_record_t r;
        parse_ok("{\"value\":\"v\",\"partition\":0}", "jobs", &r);
        assert_int_equal(r.partition, 0);
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"value\":\"v\",\"partition\":2147483647}", "jobs", &r);
        assert_int_equal(r.partition, INT32_MAX);
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"value\":\"v\",\"partition\":null}", "jobs", &r);
        assert_int_equal(r.partition, -1);
        pmw_ktest_record_cleanup(&r);

        /* The same topic keeps the partition, another drops it, wherever
         * "topic" stands in the object. */
        parse_ok("{\"topic\":\"jobs\",\"partition\":5,\"value\":\"v\"}", "jobs",
                 &r);
        assert_int_equal(r.partition, 5);
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"topic\":\"email.dlq\",\"partition\":5,\"value\":\"v\"}",
                 "jobs", &r);
        assert_int_equal(r.partition, -1);
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"partition\":5,\"value\":\"v\",\"topic\":\"email.dlq\"}",
                 "jobs", &r);
        assert_int_equal(r.partition, -1);
        pmw_ktest_record_cleanup(&r);

        /* A consumed line: offset and timestamp are accepted, ignored. */
        parse_ok(
            "{\"topic\":\"jobs\",\"partition\":1,\"offset\":77,"
            "\"timestamp\":\"2026-11-27T19:30:00.123Z\",\"key\":\"k\","
            "\"value\":\"v\",\"headers\":[]}",
            "jobs", &r);
        assert_int_equal(r.partition, 1);
        assert_int_equal(r.offset, -1);
        assert_int_equal(r.timestamp, -1);
        assert_string_equal(r.key, "k");
        pmw_ktest_record_cleanup(&r);
        parse_ok("{\"timestamp\":null,\"value\":\"v\"}", "jobs", &r);
        pmw_ktest_record_cleanup(&r);
}

static void test_parse_errors(void **state) {
        (void)state;
        pmw_ktest_record_t r;
        pmw_error_t *err = pmw_kafka_jsonl_parse("{\"value\":", 9, "t", &r);
        assert_non_null(err);
        assert_int_equal(pmw_error_code(err), PMW_ERR_PARSE);
        assert_string_equal(pmw_error_string(err),
                            "invalid JSON: unexpected token near end of "
                            "file (column 9)");
        pmw_error_destroy(err);
        parse_fails("{\"value\":\"v\"} x", PMW_ERR_PARSE,
                    "invalid JSON: end of file expected near 'x' (column 15)");
        parse_fails("{\"value\":\"v\",\"value\":\"w\"}", PMW_ERR_PARSE,
                    "invalid JSON: duplicate object key near "
                    "'\"value\"' (column 20)");
        parse_fails("{\"value\":\"\xff\"}", PMW_ERR_PARSE,
                    "invalid JSON: unable to decode byte 0xff near '\"' "
                    "(column 10)");

        parse_fails("[1]", PMW_ERR_INVALID,
                    "a record must be a JSON object {\"value\": ...}");
        parse_fails("\"v\"", PMW_ERR_INVALID,
                    "a record must be a JSON object {\"value\": ...}");
        parse_fails("{}", PMW_ERR_INVALID,
                    "missing \"value\" (null for a record without value)");
        parse_fails("{\"key\":\"k\"}", PMW_ERR_INVALID,
                    "missing \"value\" (null for a record without value)");
        parse_fails("{\"value\":\"v\",\"header\":{}}", PMW_ERR_INVALID,
                    "unknown field \"header\" (a record has \"value\" and "
                    "optionally \"key\", \"headers\", \"partition\")");
        parse_fails("{\"value\":\"v\",\"key\":1}", PMW_ERR_INVALID,
                    "\"key\" must be a string or null");
        parse_fails("{\"value\":\"v\",\"key\":{}}", PMW_ERR_INVALID,
                    "\"key\" must be a string or null");

        static const char partition_msg[] =
            "\"partition\" must be an integer 0..2147483647 or null";
        parse_fails("{\"value\":\"v\",\"partition\":-1}", PMW_ERR_INVALID,
                    partition_msg);
        parse_fails("{\"value\":\"v\",\"partition\":2147483648}",
                    PMW_ERR_INVALID, partition_msg);
        parse_fails("{\"value\":\"v\",\"partition\":1.0}", PMW_ERR_INVALID,
                    partition_msg);
        parse_fails("{\"value\":\"v\",\"partition\":\"1\"}", PMW_ERR_INVALID,
                    partition_msg);
        parse_fails("{\"value\":\"v\",\"topic\":null}", PMW_ERR_INVALID,
                    "\"topic\" must be a string");
        parse_fails("{\"value\":\"v\",\"offset\":\"1\"}", PMW_ERR_INVALID,
                    "\"offset\" must be an integer");
        parse_fails("{\"value\":\"v\",\"timestamp\":1}", PMW_ERR_INVALID,
                    "\"timestamp\" must be a string or null");

        parse_fails("{\"value\":\"v\",\"headers\":\"a=1\"}", PMW_ERR_INVALID,
                    "\"headers\" must be an object, an array of [name, "
                    "value] pairs, or null");
        parse_fails("{\"value\":\"v\",\"headers\":[[\"a\",\"1\"],[\"b\"]]}",
                    PMW_ERR_INVALID,
                    "\"headers\"[1] must be a [name, value] pair");
        parse_fails("{\"value\":\"v\",\"headers\":[[\"a\",\"1\",\"2\"]]}",
                    PMW_ERR_INVALID,
                    "\"headers\"[0] must be a [name, value] pair");
        parse_fails("{\"value\":\"v\",\"headers\":[\"a\"]}", PMW_ERR_INVALID,
                    "\"headers\"[0] must be a [name, value] pair");
        parse_fails("{\"value\":\"v\",\"headers\":[[1,\"1\"]]}",
                    PMW_ERR_INVALID,
                    "\"headers\"[0]: a header name must be a string");
        parse_fails("{\"value\":\"v\",\"headers\":[[\"a\",1]]}",
                    PMW_ERR_INVALID,
                    "\"headers\": the value of header \"a\" must be a "
                    "string or null");
        parse_fails("{\"value\":\"v\",\"headers\":{\"a\":\"1\",\"b\":true}}",
                    PMW_ERR_INVALID,
                    "\"headers\": the value of header \"b\" must be a "
                    "string or null");
        parse_fails("{\"value\":\"v\",\"headers\":[[\"a\\u0000b\",\"1\"]]}",
                    PMW_ERR_INVALID,
                    "\"headers\": header name \"a...\" contains \\u0000");
        parse_fails("{\"value\":\"v\",\"headers\":{\"a\\u0000b\":\"1\"}}",
                    PMW_ERR_PARSE,
                    "invalid JSON: NUL byte in object key not supported "
                    "near '\"a\\u0000b\"' (column 34)");
        /* Object form: a duplicate name is refused (the array keeps them). */
        parse_fails("{\"value\":\"v\",\"headers\":{\"a\":\"1\",\"a\":\"2\"}}",
                    PMW_ERR_PARSE,
                    "invalid JSON: duplicate object key near '\"a\"' "
                    "(column 35)");

        /* A long unknown name is cut in the message. */
        char line[256];
        snprintf(line, sizeof(line), "{\"value\":1,\"%0100d\":1}", 0);
        pmw_error_t *e = pmw_kafka_jsonl_parse(line, strlen(line), "t", &r);
        assert_non_null(e);
        assert_non_null(strstr(pmw_error_string(e),
                               "unknown field \"0000000000000000000000000000"
                               "000000000000000000000000000000000000\" (a"));
        pmw_error_destroy(e);
}

static void test_format(void **state) {
        (void)state;
        pmw_ktest_header_t headers[] = {
            {S("job-id"), S("j-1"), 3},
            {S("pmw-error"), NULL, 0},
            {S("job-id"), S(""), 0},
        };
        pmw_ktest_record_t r = {.partition  = 2,
                                .offset     = 1234567890123,
                                .timestamp  = 1795807800123,
                                .has_key    = true,
                                .key        = S("customer-42"),
                                .key_len    = 11,
                                .value      = S("{\"To\": \"a@b\"}"),
                                .len        = 13,
                                .headers    = headers,
                                .header_cnt = 3};
        char *line           = format(&r, false);
        assert_string_equal(line,
                            "{\"topic\":\"email.dlq\",\"partition\":2,"
                            "\"offset\":1234567890123,"
                            "\"timestamp\":\"2026-11-27T19:30:00.123Z\","
                            "\"key\":\"customer-42\",\"value\":\"{\\\"To\\\": "
                            "\\\"a@b\\\"}\",\"headers\":[[\"job-id\",\"j-1\"],"
                            "[\"pmw-error\",null],[\"job-id\",\"\"]]}");
        free(line);

        /* -j: an object is embedded, compact. */
        line = format(&r, true);
        assert_string_equal(
            line,
            "{\"topic\":\"email.dlq\",\"partition\":2,"
            "\"offset\":1234567890123,"
            "\"timestamp\":\"2026-11-27T19:30:00.123Z\","
            "\"key\":\"customer-42\",\"value\":{\"To\":\"a@b\"},"
            "\"headers\":[[\"job-id\",\"j-1\"],"
            "[\"pmw-error\",null],[\"job-id\",\"\"]]}");
        free(line);

        /* Nothing: null key, null value, no headers, no timestamp. */
        pmw_ktest_record_t empty = {
            .partition = 0, .offset = 0, .timestamp = -1};
        line = format(&empty, true);
        assert_string_equal(line,
                            "{\"topic\":\"email.dlq\",\"partition\":0,"
                            "\"offset\":0,\"timestamp\":null,\"key\":null,"
                            "\"value\":null,\"headers\":[]}");
        free(line);

        /* Empty key and value are not null. */
        empty.has_key = true;
        empty.key     = S("");
        empty.value   = S("");
        line          = format(&empty, false);
        assert_string_equal(line,
                            "{\"topic\":\"email.dlq\",\"partition\":0,"
                            "\"offset\":0,\"timestamp\":null,\"key\":\"\","
                            "\"value\":\"\",\"headers\":[]}");
        free(line);
}

/* Bytes: NUL and controls escaped, invalid UTF-8 becomes U+FFFD per byte,
 * valid UTF-8 kept. */
static void test_format_bytes(void **state) {
        (void)state;
        pmw_ktest_header_t h = {S("bin"), S("\x01\xc3("), 3};
        pmw_ktest_record_t r = {.partition  = 0,
                                .offset     = 9,
                                .timestamp  = 0,
                                .has_key    = true,
                                .key        = S("k\0\xff"),
                                .key_len    = 3,
                                .value      = S("\xe2\x82\xac\t\"\\\x80\x7f"),
                                .len        = 8,
                                .headers    = &h,
                                .header_cnt = 1};
        char *line           = format(&r, true); /* not JSON: stays a string */
        assert_string_equal(
            line,
            "{\"topic\":\"email.dlq\",\"partition\":0,\"offset\":9,"
            "\"timestamp\":\"1970-01-01T00:00:00.000Z\","
            "\"key\":\"k\\u0000\xef\xbf\xbd\","
            "\"value\":\"\xe2\x82\xac\\t\\\"\\\\\xef\xbf\xbd\x7f\","
            "\"headers\":[[\"bin\",\"\\u0001\xef\xbf\xbd(\"]]}");
        free(line);
}

/* -j embeds objects and arrays only: a scalar, invalid JSON, JSON with
 * duplicate keys or trailing text stay strings. */
static void test_format_json_value(void **state) {
        (void)state;
        static const struct {
                const char *value;
                const char *printed;
        } cases[] = {
            {"[1, \"a\"]", "[1,\"a\"]"},
            {" {\"s\":\"sent\",\"n\":1.50} \n", "{\"s\":\"sent\",\"n\":1.5}"},
            {"42", "\"42\""},
            {"null", "\"null\""},
            {"\"a\"", "\"\\\"a\\\"\""},
            {"true", "\"true\""},
            {"{\"a\":1", "\"{\\\"a\\\":1\""},
            {"{\"a\":1,\"a\":2}", "\"{\\\"a\\\":1,\\\"a\\\":2}\""},
            {"{} x", "\"{} x\""},
            {"not json", "\"not json\""},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(cases); i++) {
                pmw_ktest_record_t r = {.timestamp = -1,
                                        .value     = (char *)cases[i].value,
                                        .len       = strlen(cases[i].value)};
                char *line           = format(&r, true);
                char expect[256];
                snprintf(expect, sizeof(expect),
                         "{\"topic\":\"email.dlq\",\"partition\":0,"
                         "\"offset\":0,\"timestamp\":null,\"key\":null,"
                         "\"value\":%s,\"headers\":[]}",
                         cases[i].printed);
                assert_string_equal(line, expect);
                free(line);
        }
}

/* What consume prints, produce reads back to the same key, value (bytes,
 * NUL included), headers and partition (same topic). */
static void test_round_trip(void **state) {
        (void)state;
        pmw_ktest_header_t headers[] = {
            {S("b"), S("2"), 1}, {S("a"), NULL, 0}, {S("b"), S("x\0y"), 3}};
        pmw_ktest_record_t r = {.partition  = 7,
                                .offset     = 3,
                                .timestamp  = 1795807800123,
                                .has_key    = true,
                                .key        = S("\0"),
                                .key_len    = 1,
                                .value      = S("line1\nline2\0\x1f"),
                                .len        = 13,
                                .headers    = headers,
                                .header_cnt = 3};
        for (int json_value = 0; json_value <= 1; json_value++) {
                char *line = format(&r, json_value);
                assert_null(strchr(line, '\n')); /* one line */
                pmw_ktest_record_t back;
                parse_ok(line, "email.dlq", &back);
                assert_int_equal(back.partition, 7);
                assert_true(back.has_key);
                assert_int_equal(back.key_len, 1);
                assert_memory_equal(back.key, "\0", 1);
                assert_int_equal(back.len, 13);
                assert_memory_equal(back.value, r.value, 13);
                assert_int_equal(back.header_cnt, 3);
                assert_header(&back, 0, "b", "2");
                assert_header(&back, 1, "a", NULL);
                assert_int_equal(back.headers[2].len, 3);
                assert_memory_equal(back.headers[2].value, "x\0y", 3);
                pmw_ktest_record_cleanup(&back);

                /* Into another topic: the partitioner decides. */
                parse_ok(line, "email.jobs", &back);
                assert_int_equal(back.partition, -1);
                pmw_ktest_record_cleanup(&back);
                free(line);
        }

        /* -j and back: the JSON text, compact. */
        pmw_ktest_record_t j = {
            .timestamp = -1, .value = S("{ \"a\" : [1, 2.50] }"), .len = 19};
        char *line = format(&j, true);
        pmw_ktest_record_t back;
        parse_ok(line, "email.dlq", &back);
        assert_string_equal(back.value, "{\"a\":[1,2.5]}");
        assert_false(back.has_key);
        assert_int_equal(back.header_cnt, 0);
        pmw_ktest_record_cleanup(&back);
        free(line);
}

/* The buffer's limit applies: the caller sees pmw_buf_failed(). */
static void test_format_limit(void **state) {
        (void)state;
        pmw_ktest_record_t r = {
            .timestamp = -1, .value = S("0123456789"), .len = 10};
        pmw_buf_t buf;
        pmw_buf_init(&buf, 64);
        pmw_kafka_jsonl_format(&buf, "t", &r, false);
        assert_true(pmw_buf_failed(&buf));
        pmw_buf_cleanup(&buf);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_blank),
            cmocka_unit_test(test_parse_full),
            cmocka_unit_test(test_parse_headers_array),
            cmocka_unit_test(test_parse_values),
            cmocka_unit_test(test_parse_keys),
            cmocka_unit_test(test_parse_partition_rule),
            cmocka_unit_test(test_parse_errors),
            cmocka_unit_test(test_format),
            cmocka_unit_test(test_format_bytes),
            cmocka_unit_test(test_format_json_value),
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_format_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
