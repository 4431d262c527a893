/* Unit tests for tests/postmark-sim/sim_api: the request pipeline without
 * HTTP (order of checks, faults, answers, stats). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/defs.h"
#include "tests/postmark-sim/sim_api.h"

typedef struct fixture_s {
        pmw_sim_config_t cfg;
        pmw_sim_t *sim;
        char token[8];
        char *tokens[1];
} fixture_t;

static int setup(void **state) {
        fixture_t *fx = calloc(1, sizeof(*fx));
        memcpy(fx->token, "tok", 4);
        fx->tokens[0]      = fx->token;
        fx->cfg.tokens     = fx->tokens;
        fx->cfg.n_tokens   = 1;
        fx->cfg.store_max  = 100;
        fx->cfg.seed       = 1;
        fx->cfg.latency_ms = 25;
        fx->sim            = pmw_sim_new(&fx->cfg, pmw_sim_faults_new(1), NULL);
        *state             = fx;
        return 0;
}

static int teardown(void **state) {
        fixture_t *fx = *state;
        pmw_sim_destroy(fx->sim);
        free(fx);
        return 0;
}

static void call(fixture_t *fx,
                 const char *method,
                 const char *path,
                 const char *token,
                 const char *body,
                 pmw_sim_response_t *resp) {
        pmw_sim_request_t req = {
            .method       = method,
            .path         = path,
            .accept       = "application/json",
            .content_type = "application/json",
            .token        = token,
            .body         = body ? body : "",
            .body_len     = body ? strlen(body) : 0,
            .body_total   = body ? strlen(body) : 0,
        };
        pmw_sim_handle(fx->sim, &req, resp);
}

static void expect(fixture_t *fx,
                   const char *method,
                   const char *path,
                   const char *token,
                   const char *body,
                   int status,
                   const char *want_body) {
        pmw_sim_response_t resp;
        call(fx, method, path, token, body, &resp);
        if (resp.status != status ||
            strcmp(pmw_buf_ptr(&resp.body), want_body) != 0)
                fail_msg("%s %s\n got %d %s\nwant %d %s", method, path,
                         resp.status, pmw_buf_ptr(&resp.body), status,
                         want_body);
        pmw_buf_cleanup(&resp.body);
}

static void add_fault(fixture_t *fx, const char *specs, int status) {
        pmw_sim_response_t resp;
        call(fx, "POST", "/_sim/faults", NULL, specs, &resp);
        assert_int_equal(resp.status, status);
        pmw_buf_cleanup(&resp.body);
}

static void test_routes(void **state) {
        fixture_t *fx = *state;
        expect(fx, "GET", "/email/batch", "tok", NULL, 405, "");
        expect(fx, "DELETE", "/messages/outbound", "tok", NULL, 405, "");
        expect(fx, "POST", "/nope", "tok", "{}", 404,
               "{\"ErrorCode\":404,\"Message\":\"Not found: no such endpoint "
               "in the Postmark simulator.\"}");
        /* Paths ignore case, as ASP.NET routes do. */
        expect(fx, "POST", "/EMAIL/BATCH", "tok", "[]", 200, "[]");
        assert_int_equal(pmw_sim_route("/email/batchWithTemplates"),
                         PMW_SIM_EP_BATCH_TEMPLATES);
        assert_int_equal(pmw_sim_body_limit(PMW_SIM_EP_BATCH),
                         50 * 1024 * 1024);
        assert_int_equal(pmw_sim_body_limit(PMW_SIM_EP_EMAIL),
                         10 * 1024 * 1024);
}

static void test_order_of_checks(void **state) {
        fixture_t *fx = *state;
        /* 413 before 415 before 401 before 402. */
        pmw_sim_request_t req = {.method         = "POST",
                                 .path           = "/email",
                                 .body           = "",
                                 .body_total     = 10485761,
                                 .body_too_large = true};
        pmw_sim_response_t resp;
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 413);
        assert_string_equal(pmw_buf_ptr(&resp.body),
                            "{\"ErrorCode\":300,\"Message\":\"Request too "
                            "large: 10485761 bytes or more; /email accepts "
                            "at most 10485760 bytes.\"}");
        pmw_buf_cleanup(&resp.body);
        req.body_too_large = false;
        req.token          = "tok";
        req.accept         = "text/html, application/json;q=0.9";
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 415);
        pmw_buf_cleanup(&resp.body);
        req.content_type = "application/json";
        req.token        = "bad";
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 401);
        pmw_buf_cleanup(&resp.body);
        req.token = "tok";
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 422);
        assert_string_equal(pmw_buf_ptr(&resp.body),
                            "{\"ErrorCode\":402,\"Message\":\"Invalid JSON: "
                            "offset 0: unexpected end of input.\"}");
        pmw_buf_cleanup(&resp.body);

        /* A fault comes first of all. */
        add_fault(fx, "status=503,next=1", 200);
        req.body_too_large = true;
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 503);
        assert_int_equal(resp.retry_after, -1);
        assert_string_equal(pmw_buf_ptr(&resp.body),
                            "{\"ErrorCode\":100,\"Message\":\"The Postmark "
                            "API is offline for maintenance (simulated "
                            "fault).\"}");
        pmw_buf_cleanup(&resp.body);
}

