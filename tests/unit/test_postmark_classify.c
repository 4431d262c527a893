/*
 * Unit tests for common/postmark_classify: every HTTP status of
 * postmark-api.md section 7 and every ErrorCode of section 8, whole request
 * and per message, transport failures, and the response shapes that must
 * never be read as results. Responses are built by the real parser from
 * real-looking bodies, so the two modules are tested together as the worker
 * uses them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/postmark_classify.h"
#include "common/postmark_result.h"

/* Expected verdicts, written out independently of the code under test:
 * {outcome, hold_reason, unknown_outcome, rate_limited, counts_as_failure}.
 */
#define PER_MESSAGE                                                            \
        { PMW_OUTCOME_PER_MESSAGE, PMW_HOLD_NONE, false, false, false }
#define SENT                                                                   \
        { PMW_OUTCOME_SENT, PMW_HOLD_NONE, false, false, false }
#define FAILED                                                                 \
        { PMW_OUTCOME_FAILED, PMW_HOLD_NONE, false, false, false }
#define SPLIT                                                                  \
        { PMW_OUTCOME_SPLIT, PMW_HOLD_NONE, false, false, false }
#define RETRY                                                                  \
        { PMW_OUTCOME_RETRY, PMW_HOLD_NONE, false, false, true }
#define RETRY_UNKNOWN                                                          \
        { PMW_OUTCOME_RETRY, PMW_HOLD_NONE, true, false, true }
#define RETRY_RATE                                                             \
        { PMW_OUTCOME_RETRY, PMW_HOLD_NONE, false, true, false }
#define RETRY_MSG                                                              \
        { PMW_OUTCOME_RETRY, PMW_HOLD_NONE, false, false, false }
#define HOLD_TOKEN                                                             \
        { PMW_OUTCOME_HOLD, PMW_HOLD_TOKEN, false, false, false }
#define HOLD_ACCOUNT                                                           \
        { PMW_OUTCOME_HOLD, PMW_HOLD_ACCOUNT, false, false, false }
#define HOLD_ENDPOINT                                                          \
        { PMW_OUTCOME_HOLD, PMW_HOLD_ENDPOINT, false, false, false }
#define HOLD_BLOCKED                                                           \
        { PMW_OUTCOME_HOLD, PMW_HOLD_BLOCKED, false, false, false }

static void
assert_verdict(pmw_verdict_t got, pmw_verdict_t want, const char *what) {
        if (got.outcome != want.outcome ||
            got.hold_reason != want.hold_reason ||
            got.unknown_outcome != want.unknown_outcome ||
            got.rate_limited != want.rate_limited ||
            got.counts_as_failure != want.counts_as_failure)
                fail_msg(
                    "%s: got %s/%s unknown=%d rate=%d counts=%d, "
                    "want %s/%s unknown=%d rate=%d counts=%d",
                    what, pmw_outcome_name(got.outcome),
                    pmw_hold_reason_name(got.hold_reason), got.unknown_outcome,
                    got.rate_limited, got.counts_as_failure,
                    pmw_outcome_name(want.outcome),
                    pmw_hold_reason_name(want.hold_reason),
                    want.unknown_outcome, want.rate_limited,
                    want.counts_as_failure);
}

static pmw_verdict_t classify_body(int status,
                                   const char *ctype,
                                   const char *body,
                                   size_t expected) {
        pmw_response_t resp;
        pmw_verdict_t v;
        pmw_response_parse(&resp, status, ctype, body, strlen(body), expected);
        v = pmw_classify_request(&resp);
        pmw_response_cleanup(&resp);
        return v;
}

#define JSON "application/json"
#define HTML "text/html"
#define TEXT "text/plain"
#define OK2                                                                    \
        "[{\"ErrorCode\": 0, \"Message\": \"OK\"}, {\"ErrorCode\": 300, "      \
        "\"Message\": \"Invalid\"}]"
#define HTML_403                                                               \
        "<html><head><title>403 Forbidden</title></head><body>Request "        \
        "blocked.</body></html>"

