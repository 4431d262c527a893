/* Unit tests for worker/record: the status record value (parsed back with
 * jansson, every field checked) and the dead-letter record headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/mem.h"
#include "worker/record.h"

#define T_ENQUEUED  1764271800123LL /* 2025-11-27T19:30:00.123Z */
#define T_COMPLETED 1764271801999LL /* 2025-11-27T19:30:01.999Z */

static const char VALID_JOB[] =
    "{\"From\":\"sender@example.com\",\"To\":\"Bob <bob@example.com>\","
    "\"Subject\":\"Hi\",\"TextBody\":\"Hello\","
    "\"MessageStream\":\"broadcast\"}";

/* A job as the pipeline builds it: message parsed by the real parser. */
static pmw_job_t *new_job(const char *job_id,
                          const char *key,
                          size_t key_len,
                          const char *value) {
        pmw_job_t *job   = pmw_job_new();
        job->topic       = "email.jobs";
        job->partition   = 3;
        job->offset      = 1234567890123LL;
        job->enqueued_ms = T_ENQUEUED;
        job->job_id      = pmw_strdup(job_id);
        if (key) {
                job->key     = pmw_strndup(key, key_len);
                job->key_len = key_len;
        }
        job->value     = pmw_strdup(value);
        job->value_len = strlen(value);
        job->server    = pmw_strdup("default");
        pmw_message_parse(&job->msg, job->value, job->value_len, NULL);
        return job;
}

static json_t *status_json(const pmw_job_t *job, pmw_buf_t *buf) {
        pmw_buf_init(buf, 1 << 20);
        pmw_record_status(buf, job);
        assert_false(pmw_buf_failed(buf));
        json_error_t jerr;
        json_t *root =
            json_loadb(pmw_buf_ptr(buf), pmw_buf_len(buf),
                       JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL)
                fail_msg("not JSON (%s): %s", jerr.text, pmw_buf_ptr(buf));
        assert_true(json_is_object(root));
        /* Every field of CONTRACT 2.3, and nothing else. */
        assert_int_equal(json_object_size(root), 17);
        return root;
}

static void assert_str_field(json_t *root, const char *name, const char *want) {
        json_t *v = json_object_get(root, name);
        if (!json_is_string(v))
                fail_msg("%s is not a string", name);
        assert_string_equal(json_string_value(v), want);
}

static void assert_int_field(json_t *root, const char *name, json_int_t want) {
        json_t *v = json_object_get(root, name);
        if (!json_is_integer(v))
                fail_msg("%s is not an integer", name);
        assert_int_equal(json_integer_value(v), want);
}

static void assert_null_field(json_t *root, const char *name) {
        json_t *v = json_object_get(root, name);
        if (!json_is_null(v))
                fail_msg("%s is not null", name);
}

static void test_status_sent_exact(void **state) {
        (void)state;
        pmw_job_t *job   = new_job("job-1", "cust-42", 7, VALID_JOB);
        job->attempts    = 1;
        job->http_status = 200;
        pmw_job_finish(job, PMW_STATUS_SENT, 0, "OK",
                       "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
                       "2025-11-27T14:30:01.5-05:00", T_COMPLETED);
        pmw_buf_t buf;
        json_t *root = status_json(job, &buf);
        /* The exact bytes, which also checks the field order. */
        assert_string_equal(
            pmw_buf_ptr(&buf),
            "{\"job_id\":\"job-1\",\"status\":\"sent\",\"error_code\":0,"
            "\"http_status\":200,\"message\":\"OK\","
            "\"message_id\":\"b7bc2f4a-e38e-4336-af7d-e6c392c2f817\","
            "\"to\":\"Bob <bob@example.com>\","
            "\"submitted_at\":\"2025-11-27T14:30:01.5-05:00\","
            "\"server\":\"default\",\"stream\":\"broadcast\",\"attempts\":1,"
            "\"key\":\"cust-42\",\"topic\":\"email.jobs\",\"partition\":3,"
            "\"offset\":1234567890123,"
            "\"enqueued_at\":\"2025-11-27T19:30:00.123Z\","
            "\"completed_at\":\"2025-11-27T19:30:01.999Z\"}");
        /* status_json() parsed it: the exact bytes are valid JSON. */
        json_decref(root);
        pmw_buf_cleanup(&buf);
        pmw_job_destroy(job);
}

