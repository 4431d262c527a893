/* Unit tests for common/postmark_result: parsing Postmark's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/mem.h"
#include "common/postmark_result.h"

/* Parses a copy of body in an allocation of exactly its length (no NUL), so
 * AddressSanitizer reports any read past len. */
static void parse(pmw_response_t *resp,
                  int status,
                  const char *ctype,
                  const char *body,
                  size_t expected) {
        size_t len = strlen(body);
        char *copy = pmw_malloc(len ? len : 1);
        memcpy(copy, body, len);
        pmw_response_parse(resp, status, ctype, copy, len, expected);
        free(copy);
}

/* The whole-request, no-results shape every failure shares. */
static void assert_whole(const pmw_response_t *resp,
                         int status,
                         bool json,
                         int error_code,
                         const char *message) {
        assert_int_equal(resp->transport, PMW_TRANSPORT_OK);
        assert_int_equal(resp->http_status, status);
        assert_false(resp->per_message);
        assert_null(resp->results);
        assert_int_equal(resp->result_cnt, 0);
        assert_null(resp->strings);
        assert_int_equal(resp->json, json);
        assert_int_equal(resp->error_code, error_code);
        assert_string_equal(resp->message, message);
        assert_int_equal(resp->retry_after_ms, -1);
}

static void test_mixed_batch(void **state) {
        (void)state;
        pmw_response_t resp;
        /* postmark-api.md 13.2, plus a partial-inactive 406. */
        parse(&resp, 200, "application/json; charset=utf-8",
              "[{\"ErrorCode\": 0, \"Message\": \"OK\", \"MessageID\": "
              "\"2f0f7f2e-6b1c-4c7e-9d8a-3a1e5b7c9d01\", \"SubmittedAt\": "
              "\"2026-01-15T10:20:30.1234567-05:00\", \"To\": "
              "\"alice@example.org\"},"
              " {\"ErrorCode\": 406, \"Message\": \"You tried to send to "
              "recipient(s) that have been marked as inactive.\"},"
              " {\"ErrorCode\": 300, \"Message\": \"Provide either email "
              "TextBody or HtmlBody or both.\"},"
              " {\"ErrorCode\": 406, \"Message\": \"Message OK, but will not "
              "deliver to these inactive addresses: x@example.org.\", "
              "\"MessageID\": \"00000000-0000-0000-0000-000000000004\"}]",
              4);
        assert_int_equal(resp.transport, PMW_TRANSPORT_OK);
        assert_int_equal(resp.http_status, 200);
        assert_true(resp.per_message);
        assert_true(resp.json);
        assert_int_equal(resp.error_code, -1);
        assert_string_equal(resp.message, "HTTP 200: 4 results");
        assert_int_equal(resp.retry_after_ms, -1);
        assert_int_equal(resp.result_cnt, 4);

        assert_int_equal(resp.results[0].error_code, 0);
        assert_string_equal(resp.results[0].message, "OK");
        assert_string_equal(resp.results[0].message_id,
                            "2f0f7f2e-6b1c-4c7e-9d8a-3a1e5b7c9d01");
        assert_string_equal(resp.results[0].submitted_at,
                            "2026-01-15T10:20:30.1234567-05:00");
        assert_string_equal(resp.results[0].to, "alice@example.org");

        assert_int_equal(resp.results[1].error_code, 406);
        assert_string_equal(resp.results[1].message,
                            "You tried to send to recipient(s) that have "
                            "been marked as inactive.");
        assert_null(resp.results[1].message_id);
        assert_null(resp.results[1].submitted_at);
        assert_null(resp.results[1].to);

        assert_int_equal(resp.results[2].error_code, 300);
        assert_int_equal(resp.results[3].error_code, 406);
        assert_string_equal(resp.results[3].message_id,
                            "00000000-0000-0000-0000-000000000004");

        pmw_response_cleanup(&resp);
        assert_null(resp.message);
        assert_null(resp.results);
        assert_null(resp.strings);
        assert_int_equal(resp.result_cnt, 0);
        assert_false(resp.per_message);
}