static void test_http_statuses(void **state) {
        (void)state;
        static const struct {
                int status;
                const char *ctype;
                const char *body;
                pmw_verdict_t want;
        } cases[] = {
            /* 2xx: results only from a complete per-message array. */
            {200, JSON, OK2, PER_MESSAGE},
            {201, JSON, OK2, PER_MESSAGE},
            {299, NULL, OK2, PER_MESSAGE},
            {200, JSON, "[{\"ErrorCode\": 0}]", RETRY_UNKNOWN}, /* 1 of 2 */
            {200, JSON,
             "[{\"ErrorCode\": 0}, {\"ErrorCode\": 0}, {\"ErrorCode\": 0}]",
             RETRY_UNKNOWN}, /* 3 of 2 */
            {200, JSON, "[{\"ErrorCode\": 0}, {\"Message\": \"OK\"}]",
             RETRY_UNKNOWN}, /* element without ErrorCode */
            {200, JSON, "[{\"ErrorCode\": 0}, 0]", RETRY_UNKNOWN},
            {200, HTML, "<html>OK</html>", RETRY_UNKNOWN}, /* non-JSON 200 */
            {200, JSON, "{\"ErrorCode\": 0, \"Message\": \"OK\"}",
             RETRY_UNKNOWN}, /* an object, not an array */
            {200, JSON, "", RETRY_UNKNOWN},
            {204, NULL, "", RETRY_UNKNOWN},
            /* 3xx: a redirect means a wrong base URL. */
            {301, HTML, "<html>Moved</html>", HOLD_ENDPOINT},
            {302, NULL, "", HOLD_ENDPOINT},
            {304, NULL, "", HOLD_ENDPOINT},
            {307, NULL, "", HOLD_ENDPOINT},
            {308, NULL, "", HOLD_ENDPOINT},
            /* 401: the token, whatever the body says. */
            {401, JSON,
             "{\"ErrorCode\": 10, \"Message\": \"Request does not contain a "
             "valid Server token.\"}",
             HOLD_TOKEN},
            {401, NULL, "", HOLD_TOKEN},
            {401, HTML, "<html>Unauthorized</html>", HOLD_TOKEN},
            {401, JSON, "{\"ErrorCode\": 300, \"Message\": \"x\"}", HOLD_TOKEN},
            /* 403: HTML from the network layer, or Postmark's JSON. */
            {403, HTML, HTML_403, HOLD_BLOCKED},
            {403, NULL, "", HOLD_BLOCKED},
            {403, JSON, "{}", HOLD_BLOCKED},
            {403, JSON, "{\"Message\": \"Forbidden\"}", HOLD_BLOCKED},
            {403, JSON, "[]", HOLD_BLOCKED},
            {403, JSON, "{\"ErrorCode\": 10, \"Message\": \"x\"}", HOLD_TOKEN},
            {403, JSON, "{\"ErrorCode\": 403, \"Message\": \"x\"}", SPLIT},
            {403, JSON, "{\"ErrorCode\": 405, \"Message\": \"x\"}",
             HOLD_ACCOUNT},
            {403, JSON, "{\"ErrorCode\": 1480, \"Message\": \"x\"}",
             HOLD_ACCOUNT},
            {403, JSON, "{\"ErrorCode\": 100, \"Message\": \"x\"}", RETRY},
            {403, JSON, "{\"ErrorCode\": 429, \"Message\": \"x\"}", RETRY_RATE},
            {403, JSON, "{\"ErrorCode\": 300, \"Message\": \"x\"}", SPLIT},
            /* 404, 405, 415: the wrong endpoint or client. */
            {404, JSON, "{\"ErrorCode\": 0, \"Message\": \"Not found\"}",
             HOLD_ENDPOINT},
            {404, HTML, "<html>Not Found</html>", HOLD_ENDPOINT},
            {405, NULL, "", HOLD_ENDPOINT},
            {415, NULL, "", HOLD_ENDPOINT},
            {415, JSON, "{\"ErrorCode\": 409, \"Message\": \"x\"}",
             HOLD_ENDPOINT},
            /* 413: split. */
            {413, JSON, "{\"ErrorCode\": 0, \"Message\": \"Too large\"}",
             SPLIT},
            {413, HTML, "<html>413 Request Entity Too Large</html>", SPLIT},
            {413, NULL, "", SPLIT},
            /* 422: by ErrorCode (more in test_request_error_codes); no code
             * at all is a content problem we cannot attribute: split. */
            {422, JSON, "{\"ErrorCode\": 300, \"Message\": \"x\"}", SPLIT},
            {422, JSON, "{\"ErrorCode\": 10, \"Message\": \"x\"}", HOLD_TOKEN},
            {422, JSON, "{}", SPLIT},
            {422, JSON, "{\"ErrorCode\": \"405\"}", SPLIT},
            {422, TEXT, "Unprocessable", SPLIT},
            {422, NULL, "", SPLIT},
            /* Transient. 429 slows down and is no outage. */
            {408, NULL, "", RETRY},
            {425, NULL, "", RETRY},
            {429, JSON, "{\"ErrorCode\": 429, \"Message\": \"Rate limit\"}",
             RETRY_RATE},
            {429, NULL, "", RETRY_RATE},
            {429, JSON, "{\"ErrorCode\": 10, \"Message\": \"x\"}", RETRY_RATE},
            {500, JSON,
             "{\"ErrorCode\": 101, \"Message\": \"Unexpected error. Error "
             "ID: 1\"}",
             RETRY},
            {500, HTML, "<html>Internal Server Error</html>", RETRY},
            {502, TEXT, "Bad Gateway", RETRY_UNKNOWN}, /* proxy 502 */
            {502, HTML, "<html><body>502 Bad Gateway</body></html>",
             RETRY_UNKNOWN},
            {503, JSON, "{\"ErrorCode\": 100, \"Message\": \"Maintenance\"}",
             RETRY},
            {503, NULL, "", RETRY},
            {504, HTML, "<html>504 Gateway Time-out</html>", RETRY_UNKNOWN},
            /* Other 5xx: from something between us and Postmark. */
            {501, NULL, "", RETRY_UNKNOWN},
            {505, NULL, "", RETRY_UNKNOWN},
            {507, NULL, "", RETRY_UNKNOWN},
            {520, HTML, "<html>Web server is returning an unknown error</html>",
             RETRY_UNKNOWN},
            {524, NULL, "", RETRY_UNKNOWN},
            {599, NULL, "", RETRY_UNKNOWN},
            /* Other 4xx: a wrong endpoint, proxy or client. */
            {400, JSON, "{\"ErrorCode\": 402, \"Message\": \"x\"}",
             HOLD_ENDPOINT},
            {402, NULL, "", HOLD_ENDPOINT},
            {406, NULL, "", HOLD_ENDPOINT},
            {407, HTML, "<html>Proxy Authentication Required</html>",
             HOLD_ENDPOINT},
            {409, NULL, "", HOLD_ENDPOINT},
            {410, NULL, "", HOLD_ENDPOINT},
            {411, NULL, "", HOLD_ENDPOINT},
            {412, NULL, "", HOLD_ENDPOINT},
            {414, NULL, "", HOLD_ENDPOINT},
            {416, NULL, "", HOLD_ENDPOINT},
            {418, NULL, "", HOLD_ENDPOINT},
            {421, NULL, "", HOLD_ENDPOINT},
            {423, NULL, "", HOLD_ENDPOINT},
            {426, NULL, "", HOLD_ENDPOINT},
            {428, NULL, "", HOLD_ENDPOINT},
            {431, NULL, "", HOLD_ENDPOINT},
            {451, NULL, "", HOLD_ENDPOINT},
            {499, NULL, "", HOLD_ENDPOINT},
            /* Not a final status we understand. */
            {100, NULL, "", RETRY_UNKNOWN},
            {101, NULL, "", RETRY_UNKNOWN},
            {103, NULL, "", RETRY_UNKNOWN},
            {199, NULL, "", RETRY_UNKNOWN},
            {600, NULL, "", RETRY_UNKNOWN},
            {999, JSON, OK2, RETRY_UNKNOWN},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char what[160];
                snprintf(what, sizeof(what), "case %zu: HTTP %d %.60s", i,
                         cases[i].status, cases[i].body);
                assert_verdict(classify_body(cases[i].status, cases[i].ctype,
                                             cases[i].body, 2),
                               cases[i].want, what);
        }
}