static void test_status_failed_422(void **state) {
        (void)state;
        pmw_job_t *job   = new_job("email.jobs:3:1234567890123", "k", 1,
                                   "{\"From\":\"bad\",\"To\":\"x@example.com\","
                                     "\"TextBody\":\"t\"}");
        job->attempts    = 2;
        job->http_status = 422;
        free(job->server);
        job->server = pmw_strdup("marketing");
        pmw_job_finish(job, PMW_STATUS_FAILED, 300,
                       "Invalid 'From' address: \"bad\".\nSee docs", NULL, NULL,
                       T_COMPLETED);
        pmw_buf_t buf;
        json_t *root = status_json(job, &buf);
        assert_str_field(root, "job_id", "email.jobs:3:1234567890123");
        assert_str_field(root, "status", "failed");
        assert_int_field(root, "error_code", 300);
        assert_int_field(root, "http_status", 422);
        assert_str_field(root, "message",
                         "Invalid 'From' address: \"bad\".\nSee docs");
        assert_null_field(root, "message_id");
        assert_str_field(root, "to", "x@example.com");
        assert_null_field(root, "submitted_at");
        assert_str_field(root, "server", "marketing");
        assert_str_field(root, "stream", "outbound");
        assert_int_field(root, "attempts", 2);
        assert_str_field(root, "key", "k");
        assert_str_field(root, "topic", "email.jobs");
        assert_int_field(root, "partition", 3);
        assert_int_field(root, "offset", 1234567890123LL);
        assert_str_field(root, "enqueued_at", "2025-11-27T19:30:00.123Z");
        assert_str_field(root, "completed_at", "2025-11-27T19:30:01.999Z");
        json_decref(root);
        pmw_buf_cleanup(&buf);
        pmw_job_destroy(job);
}

static void test_status_rejected(void **state) {
        (void)state;
        /* Not JSON: the parser leaves to "" and stream "outbound". */
        pmw_job_t *job = new_job("j-rej", NULL, 0, "not json");
        assert_int_equal(job->msg.reject_code, 402);
        pmw_job_finish(job, PMW_STATUS_REJECTED, job->msg.reject_code,
                       job->msg.reject_reason, NULL, NULL, T_COMPLETED);
        pmw_buf_t buf;
        json_t *root = status_json(job, &buf);
        assert_str_field(root, "job_id", "j-rej");
        assert_str_field(root, "status", "rejected");
        assert_int_field(root, "error_code", 402);
        assert_null_field(root, "http_status");
        assert_str_field(root, "message", job->msg.reject_reason);
        assert_true(strlen(job->msg.reject_reason) > 0);
        assert_null_field(root, "message_id");
        assert_str_field(root, "to", "");
        assert_null_field(root, "submitted_at");
        assert_str_field(root, "server", "default");
        assert_str_field(root, "stream", "outbound");
        assert_int_field(root, "attempts", 0);
        assert_null_field(root, "key");
        assert_int_field(root, "partition", 3);
        assert_int_field(root, "offset", 1234567890123LL);
        json_decref(root);
        pmw_buf_cleanup(&buf);
        pmw_job_destroy(job);
}