static void test_optional_fields_of_wrong_type(void **state) {
        (void)state;
        pmw_response_t resp;
        /* Non-string optional fields read as absent; a missing Message is
         * "". Unknown fields are ignored. */
        parse(&resp, 200, NULL,
              "[{\"ErrorCode\": 0, \"MessageID\": 7, \"SubmittedAt\": null, "
              "\"To\": [\"a\"], \"Extra\": {}},"
              " {\"ErrorCode\": 1101, \"Message\": null}]",
              2);
        assert_true(resp.per_message);
        assert_int_equal(resp.result_cnt, 2);
        assert_string_equal(resp.results[0].message, "");
        assert_null(resp.results[0].message_id);
        assert_null(resp.results[0].submitted_at);
        assert_null(resp.results[0].to);
        assert_int_equal(resp.results[1].error_code, 1101);
        assert_string_equal(resp.results[1].message, "");
        pmw_response_cleanup(&resp);
}

static void test_strings_decoded(void **state) {
        (void)state;
        pmw_response_t resp;
        /* Escapes are decoded; each string is NUL-terminated in the
         * response's buffer; a repeated key reads as its last value; big
         * numbers elsewhere do no harm. */
        parse(&resp, 200, NULL,
              "[{\"ErrorCode\": 406, \"Message\": \"caf\\u00e9 \\\"x\\\"\\n"
              "\\ud83d\\ude00\", \"To\": \"a@x.org\", \"To\": \"b\\/c@x.org\","
              " \"N\": 1e300},"
              " {\"ErrorCode\": 0, \"Message\": \"\", \"MessageID\": \"m2\","
              " \"SubmittedAt\": \"t\", \"To\": \"\"}]",
              2);
        assert_true(resp.per_message);
        assert_string_equal(resp.results[0].message,
                            "caf\xc3\xa9 \"x\"\n\xf0\x9f\x98\x80");
        assert_string_equal(resp.results[0].to, "b/c@x.org");
        assert_null(resp.results[0].message_id);
        assert_string_equal(resp.results[1].message, "");
        assert_string_equal(resp.results[1].message_id, "m2");
        assert_string_equal(resp.results[1].submitted_at, "t");
        assert_string_equal(resp.results[1].to, "");
        assert_non_null(resp.strings);
        pmw_response_cleanup(&resp);

        /* A whole-request Message is decoded too. */
        parse(&resp, 422, "application/json",
              "{\"ErrorCode\": 300, \"Message\": \"Invalid \\u0027To\\u0027\"}",
              1);
        assert_whole(&resp, 422, true, 300, "Invalid 'To'");
        pmw_response_cleanup(&resp);

        /* Numbers that do not fit 64 bits are not JSON here, as ever. */
        parse(&resp, 200, NULL, "[{\"ErrorCode\": 99999999999999999999}]", 1);
        assert_false(resp.json);
        assert_int_equal(resp.error_code, -1);
        pmw_response_cleanup(&resp);
}

static void test_array_wrong_length(void **state) {
        (void)state;
        pmw_response_t resp;
        parse(&resp, 200, "application/json",
              "[{\"ErrorCode\": 0}, {\"ErrorCode\": 0}]", 3);
        assert_whole(&resp, 200, true, -1,
                     "HTTP 200: 2 results for 3 messages");
        pmw_response_cleanup(&resp);

        parse(&resp, 200, "application/json",
              "[{\"ErrorCode\": 0}, {\"ErrorCode\": 0}]", 1);
        assert_whole(&resp, 200, true, -1,
                     "HTTP 200: 2 results for 1 messages");
        pmw_response_cleanup(&resp);

        parse(&resp, 200, "application/json", "[]", 500);
        assert_whole(&resp, 200, true, -1,
                     "HTTP 200: 0 results for 500 messages");
        pmw_response_cleanup(&resp);
}

static void test_empty_array_for_empty_request(void **state) {
        (void)state;
        pmw_response_t resp;
        /* The worker never sends an empty batch, but the shape is
         * consistent: zero results for zero messages. */
        parse(&resp, 200, "application/json", "[]", 0);
        assert_true(resp.per_message);
        assert_int_equal(resp.result_cnt, 0);
        assert_null(resp.results);
        assert_string_equal(resp.message, "HTTP 200: 0 results");
        pmw_response_cleanup(&resp);
}