static void test_transport(void **state) {
        (void)state;
        static const struct {
                pmw_transport_t t;
                pmw_verdict_t want;
        } cases[] = {
            /* Never sent: retrying cannot duplicate. */
            {PMW_TRANSPORT_CONNECT, RETRY},
            {PMW_TRANSPORT_TIMEOUT, RETRY_UNKNOWN},
            {PMW_TRANSPORT_DROPPED, RETRY_UNKNOWN},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                pmw_response_t resp;
                pmw_response_set_transport_error(&resp, cases[i].t, "detail");
                assert_verdict(pmw_classify_request(&resp), cases[i].want,
                               pmw_transport_name(cases[i].t));
                pmw_response_cleanup(&resp);
        }
}

/* Every ErrorCode of postmark-api.md section 8, with what it means for a
 * whole request (HTTP 422) and for one message of a 2xx batch answer. */
static const struct {
        int code;
        pmw_verdict_t request;
        pmw_verdict_t message;
} error_codes[] = {
    {0, SPLIT, SENT},
    {10, HOLD_TOKEN, HOLD_TOKEN},
    {11, SPLIT, FAILED},
    {12, SPLIT, FAILED},
    {13, SPLIT, FAILED},
    {14, SPLIT, FAILED},
    {100, RETRY, RETRY_MSG},
    {101, RETRY, RETRY_MSG},
    {300, SPLIT, FAILED},
    {400, SPLIT, FAILED},
    {401, SPLIT, FAILED},
    {402, SPLIT, FAILED},
    {403, SPLIT, FAILED},
    {405, HOLD_ACCOUNT, HOLD_ACCOUNT},
    {406, SPLIT, FAILED},
    {409, SPLIT, FAILED},
    {410, SPLIT, FAILED},
    {411, SPLIT, FAILED},
    {412, SPLIT, FAILED},
    {413, HOLD_ACCOUNT, HOLD_ACCOUNT},
    {422, HOLD_ACCOUNT, HOLD_ACCOUNT},
    {429, RETRY_RATE, {PMW_OUTCOME_RETRY, PMW_HOLD_NONE, false, true, false}},
    {1101, SPLIT, FAILED},
    {1105, SPLIT, FAILED},
    {1109, SPLIT, FAILED},
    {1235, SPLIT, FAILED},
    {1236, SPLIT, FAILED},
    {1480, HOLD_ACCOUNT, HOLD_ACCOUNT},
};