static void test_status_expired(void **state) {
        (void)state;
        /* Retried twice (503), then its expires-at passed. */
        pmw_job_t *job   = new_job("otp-77", "", 0, VALID_JOB);
        job->attempts    = 2;
        job->http_status = 503;
        job->partition   = 0;
        job->offset      = 0;
        job->enqueued_ms = 0;
        pmw_job_finish(job, PMW_STATUS_EXPIRED, -1,
                       "expires-at 2025-11-27T19:30:01Z passed", NULL, NULL,
                       T_COMPLETED);
        pmw_buf_t buf;
        json_t *root = status_json(job, &buf);
        assert_str_field(root, "status", "expired");
        assert_int_field(root, "error_code", -1);
        assert_int_field(root, "http_status", 503);
        assert_str_field(root, "message",
                         "expires-at 2025-11-27T19:30:01Z passed");
        assert_null_field(root, "message_id");
        assert_null_field(root, "submitted_at");
        assert_int_field(root, "attempts", 2);
        /* An empty key is a key, not a missing one. */
        assert_str_field(root, "key", "");
        assert_int_field(root, "partition", 0);
        assert_int_field(root, "offset", 0);
        assert_str_field(root, "enqueued_at", "1970-01-01T00:00:00.000Z");
        json_decref(root);
        pmw_buf_cleanup(&buf);
        pmw_job_destroy(job);
}

static void test_status_key_escaping(void **state) {
        (void)state;
        /* Quotes, a backslash, a byte that is not UTF-8, a NUL, a control
         * character, and valid UTF-8 (é) that must stay as it is. */
        static const char key[] = "a\"b\\c\xff\0d\x01\xc3\xa9";
        pmw_job_t *job =
            new_job("id \"quoted\"\t", key, sizeof(key) - 1, VALID_JOB);
        pmw_job_finish(job, PMW_STATUS_SENT, 0, "OK", "m", "s", T_COMPLETED);
        pmw_buf_t buf;
        json_t *root = status_json(job, &buf);
        assert_non_null(strstr(pmw_buf_ptr(&buf),
                               "\"key\":\"a\\\"b\\\\c\xef\xbf\xbd\\u0000d"
                               "\\u0001\xc3\xa9\""));
        json_t *v = json_object_get(root, "key");
        assert_true(json_is_string(v));
        static const char want[] = "a\"b\\c\xef\xbf\xbd\0d\x01\xc3\xa9";
        assert_int_equal(json_string_length(v), sizeof(want) - 1);
        assert_memory_equal(json_string_value(v), want, sizeof(want) - 1);
        assert_str_field(root, "job_id", "id \"quoted\"\t");
        json_decref(root);
        pmw_buf_cleanup(&buf);
        pmw_job_destroy(job);
}

static void test_status_defaults_when_unset(void **state) {
        (void)state;
        /* A job whose message was never parsed and whose server is unset:
         * to "", stream "outbound", server "default". */
        pmw_job_t *job = pmw_job_new();
        job->topic     = "t";
        job->job_id    = pmw_strdup("t:0:5");
        job->offset    = 5;
        pmw_job_finish(job, PMW_STATUS_REJECTED, 300, NULL, NULL, NULL,
                       T_COMPLETED);
        pmw_buf_t buf;
        json_t *root = status_json(job, &buf);
        assert_str_field(root, "to", "");
        assert_str_field(root, "stream", "outbound");
        assert_str_field(root, "server", "default");
        assert_str_field(root, "message", "");
        assert_str_field(root, "topic", "t");
        json_decref(root);
        pmw_buf_cleanup(&buf);
        pmw_job_destroy(job);
}

static void test_status_appends_and_limit(void **state) {
        (void)state;
        pmw_job_t *job = new_job("j", NULL, 0, VALID_JOB);
        pmw_job_finish(job, PMW_STATUS_SENT, 0, "OK", NULL, NULL, 0);
        /* Appends after what the buffer holds. */
        pmw_buf_t buf;
        pmw_buf_init(&buf, 4096);
        pmw_buf_append_str(&buf, "prefix|");
        pmw_record_status(&buf, job);
        assert_false(pmw_buf_failed(&buf));
        assert_memory_equal(pmw_buf_ptr(&buf), "prefix|{\"job_id\":\"j\",", 21);
        assert_int_equal(pmw_buf_ptr(&buf)[pmw_buf_len(&buf) - 1], '}');
        pmw_buf_cleanup(&buf);
        /* A buffer too small for the record reports it. */
        pmw_buf_init(&buf, 100);
        pmw_record_status(&buf, job);
        assert_true(pmw_buf_failed(&buf));
        pmw_buf_cleanup(&buf);
        pmw_job_destroy(job);
}