static void test_answers_and_latency(void **state) {
        fixture_t *fx = *state;
        pmw_sim_response_t resp;
        call(fx, "POST", "/email/batch", "tok",
             "[{\"From\":\"a@b.example\",\"To\":\"\\\"X, Y\\\" <x@y.org>\","
             "\"TextBody\":\"t\"},{\"From\":\"a@b.example\"}]",
             &resp);
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.delay_ms, 25);
        assert_string_equal(resp.content_type,
                            "application/json; charset=utf-8");
        /* To is echoed exactly as sent; failed elements are short. */
        const char *s = pmw_buf_ptr(&resp.body);
        const char *prefix =
            "[{\"To\":\"\\\"X, Y\\\" <x@y.org>\","
            "\"SubmittedAt\":\"";
        assert_int_equal(strncmp(s, prefix, strlen(prefix)), 0);
        assert_non_null(strstr(s,
                               ",\"ErrorCode\":0,\"Message\":\"OK\"},"
                               "{\"ErrorCode\":300,\"Message\":\"Zero "
                               "recipients specified\"}]"));
        pmw_buf_cleanup(&resp.body);

        /* Faults add their delay; /_sim has no latency. */
        add_fault(fx, "delay=100,next=1\ndrop,nth=3", 200);
        call(fx, "POST", "/email/batch", "tok", "[]", &resp);
        assert_int_equal(resp.delay_ms, 125);
        assert_int_equal(resp.status, 200);
        pmw_buf_cleanup(&resp.body);
        call(fx, "POST", "/email/batch", "tok", "[]", &resp);
        assert_int_equal(resp.status, 0); /* request 3: dropped */
        pmw_buf_cleanup(&resp.body);
        call(fx, "GET", "/_sim/faults", NULL, NULL, &resp);
        assert_int_equal(resp.delay_ms, 0);
        assert_string_equal(pmw_buf_ptr(&resp.body),
                            "[{\"spec\":\"delay=100,next=1\",\"fired\":1,"
                            "\"remaining\":0},{\"spec\":\"drop,nth=3\","
                            "\"fired\":1,\"remaining\":0}]");
        pmw_buf_cleanup(&resp.body);
        add_fault(fx, "drop\nbogus", 400);
        expect(fx, "DELETE", "/_sim/faults", NULL, NULL, 200, "[]");

        expect(fx, "GET", "/_sim/stats", NULL, NULL, 200,
               "{\"requests\":{\"/email/batch\":{\"dropped\":1,\"200\":2},"
               "\"/_sim/faults\":{\"200\":3,\"400\":1}},"
               "\"sending_requests\":3,\"messages\":{\"accepted\":1,"
               "\"failed\":1},\"faults\":{\"status\":0,\"html403\":0,"
               "\"text502\":0,\"drop\":1,\"delay\":1,\"message-error\":0,"
               "\"total\":2},\"stored\":1,\"recorded\":0}");
}