/* The ranges of section 8 that belong to non-sending APIs (1120-1125 is
 * inside 1100-1131): a split for a whole request, failed for a message. */
static const struct {
        int lo, hi;
} other_codes[] = {
    {500, 523},   {600, 615},   {700, 703},   {800, 813},   {900, 900},
    {1000, 1003}, {1100, 1131}, {1220, 1241}, {1300, 1302}, {1350, 1364},
    {1400, 1411}, {1450, 1460}, {1500, 1502},
};

static pmw_verdict_t classify_code(int status, int code) {
        char body[96];
        snprintf(body, sizeof(body),
                 "{\"ErrorCode\": %d, \"Message\": \"Some text.\"}", code);
        return classify_body(status, JSON, body, 2);
}

static void test_request_error_codes(void **state) {
        (void)state;
        static const pmw_verdict_t split = SPLIT;
        char what[64];

        for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]);
             i++) {
                int code = error_codes[i].code;
                snprintf(what, sizeof(what), "HTTP 422 ErrorCode %d", code);
                assert_verdict(classify_code(422, code), error_codes[i].request,
                               what);
                /* A JSON 403 with an ErrorCode is read the same way. */
                snprintf(what, sizeof(what), "HTTP 403 ErrorCode %d", code);
                assert_verdict(classify_code(403, code), error_codes[i].request,
                               what);
        }
        for (size_t i = 0; i < sizeof(other_codes) / sizeof(other_codes[0]);
             i++) {
                for (int code = other_codes[i].lo; code <= other_codes[i].hi;
                     code++) {
                        snprintf(what, sizeof(what), "HTTP 422 ErrorCode %d",
                                 code);
                        assert_verdict(classify_code(422, code), split, what);
                        snprintf(what, sizeof(what), "HTTP 403 ErrorCode %d",
                                 code);
                        assert_verdict(classify_code(403, code), split, what);
                }
        }
}