static void test_bad_elements(void **state) {
        (void)state;
        static const struct {
                const char *body;
                const char *message;
        } cases[] = {
            {"[{\"ErrorCode\": 0}, {\"Message\": \"OK\"}]",
             "HTTP 200: result[1] of 2 has no valid ErrorCode"},
            {"[{\"ErrorCode\": 0}, \"OK\"]",
             "HTTP 200: result[1] of 2 is a JSON string, not an object"},
            {"[null, {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 is a JSON null, not an object"},
            {"[[], {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 is a JSON array, not an object"},
            {"[{\"ErrorCode\": \"0\"}, {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 has no valid ErrorCode"},
            {"[{\"ErrorCode\": 0.0}, {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 has no valid ErrorCode"},
            {"[{\"ErrorCode\": true}, {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 has no valid ErrorCode"},
            {"[{\"ErrorCode\": -1}, {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 has no valid ErrorCode"},
            {"[{\"ErrorCode\": 2147483648}, {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 has no valid ErrorCode"},
            {"[{\"errorcode\": 0}, {\"ErrorCode\": 0}]",
             "HTTP 200: result[0] of 2 has no valid ErrorCode"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                pmw_response_t resp;
                parse(&resp, 200, "application/json", cases[i].body, 2);
                assert_whole(&resp, 200, true, -1, cases[i].message);
                pmw_response_cleanup(&resp);
        }

        /* The largest ErrorCode that fits is accepted. */
        pmw_response_t resp;
        parse(&resp, 200, NULL, "[{\"ErrorCode\": 2147483647}]", 1);
        assert_true(resp.per_message);
        assert_int_equal(resp.results[0].error_code, 2147483647);
        pmw_response_cleanup(&resp);
}

static void test_object_error(void **state) {
        (void)state;
        pmw_response_t resp;

        parse(&resp, 422, "application/json",
              "{\"ErrorCode\": 410, \"Message\": \"You may only send up to "
              "500 messages in a single batched request.\"}",
              3);
        assert_whole(&resp, 422, true, 410,
                     "You may only send up to 500 messages in a single "
                     "batched request.");
        pmw_response_cleanup(&resp);

        parse(&resp, 401, "application/json",
              "{\"ErrorCode\": 10, \"Message\": \"Request does not contain a "
              "valid Server token.\"}",
              3);
        assert_whole(&resp, 401, true, 10,
                     "Request does not contain a valid Server token.");
        pmw_response_cleanup(&resp);

        /* JSON 403 from Postmark itself. */
        parse(&resp, 403, "application/json",
              "{\"ErrorCode\": 403, \"Message\": \"Invalid request field(s) "
              "- Foo\"}",
              1);
        assert_whole(&resp, 403, true, 403, "Invalid request field(s) - Foo");
        pmw_response_cleanup(&resp);

        /* No Message: the worker says so; no ErrorCode: -1. */
        parse(&resp, 503, "application/json", "{\"ErrorCode\": 100}", 3);
        assert_whole(&resp, 503, true, 100,
                     "HTTP 503: JSON object without a Message");
        pmw_response_cleanup(&resp);

        parse(&resp, 422, "application/json",
              "{\"Message\": \"something\", \"ErrorCode\": \"300\"}", 3);
        assert_whole(&resp, 422, true, -1, "something");
        pmw_response_cleanup(&resp);

        parse(&resp, 429, NULL, "{}", 3);
        assert_whole(&resp, 429, true, -1,
                     "HTTP 429: JSON object without a Message");
        pmw_response_cleanup(&resp);

        /* A JSON error mislabelled as text/plain still counts as JSON. */
        parse(&resp, 500, "text/plain",
              "{\"ErrorCode\": 101, \"Message\": \"Unexpected error\"}", 3);
        assert_whole(&resp, 500, true, 101, "Unexpected error");
        pmw_response_cleanup(&resp);
}

static void test_long_message_kept_whole(void **state) {
        (void)state;
        pmw_response_t resp;
        char *msg  = pmw_malloc(6001);
        char *body = pmw_malloc(6100);
        memset(msg, 'a', 6000);
        msg[6000] = '\0';
        snprintf(body, 6100, "{\"ErrorCode\": 406, \"Message\": \"%s\"}", msg);
        parse(&resp, 422, "application/json", body, 1);
        assert_whole(&resp, 422, true, 406, msg);
        pmw_response_cleanup(&resp);
        free(msg);
        free(body);
}

static void test_object_at_2xx(void **state) {
        (void)state;
        pmw_response_t resp;
        /* The single-send shape where a batch answer was expected: never a
         * result. */
        parse(&resp, 200, "application/json",
              "{\"ErrorCode\": 0, \"Message\": \"OK\", \"MessageID\": \"x\"}",
              2);
        assert_whole(&resp, 200, true, 0,
                     "HTTP 200: a JSON object, not an array of 2 results: "
                     "OK");
        pmw_response_cleanup(&resp);

        /* Its Message is quoted made safe, and bounded. */
        parse(&resp, 202, NULL, "{\"Message\": \"a\\nb\\u0001c\"}", 2);
        assert_whole(&resp, 202, true, -1,
                     "HTTP 202: a JSON object, not an array of 2 results: "
                     "a b c");
        pmw_response_cleanup(&resp);
}

static void test_other_json(void **state) {
        (void)state;
        pmw_response_t resp;

        parse(&resp, 500, "application/json", "[{\"ErrorCode\": 0}]", 1);
        assert_whole(&resp, 500, true, -1, "HTTP 500: unexpected JSON array");
        pmw_response_cleanup(&resp);

        parse(&resp, 200, "application/json", "42", 1);
        assert_whole(&resp, 200, true, -1, "HTTP 200: unexpected JSON number");
        pmw_response_cleanup(&resp);

        parse(&resp, 502, "application/json", "\"Bad Gateway\"", 1);
        assert_whole(&resp, 502, true, -1, "HTTP 502: unexpected JSON string");
        pmw_response_cleanup(&resp);

        parse(&resp, 200, "application/json", " null ", 1);
        assert_whole(&resp, 200, true, -1, "HTTP 200: unexpected JSON null");
        pmw_response_cleanup(&resp);
}

static void test_non_json(void **state) {
        (void)state;
        pmw_response_t resp;

        /* Postmark's network security layer (postmark-api.md 7). */
        parse(&resp, 403, "text/html; charset=UTF-8",
              "<html>\r\n<head><title>403 Forbidden</title></head>\r\n"
              "<body>\r\n<center><h1>403 Forbidden</h1></center>\r\n"
              "</body>\r\n</html>\r\n",
              3);
        assert_whole(&resp, 403, false, -1,
                     "HTTP 403: non-JSON body (text/html): <html> "
                     "<head><title>403 Forbidden</title></head> <body> "
                     "<center><h1>403 Forbidden</h1></center>...");
        pmw_response_cleanup(&resp);

        /* A proxy's 502. */
        parse(&resp, 502, "text/plain", "Bad Gateway\n", 3);
        assert_whole(&resp, 502, false, -1,
                     "HTTP 502: non-JSON body (text/plain): Bad Gateway");
        pmw_response_cleanup(&resp);

        /* A 200 that is not JSON at all. */
        parse(&resp, 200, NULL, "OK", 3);
        assert_whole(&resp, 200, false, -1,
                     "HTTP 200: non-JSON body (no Content-Type): OK");
        pmw_response_cleanup(&resp);

        /* Truncated JSON (the caller's bound cut it). */
        parse(&resp, 200, "application/json", "[{\"ErrorCode\": 0}, {\"Err", 2);
        assert_whole(&resp, 200, false, -1,
                     "HTTP 200: non-JSON body (application/json): "
                     "[{\"ErrorCode\": 0}, {\"Err");
        pmw_response_cleanup(&resp);

        /* JSON followed by something else is not JSON. */
        parse(&resp, 200, "application/json", "[{\"ErrorCode\": 0}] x", 1);
        assert_whole(&resp, 200, false, -1,
                     "HTTP 200: non-JSON body (application/json): "
                     "[{\"ErrorCode\": 0}] x");
        pmw_response_cleanup(&resp);

        /* A NUL inside a string would cut a borrowed C string short:
         * refused. */
        parse(&resp, 200, "application/json",
              "[{\"ErrorCode\": 0, \"To\": \"a\\u0000b\"}]", 1);
        assert_false(resp.json);
        assert_false(resp.per_message);
        pmw_response_cleanup(&resp);
}

static void test_empty_body(void **state) {
        (void)state;
        pmw_response_t resp;

        parse(&resp, 405, NULL, "", 3);
        assert_whole(&resp, 405, false, -1,
                     "HTTP 405: empty body (no Content-Type)");
        pmw_response_cleanup(&resp);

        parse(&resp, 204, "text/plain; charset=utf-8", "", 3);
        assert_whole(&resp, 204, false, -1,
                     "HTTP 204: empty body (text/plain)");
        pmw_response_cleanup(&resp);

        /* A Content-Type that is only parameters or blanks says nothing. */
        parse(&resp, 502, " ;charset=x", "", 3);
        assert_whole(&resp, 502, false, -1,
                     "HTTP 502: empty body (no Content-Type)");
        pmw_response_cleanup(&resp);

        parse(&resp, 502, "\t\x01 ", "", 3);
        assert_whole(&resp, 502, false, -1,
                     "HTTP 502: empty body (no Content-Type)");
        pmw_response_cleanup(&resp);

        parse(&resp, 200, " text/html ; charset=x", "", 3);
        assert_whole(&resp, 200, false, -1, "HTTP 200: empty body (text/html)");
        pmw_response_cleanup(&resp);

        /* Whitespace only: not JSON, nothing to quote. */
        parse(&resp, 502, "text/plain", " \r\n\t", 3);
        assert_whole(&resp, 502, false, -1,
                     "HTTP 502: non-JSON body (text/plain): ");
        pmw_response_cleanup(&resp);
}

static void test_snippet_made_safe(void **state) {
        (void)state;
        pmw_response_t resp;

        /* Control characters (C0, DEL, C1 U+0085) become one space; invalid
         * UTF-8 (a lone 0xff, a lone continuation byte, an overlong "/",
         * a surrogate, a truncated sequence at the end) becomes U+FFFD;
         * valid UTF-8 stays. */
        parse(&resp, 502, "text/plain",
              "\t a\x01\x02"
              "b\x7f"
              "c\xc2\x85"
              "d\xff"
              "e\x80"
              "f\xc0\xaf"
              "g\xed\xa0\x80"
              "h \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe2\x82",
              1);
        assert_whole(&resp, 502, false, -1,
                     "HTTP 502: non-JSON body (text/plain): a b c "
                     "d\xef\xbf\xbd"
                     "e\xef\xbf\xbd"
                     "f\xef\xbf\xbd\xef\xbf\xbd"
                     "g\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                     "h \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
                     "\xef\xbf\xbd\xef\xbf\xbd");
        pmw_response_cleanup(&resp);

        /* The Content-Type is made safe and bounded too. */
        parse(&resp, 502,
              "text/\x01html\xff"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
              "; charset=x",
              "", 1);
        assert_whole(
            &resp, 502, false, -1,
            "HTTP 502: empty body (text/ html\xef\xbf\xbd"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...)");
        pmw_response_cleanup(&resp);
}

static void test_snippet_cut(void **state) {
        (void)state;
        pmw_response_t resp;
        char body[201];

        /* 100 bytes are quoted, then "...". */
        memset(body, 'x', 200);
        body[200] = '\0';
        parse(&resp, 502, "text/html", body, 1);
        assert_string_equal(resp.message,
                            "HTTP 502: non-JSON body (text/html): "
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                            "...");
        pmw_response_cleanup(&resp);

        /* Exactly 100 bytes: no cut. */
        body[100] = '\0';
        parse(&resp, 502, "text/html", body, 1);
        assert_string_equal(
            resp.message,
            "HTTP 502: non-JSON body (text/html): "
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        pmw_response_cleanup(&resp);

        /* A character that straddles the cut is not split in half. */
        memset(body, 'x', 99);
        memcpy(body + 99, "\xc3\xa9yy", 5);
        parse(&resp, 502, "text/html", body, 1);
        assert_string_equal(resp.message,
                            "HTTP 502: non-JSON body (text/html): "
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                            "...");
        pmw_response_cleanup(&resp);
}

static void test_never_reads_past_len(void **state) {
        (void)state;
        pmw_response_t resp;
        /* len stops before the garbage: the answer is the array alone. */
        const char body[] = "[{\"ErrorCode\": 0}]GARBAGE";
        pmw_response_parse(&resp, 200, NULL, body, 18, 1);
        assert_true(resp.per_message);
        assert_int_equal(resp.results[0].error_code, 0);
        pmw_response_cleanup(&resp);

        /* len 0 with a non-empty buffer is an empty body. */
        pmw_response_parse(&resp, 405, NULL, body, 0, 1);
        assert_string_equal(resp.message,
                            "HTTP 405: empty body (no Content-Type)");
        pmw_response_cleanup(&resp);
}

static void test_transport_errors(void **state) {
        (void)state;
        static const struct {
                pmw_transport_t t;
                const char *detail;
                const char *message;
        } cases[] = {
            {PMW_TRANSPORT_CONNECT, "Could not resolve host: api.example",
             "connection failed, request not sent: Could not resolve host: "
             "api.example"},
            {PMW_TRANSPORT_CONNECT, NULL,
             "connection failed, request not sent"},
            {PMW_TRANSPORT_TIMEOUT,
             "Operation timed out after 15000 milliseconds with 0 bytes "
             "received",
             "timed out, outcome unknown: Operation timed out after 15000 "
             "milliseconds with 0 bytes received"},
            {PMW_TRANSPORT_TIMEOUT, "", "timed out, outcome unknown"},
            {PMW_TRANSPORT_DROPPED,
             "Send failed since rewinding of the data "
             "stream failed\n",
             "connection lost after the request was sent, outcome unknown: "
             "Send failed since rewinding of the data stream failed"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                pmw_response_t resp;
                pmw_response_set_transport_error(&resp, cases[i].t,
                                                 cases[i].detail);
                assert_int_equal(resp.transport, cases[i].t);
                assert_int_equal(resp.http_status, 0);
                assert_false(resp.per_message);
                assert_null(resp.results);
                assert_int_equal(resp.result_cnt, 0);
                assert_int_equal(resp.error_code, -1);
                assert_false(resp.json);
                assert_int_equal(resp.retry_after_ms, -1);
                assert_string_equal(resp.message, cases[i].message);
                pmw_response_cleanup(&resp);
        }
}

static void test_reuse_after_cleanup(void **state) {
        (void)state;
        pmw_response_t resp;
        parse(&resp, 200, NULL, "[{\"ErrorCode\": 0}]", 1);
        resp.retry_after_ms = 5000; /* the caller's */
        pmw_response_cleanup(&resp);
        assert_int_equal(resp.retry_after_ms, -1);
        pmw_response_set_transport_error(&resp, PMW_TRANSPORT_TIMEOUT, "x");
        pmw_response_cleanup(&resp);
        parse(&resp, 422, NULL, "{\"ErrorCode\": 300, \"Message\": \"m\"}", 1);
        assert_whole(&resp, 422, true, 300, "m");
        pmw_response_cleanup(&resp);
        /* Cleaning up twice is harmless. */
        pmw_response_cleanup(&resp);
}

static void test_transport_names(void **state) {
        (void)state;
        assert_string_equal(pmw_transport_name(PMW_TRANSPORT_OK), "ok");
        assert_string_equal(pmw_transport_name(PMW_TRANSPORT_CONNECT),
                            "connect");
        assert_string_equal(pmw_transport_name(PMW_TRANSPORT_TIMEOUT),
                            "timeout");
        assert_string_equal(pmw_transport_name(PMW_TRANSPORT_DROPPED),
                            "dropped");
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_mixed_batch),
            cmocka_unit_test(test_optional_fields_of_wrong_type),
            cmocka_unit_test(test_strings_decoded),
            cmocka_unit_test(test_array_wrong_length),
            cmocka_unit_test(test_empty_array_for_empty_request),
            cmocka_unit_test(test_bad_elements),
            cmocka_unit_test(test_object_error),
            cmocka_unit_test(test_long_message_kept_whole),
            cmocka_unit_test(test_object_at_2xx),
            cmocka_unit_test(test_other_json),
            cmocka_unit_test(test_non_json),
            cmocka_unit_test(test_empty_body),
            cmocka_unit_test(test_snippet_made_safe),
            cmocka_unit_test(test_snippet_cut),
            cmocka_unit_test(test_never_reads_past_len),
            cmocka_unit_test(test_transport_errors),
            cmocka_unit_test(test_reuse_after_cleanup),
            cmocka_unit_test(test_transport_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