/* The headers as "name=value" strings ("name" alone for a null value),
 * joined by '|'. */
static void headers_str(const rd_kafka_headers_t *hdrs, pmw_buf_t *out) {
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
             RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
                if (i > 0)
                        pmw_buf_append_char(out, '|');
                pmw_buf_append_str(out, name);
                if (value) {
                        pmw_buf_append_char(out, '=');
                        pmw_buf_append(out, value, size);
                }
        }
}

static void assert_headers(const rd_kafka_headers_t *hdrs, const char *want) {
        pmw_buf_t buf;
        pmw_buf_init(&buf, 1 << 16);
        headers_str(hdrs, &buf);
        assert_string_equal(pmw_buf_ptr(&buf), want);
        pmw_buf_cleanup(&buf);
}

static pmw_job_t *failed_job(void) {
        pmw_job_t *job   = new_job("j1", "k", 1, VALID_JOB);
        job->partition   = 3;
        job->offset      = 42;
        job->attempts    = 2;
        job->http_status = 200;
        pmw_job_finish(job, PMW_STATUS_FAILED, 406,
                       "You tried to send to a recipient that has been "
                       "marked as inactive.",
                       NULL, NULL, T_COMPLETED);
        return job;
}

static void test_dlq_headers_order_duplicates_and_old_pmw(void **state) {
        (void)state;
        pmw_job_t *job = failed_job();
        job->headers   = rd_kafka_headers_new(8);
        rd_kafka_header_add(job->headers, "job-id", -1, "j1", -1);
        rd_kafka_header_add(job->headers, "x-trace", -1, "a", -1);
        rd_kafka_header_add(job->headers, "PMW-Status", -1, "failed", -1);
        rd_kafka_header_add(job->headers, "x-trace", -1, "b", -1);
        rd_kafka_header_add(job->headers, "pmw-error", -1, "old", -1);
        rd_kafka_header_add(job->headers, "empty", -1, "", 0);
        rd_kafka_header_add(job->headers, "nullh", -1, NULL, 0);
        rd_kafka_header_add(job->headers, "pmwx", -1, "kept", -1);
        rd_kafka_header_add(job->headers, "pmw-", -1, "dropped", -1);
        rd_kafka_header_add(job->headers, "postmark-server", -1, "default", -1);

        rd_kafka_headers_t *hdrs = pmw_record_dlq_headers(job, false);
        assert_headers(hdrs,
                       "job-id=j1|x-trace=a|x-trace=b|empty=|nullh|pmwx=kept|"
                       "postmark-server=default|pmw-error-code=406|"
                       "pmw-error=You tried to send to a recipient that has "
                       "been marked as inactive.|pmw-status=failed|"
                       "pmw-source=email.jobs:3:42|pmw-attempts=2");
        /* The null header stays null, the empty one empty. */
        const void *value;
        size_t size;
        assert_int_equal(rd_kafka_header_get_last(hdrs, "nullh", &value, &size),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_null(value);
        assert_int_equal(rd_kafka_header_get_last(hdrs, "empty", &value, &size),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_non_null(value);
        assert_int_equal(size, 0);
        /* The job's own headers are untouched. */
        assert_int_equal(rd_kafka_header_cnt(job->headers), 10);
        rd_kafka_headers_destroy(hdrs);
        pmw_job_destroy(job);
}

static void test_dlq_headers_truncated(void **state) {
        (void)state;
        pmw_job_t *job = failed_job();
        free(job->value);
        job->value_len           = 1048577;
        job->value               = pmw_calloc(1, job->value_len);
        rd_kafka_headers_t *hdrs = pmw_record_dlq_headers(job, true);
        assert_headers(hdrs,
                       "pmw-error-code=406|"
                       "pmw-error=You tried to send to a recipient that "
                       "has been marked as inactive.|pmw-status=failed|"
                       "pmw-source=email.jobs:3:42|pmw-attempts=2|"
                       "pmw-truncated=1048577");
        assert_int_equal(PMW_DLQ_TRUNCATE_BYTES, 65536);
        rd_kafka_headers_destroy(hdrs);
        pmw_job_destroy(job);
}

static void test_dlq_headers_rejected_and_expired(void **state) {
        (void)state;
        pmw_job_t *job = new_job("r", NULL, 0, "[1]");
        job->topic     = "jobs";
        job->partition = 0;
        job->offset    = 7;
        pmw_job_finish(job, PMW_STATUS_REJECTED, 402,
                       "value is not a JSON "
                       "object",
                       NULL, NULL, T_COMPLETED);
        rd_kafka_headers_t *hdrs = pmw_record_dlq_headers(job, false);
        assert_headers(hdrs,
                       "pmw-error-code=402|pmw-error=value is not a "
                       "JSON object|pmw-status=rejected|"
                       "pmw-source=jobs:0:7|pmw-attempts=0");
        rd_kafka_headers_destroy(hdrs);
        pmw_job_destroy(job);

        job            = new_job("e", NULL, 0, VALID_JOB);
        job->partition = 11;
        job->offset    = 9000000000LL;
        job->attempts  = 1;
        pmw_job_finish(job, PMW_STATUS_EXPIRED, -1, "expired", NULL, NULL,
                       T_COMPLETED);
        hdrs = pmw_record_dlq_headers(job, false);
        assert_headers(hdrs,
                       "pmw-error-code=-1|pmw-error=expired|"
                       "pmw-status=expired|"
                       "pmw-source=email.jobs:11:9000000000|"
                       "pmw-attempts=1");
        rd_kafka_headers_destroy(hdrs);
        pmw_job_destroy(job);
}

/* A DLQ record produced back to the jobs topic (a replay) that fails again
 * gets one set of pmw-* headers, the new ones. */
static void test_dlq_headers_replay(void **state) {
        (void)state;
        pmw_job_t *job = failed_job();
        job->headers   = rd_kafka_headers_new(2);
        rd_kafka_header_add(job->headers, "x-trace", -1, "t", -1);
        rd_kafka_headers_t *first = pmw_record_dlq_headers(job, true);
        pmw_job_destroy(job);

        job           = new_job("j1", "k", 1, VALID_JOB);
        job->headers  = first;
        job->topic    = "email.jobs";
        job->offset   = 99;
        job->attempts = 10;
        pmw_job_finish(job, PMW_STATUS_FAILED, -1, "retries ran out", NULL,
                       NULL, T_COMPLETED);
        rd_kafka_headers_t *second = pmw_record_dlq_headers(job, false);
        assert_headers(second,
                       "x-trace=t|pmw-error-code=-1|"
                       "pmw-error=retries ran out|pmw-status=failed|"
                       "pmw-source=email.jobs:3:99|pmw-attempts=10");
        rd_kafka_headers_destroy(second);
        pmw_job_destroy(job);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_status_sent_exact),
            cmocka_unit_test(test_status_failed_422),
            cmocka_unit_test(test_status_rejected),
            cmocka_unit_test(test_status_expired),
            cmocka_unit_test(test_status_key_escaping),
            cmocka_unit_test(test_status_defaults_when_unset),
            cmocka_unit_test(test_status_appends_and_limit),
            cmocka_unit_test(test_dlq_headers_order_duplicates_and_old_pmw),
            cmocka_unit_test(test_dlq_headers_truncated),
            cmocka_unit_test(test_dlq_headers_rejected_and_expired),
            cmocka_unit_test(test_dlq_headers_replay),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