static void test_message_error_codes(void **state) {
        (void)state;
        static const pmw_verdict_t failed = FAILED;
        char what[64];

        for (size_t i = 0; i < sizeof(error_codes) / sizeof(error_codes[0]);
             i++) {
                int code = error_codes[i].code;
                snprintf(what, sizeof(what), "message ErrorCode %d", code);
                assert_verdict(pmw_classify_message(code, "Some text."),
                               error_codes[i].message, what);
                assert_verdict(pmw_classify_message(code, NULL),
                               error_codes[i].message, what);
        }
        for (size_t i = 0; i < sizeof(other_codes) / sizeof(other_codes[0]);
             i++) {
                for (int code = other_codes[i].lo; code <= other_codes[i].hi;
                     code++) {
                        snprintf(what, sizeof(what), "message ErrorCode %d",
                                 code);
                        assert_verdict(pmw_classify_message(code, "x"), failed,
                                       what);
                }
        }
        /* Codes nobody documented are permanent for the message. */
        assert_verdict(pmw_classify_message(1, "x"), failed, "1");
        assert_verdict(pmw_classify_message(99999, "x"), failed, "99999");
        assert_verdict(pmw_classify_message(-1, "x"), failed, "-1");
}

static void test_inactive_406(void **state) {
        (void)state;
        static const pmw_verdict_t sent = SENT, failed = FAILED;

        /* Some recipients inactive: sent to the others. */
        assert_verdict(
            pmw_classify_message(406,
                                 "Message OK, but will not deliver to these "
                                 "inactive addresses: a@x.example. Inactive "
                                 "recipients are ones that have generated a "
                                 "hard bounce or a spam complaint."),
            sent, "partial 406");
        assert_verdict(pmw_classify_message(
                           406, "message ok, BUT WILL NOT DELIVER to these"),
                       sent, "partial 406, other case");
        assert_verdict(
            pmw_classify_message(406, "Message OK, but will not deliver"), sent,
            "partial 406, prefix only");
        /* Every recipient inactive: failed. */
        assert_verdict(
            pmw_classify_message(406,
                                 "You tried to send to recipient(s) that have "
                                 "been marked as inactive. Found inactive "
                                 "addresses: a@x.example."),
            failed, "plain 406");
        assert_verdict(pmw_classify_message(406, ""), failed, "406, empty");
        assert_verdict(pmw_classify_message(406, NULL), failed, "406, NULL");
        assert_verdict(pmw_classify_message(406, "Message OK, but will not"),
                       failed, "406, shorter than the prefix");
        assert_verdict(
            pmw_classify_message(406, " Message OK, but will not deliver"),
            failed, "406, prefix not at the start");
        /* The text only matters with 406. */
        assert_verdict(
            pmw_classify_message(300, "Message OK, but will not deliver"),
            failed, "300 with the partial text");
}