static void test_outbound(void **state) {
        fixture_t *fx = *state;
        pmw_sim_response_t resp;
        call(fx, "POST", "/email", "POSTMARK_API_TEST",
             "{\"From\":\"a@b.example\",\"To\":\"x@y.org\",\"TextBody\":\"t\","
             "\"Metadata\":{\"k\":\"v\"}}",
             &resp);
        assert_int_equal(resp.status, 200);
        assert_non_null(strstr(pmw_buf_ptr(&resp.body),
                               "\"Message\":\"Test job accepted\"}"));
        pmw_buf_cleanup(&resp.body);

        const char *args[]    = {"count", "1", "metadata_k", "v"};
        pmw_sim_request_t req = {.method = "GET",
                                 .path   = "/messages/outbound",
                                 .accept = "application/json",
                                 .token  = "POSTMARK_API_TEST",
                                 .args   = args,
                                 .n_args = 2};
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 200);
        assert_int_equal(strncmp(pmw_buf_ptr(&resp.body),
                                 "{\"TotalCount\":1,\"Messages\":[{", 29),
                         0);
        pmw_buf_cleanup(&resp.body);
        /* Another token sees nothing; bad counts are refused. */
        req.token = "tok";
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_string_equal(pmw_buf_ptr(&resp.body),
                            "{\"TotalCount\":0,\"Messages\":[]}");
        pmw_buf_cleanup(&resp.body);
        const char *bad[] = {"count", "0"};
        req.args          = bad;
        req.n_args        = 1;
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 422);
        pmw_buf_cleanup(&resp.body);
        req.accept = NULL;
        pmw_sim_handle(fx->sim, &req, &resp);
        assert_int_equal(resp.status, 415);
        pmw_buf_cleanup(&resp.body);
}

#define M(fields) "{\"From\":\"a@b.example\",\"TextBody\":\"t\"," fields "}"

static const char rcpt_fault_body[] =
    "{\"ErrorCode\":403,\"Message\":\"Simulated fault.\"}";

/* rcpt= on a request fault: any To, Cc or Bcc address of any message, by
 * its address part, ignoring case; decided after the header and shape
 * checks. */
static void test_rcpt_request_fault(void **state) {
        fixture_t *fx = *state;
        add_fault(fx, "status=422,error-code=403,rcpt=bad*@*", 200);
        static const struct {
                const char *body;
                bool matches;
        } cases[] = {
            {"[" M("\"To\":\"a@x.org\"") "," M("\"To\":\"bad1@x.org\"") "]",
             true},
            {"[" M("\"To\":\"a@x.org\"") "]", false},
            {"[" M("\"To\":\"Bad Guy <BAD2@X.org>\"") "]", true},
            {"[" M("\"To\":\"a@x.org\",\"Cc\":\"c@x.org, bad3@x.org\"") "]",
             true},
            {"[" M("\"To\":\"a@x.org\",\"Bcc\":\"bad4@x.org\"") "]", true},
            /* Only the address part counts, not the display name, ReplyTo
             * or From. */
            {"[" M("\"To\":\"\\\"bad5@x.org\\\" <ok@x.org>\"") "]", false},
            {"[" M("\"To\":\"a@x.org\",\"ReplyTo\":\"bad6@x.org\"") "]", false},
            /* A message that fails validation still counts. */
            {"[{\"To\":\"bad7@x.org\"}]", true},
            {"[]", false},
        };
        for (size_t i = 0; i < PMW_ARRAY_LEN(cases); i++) {
                pmw_sim_response_t resp;
                call(fx, "POST", "/email/batch", "tok", cases[i].body, &resp);
                if (cases[i].matches) {
                        if (resp.status != 422 ||
                            strcmp(pmw_buf_ptr(&resp.body), rcpt_fault_body))
                                fail_msg("case %zu: %d %s", i, resp.status,
                                         pmw_buf_ptr(&resp.body));
                } else if (resp.status != 200) {
                        fail_msg("case %zu: %d %s", i, resp.status,
                                 pmw_buf_ptr(&resp.body));
                }
                pmw_buf_cleanup(&resp.body);
        }
        /* The single endpoint too. */
        expect(fx, "POST", "/email", "tok", M("\"To\":\"bad8@x.org\""), 422,
               rcpt_fault_body);

        /* The checks before it come first: token, JSON, shape. */
        const char *bad_batch = "[" M("\"To\":\"bad9@x.org\"") "]";
        expect(fx, "POST", "/email/batch", "nope", bad_batch, 401,
               "{\"ErrorCode\":10,\"Message\":\"Request does not contain a "
               "valid Server token.\"}");
        expect(fx, "POST", "/email/batch", "tok",
               "[" M("\"To\":\"bad9@x.org\",\"Foo\":1") "]", 422,
               "{\"ErrorCode\":403,\"Message\":\"Invalid request field(s) "
               "- Foo\"}");
        expect(fx, "POST", "/email/batch", "tok", "{\"To\":\"bad9@x.org\"}",
               422,
               "{\"ErrorCode\":402,\"Message\":\"Invalid JSON: the body must "
               "be a JSON array of messages.\"}");

        /* A fault without rcpt= still answers before the checks; with
         * next=, an rcpt= fault that does not match keeps its count. */
        expect(fx, "DELETE", "/_sim/faults", NULL, NULL, 200, "[]");
        add_fault(fx,
                  "status=422,error-code=403,rcpt=bad*@*,next=1\n"
                  "status=503,nth=15",
                  200);
        expect(fx, "POST", "/email/batch", "nope", bad_batch, 401,
               "{\"ErrorCode\":10,\"Message\":\"Request does not contain a "
               "valid Server token.\"}"); /* request 14 */
        expect(fx, "POST", "/email/batch", "nope", bad_batch, 503,
               "{\"ErrorCode\":100,\"Message\":\"The Postmark API is offline "
               "for maintenance (simulated fault).\"}");
        pmw_sim_response_t resp;
        call(fx, "POST", "/email/batch", "tok", "[" M("\"To\":\"a@x.org\"") "]",
             &resp);
        assert_int_equal(resp.status, 200);
        pmw_buf_cleanup(&resp.body);
        expect(fx, "POST", "/email/batch", "tok", bad_batch, 422,
               rcpt_fault_body);
        call(fx, "POST", "/email/batch", "tok", bad_batch, &resp);
        assert_int_equal(resp.status, 200); /* next=1 spent */
        pmw_buf_cleanup(&resp.body);
        expect(fx, "GET", "/_sim/faults", NULL, NULL, 200,
               "[{\"spec\":\"status=422,error-code=403,rcpt=bad*@*,next=1\","
               "\"fired\":1,\"remaining\":0},{\"spec\":\"status=503,nth=15\","
               "\"fired\":1,\"remaining\":0}]");
}