static void test_mixed_batch_end_to_end(void **state) {
        (void)state;
        static const pmw_verdict_t per_message = PER_MESSAGE;
        /* 412 is per message here: failed, not a hold (CONTRACT 2.3 lists
         * it among permanent rejections). */
        static const pmw_verdict_t want[] = {SENT, FAILED,    FAILED,
                                             SENT, RETRY_MSG, FAILED};
        pmw_response_t resp;
        const char body[] =
            "[{\"ErrorCode\": 0, \"Message\": \"OK\", \"MessageID\": \"id0\"},"
            " {\"ErrorCode\": 406, \"Message\": \"You tried to send to "
            "recipient(s) that have been marked as inactive.\"},"
            " {\"ErrorCode\": 300, \"Message\": \"Provide either email "
            "TextBody or HtmlBody or both.\"},"
            " {\"ErrorCode\": 406, \"Message\": \"Message OK, but will not "
            "deliver to these inactive addresses: x@example.org.\"},"
            " {\"ErrorCode\": 101, \"Message\": \"Unexpected error\"},"
            " {\"ErrorCode\": 412, \"Message\": \"Account pending\"}]";

        pmw_response_parse(&resp, 200, JSON, body, sizeof(body) - 1, 6);
        assert_verdict(pmw_classify_request(&resp), per_message, "request");
        assert_int_equal(resp.result_cnt, 6);
        for (size_t i = 0; i < resp.result_cnt; i++) {
                char what[32];
                snprintf(what, sizeof(what), "result %zu", i);
                assert_verdict(pmw_classify_message(resp.results[i].error_code,
                                                    resp.results[i].message),
                               want[i], what);
        }
        pmw_response_cleanup(&resp);
}

/* Whatever the status and body: PER_MESSAGE exactly when per_message, never
 * SENT or FAILED for a whole request, a hold reason exactly with HOLD, and
 * a rate limit never counted as an outage. */
static void test_request_invariants(void **state) {
        (void)state;
        static const char *const bodies[] = {
            "",
            "<html>x</html>",
            "{}",
            "{\"ErrorCode\": 10}",
            "{\"ErrorCode\": 0}",
            "[{\"ErrorCode\": 0}]",
            "[{\"ErrorCode\": 0}, {\"ErrorCode\": 0}]",
            "[1]",
        };
        for (int status = 0; status < 1000; status++) {
                for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]);
                     b++) {
                        pmw_response_t resp;
                        pmw_verdict_t v;
                        pmw_response_parse(&resp, status, NULL, bodies[b],
                                           strlen(bodies[b]), 1);
                        v = pmw_classify_request(&resp);
                        assert_int_equal(v.outcome == PMW_OUTCOME_PER_MESSAGE,
                                         resp.per_message);
                        assert_int_not_equal(v.outcome, PMW_OUTCOME_SENT);
                        assert_int_not_equal(v.outcome, PMW_OUTCOME_FAILED);
                        assert_int_equal(v.outcome == PMW_OUTCOME_HOLD,
                                         v.hold_reason != PMW_HOLD_NONE);
                        assert_false(v.rate_limited && v.counts_as_failure);
                        pmw_response_cleanup(&resp);
                }
        }
}

static void test_names(void **state) {
        (void)state;
        assert_string_equal(pmw_outcome_name(PMW_OUTCOME_PER_MESSAGE),
                            "per_message");
        assert_string_equal(pmw_outcome_name(PMW_OUTCOME_SENT), "sent");
        assert_string_equal(pmw_outcome_name(PMW_OUTCOME_FAILED), "failed");
        assert_string_equal(pmw_outcome_name(PMW_OUTCOME_RETRY), "retry");
        assert_string_equal(pmw_outcome_name(PMW_OUTCOME_SPLIT), "split");
        assert_string_equal(pmw_outcome_name(PMW_OUTCOME_HOLD), "hold");
        assert_string_equal(pmw_hold_reason_name(PMW_HOLD_NONE), "none");
        assert_string_equal(pmw_hold_reason_name(PMW_HOLD_TOKEN), "token");
        assert_string_equal(pmw_hold_reason_name(PMW_HOLD_ACCOUNT), "account");
        assert_string_equal(pmw_hold_reason_name(PMW_HOLD_ENDPOINT),
                            "endpoint");
        assert_string_equal(pmw_hold_reason_name(PMW_HOLD_BLOCKED), "blocked");
        assert_string_equal(pmw_hold_reason_name(PMW_HOLD_OUTAGE), "outage");
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_http_statuses),
            cmocka_unit_test(test_transport),
            cmocka_unit_test(test_request_error_codes),
            cmocka_unit_test(test_message_error_codes),
            cmocka_unit_test(test_inactive_406),
            cmocka_unit_test(test_mixed_batch_end_to_end),
            cmocka_unit_test(test_request_invariants),
            cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