/* above= with the simulator's own clock: a batch of 500 against 1 message
 * per second leaves a debt of 499 s, so the next request is over the rate
 * however slow the test machine is. */
static void test_above_request_fault(void **state) {
        fixture_t *fx = *state;
        add_fault(fx,
                  "status=429,retry-after=3,delay=10,above=1\n"
                  "message-error=406,index=0,next=1",
                  200);
        pmw_buf_t body;
        pmw_buf_init(&body, SIZE_MAX);
        pmw_buf_append_char(&body, '[');
        for (int i = 0; i < 500; i++)
                pmw_buf_appendf(&body, "%s" M("\"To\":\"x%d@x.org\""),
                                i ? "," : "", i);
        pmw_buf_append_char(&body, ']');
        pmw_sim_response_t resp;
        call(fx, "POST", "/email/batch", "tok", pmw_buf_ptr(&body), &resp);
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.delay_ms, 25);
        assert_int_equal(resp.retry_after, -1);
        pmw_buf_cleanup(&resp.body);
        call(fx, "POST", "/email", "tok", M("\"To\":\"a@x.org\""), &resp);
        assert_int_equal(resp.status, 429);
        assert_int_equal(resp.retry_after, 3);
        assert_int_equal(resp.delay_ms, 35);
        assert_string_equal(pmw_buf_ptr(&resp.body),
                            "{\"ErrorCode\":429,\"Message\":\"Rate limit "
                            "exceeded: requests are coming too quickly "
                            "(simulated fault).\"}");
        pmw_buf_cleanup(&resp.body);
        /* A request with a bad token is not counted nor throttled. */
        expect(fx, "POST", "/email", "nope", M("\"To\":\"a@x.org\""), 401,
               "{\"ErrorCode\":10,\"Message\":\"Request does not contain a "
               "valid Server token.\"}");
        pmw_buf_cleanup(&body);
        expect(fx, "GET", "/_sim/stats", NULL, NULL, 200,
               "{\"requests\":{\"/email\":{\"401\":1,\"429\":1},"
               "\"/email/batch\":{\"200\":1},\"/_sim/faults\":{\"200\":1}},"
               "\"sending_requests\":3,\"messages\":{\"accepted\":499,"
               "\"failed\":1},\"faults\":{\"status\":1,\"html403\":0,"
               "\"text502\":0,\"drop\":0,\"delay\":0,\"message-error\":1,"
               "\"total\":2},\"stored\":100,\"recorded\":0}");
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_order_of_checks, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_answers_and_latency, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_outbound, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rcpt_request_fault, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_above_request_fault, setup,
                                            teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
