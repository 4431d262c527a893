/*
 * Integration tests of the Postmark client (common/postmark_client) against
 * a real postmark-sim process on a free loopback port.
 *
 * argv[1]: the postmark-sim binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/buf.h"
#include "common/postmark_batch.h"
#include "common/postmark_client.h"
#include "common/postmark_message.h"
#include "tests/integration/proc.h"

static const char *sim_path;

typedef struct fixture_s {
        pmw_proc_t *sim;
        int port;
        char base_url[64];
        pmw_client_t *client;
} fixture_t;

static void start_sim(fixture_t *fx, const char *const *extra) {
        const char *argv[] = {sim_path,     "--listen",    "127.0.0.1:0",
                              "--inactive", "inactive*@*", NULL};
        pmw_error_t *err =
            pmw_proc_start_server(argv, extra, 10000, &fx->sim, &fx->port);
        if (err)
                fail_msg("postmark-sim: %s", pmw_error_string(err));
        snprintf(fx->base_url, sizeof(fx->base_url), "http://127.0.0.1:%d",
                 fx->port);
}

static void new_client(fixture_t *fx, int64_t timeout_ms, unsigned maxconn) {
        pmw_client_opts_t opts = {
            .base_url           = fx->base_url,
            .timeout_ms         = timeout_ms,
            .connect_timeout_ms = 2000,
            .tls_verify         = true,
            .max_connections    = maxconn,
        };
        pmw_client_destroy(fx->client);
        fx->client = NULL;
        assert_null(pmw_client_new(&opts, &fx->client));
}

static int setup(void **state) {
        fixture_t *fx = calloc(1, sizeof(*fx));
        start_sim(fx, NULL);
        new_client(fx, 5000, 4);
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        fixture_t *fx = *state;
        pmw_client_destroy(fx->client);
        assert_int_equal(pmw_proc_stop(fx->sim, 5000), 0);
        free(fx);
        return 0;
}

static size_t collect(char *p, size_t size, size_t n, void *userp) {
        pmw_buf_append(userp, p, size * n);
        return size * n;
}

/* A plain HTTP request to the simulator's control endpoints; the answer's
 * body goes to out when it is not NULL. */
static long sim_http(fixture_t *fx,
                     const char *method,
                     const char *path,
                     const char *body,
                     pmw_buf_t *out) {
        char url[128];
        pmw_buf_t sink;
        pmw_buf_init(&sink, 1 << 20);
        snprintf(url, sizeof(url), "%s%s", fx->base_url, path);
        CURL *e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (body)
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, out ? out : &sink);
        assert_int_equal(curl_easy_perform(e), CURLE_OK);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(e);
        pmw_buf_cleanup(&sink);
        return status;
}

static void add_fault(fixture_t *fx, const char *spec) {
        long status = sim_http(fx, "POST", "/_sim/faults", spec, NULL);
        if (status != 200 && status != 201 && status != 204)
                fail_msg("POST /_sim/faults %s: HTTP %ld", spec, status);
}

/* Requests the simulator received on sending endpoints, from /_sim/stats. */
static long sim_requests(fixture_t *fx) {
        pmw_buf_t out;
        pmw_buf_init(&out, 1 << 20);
        assert_int_equal(sim_http(fx, "GET", "/_sim/stats", NULL, &out), 200);
        json_error_t jerr;
        json_t *root = json_loads(pmw_buf_ptr(&out), 0, &jerr);
        if (!root)
                fail_msg("/_sim/stats: %s", jerr.text);
        json_t *v = json_object_get(root, "sending_requests");
        assert_true(json_is_integer(v));
        long n = (long)json_integer_value(v);
        json_decref(root);
        pmw_buf_cleanup(&out);
        return n;
}

/* A batch body of n messages; message i goes to to_fmt with i. */
static char *make_batch(size_t n, const char *to_fmt, size_t *lenp) {
        pmw_batch_body_t bb;
        pmw_batch_body_init(&bb, PMW_ENDPOINT_BATCH, 500, 50000000);
        for (size_t i = 0; i < n; i++) {
                char to[128], msg[1024];
                snprintf(to, sizeof(to), to_fmt, i);
                int len = snprintf(msg, sizeof(msg),
                                   "{\"From\":\"sender@example.com\","
                                   "\"To\":\"%s\",\"Subject\":\"Test %zu\","
                                   "\"TextBody\":\"Hello number %zu\","
                                   "\"Metadata\":{\"pmw_job_id\":\"job-%zu\"}}",
                                   to, i, i, i);
                assert_true(pmw_batch_body_add(&bb, msg, (size_t)len));
        }
        pmw_batch_body_finish(&bb, lenp);
        char *body = pmw_batch_body_take(&bb, lenp);
        pmw_batch_body_cleanup(&bb);
        return body;
}

typedef struct result_s {
        int done;
        pmw_response_t resp;
        pmw_verdict_t verdict;
} result_t;

static void on_done(void *opaque,
                    pmw_response_t *resp,
                    const pmw_verdict_t *verdict,
                    int64_t attempt_us) {
        result_t *r = opaque;
        (void)attempt_us;
        r->done++;
        r->resp    = *resp;
        r->verdict = *verdict;
}

static void run_until(pmw_client_t *client, const int *done, int want) {
        for (int i = 0; i < 3000 && *done < want; i++) {
                pmw_client_wait(client, NULL, 0, 100);
                pmw_client_step(client);
        }
        assert_int_equal(*done, want);
}

/* Sends one batch asynchronously and waits for its result. */
static void send_one(fixture_t *fx,
                     const char *token,
                     const char *body,
                     size_t len,
                     size_t count,
                     result_t *r) {
        pmw_client_req_t req = {.path      = "/email/batch",
                                .token     = token,
                                .body      = body,
                                .body_len  = len,
                                .msg_count = count};
        memset(r, 0, sizeof(*r));
        pmw_client_send(fx->client, &req, on_done, r);
        assert_int_equal(pmw_client_in_flight(fx->client), 1);
        run_until(fx->client, &r->done, 1);
        assert_int_equal(pmw_client_in_flight(fx->client), 0);
}

static void test_success(void **state) {
        fixture_t *fx = *state;
        size_t len;
        char *body = make_batch(3, "user%zu@example.org", &len);
        result_t r;
        send_one(fx, "server-token", body, len, 3, &r);
        assert_int_equal(r.verdict.outcome, PMW_OUTCOME_PER_MESSAGE);
        assert_int_equal(r.resp.http_status, 200);
        assert_int_equal(r.resp.result_cnt, 3);
        for (size_t i = 0; i < 3; i++) {
                char to[64];
                snprintf(to, sizeof(to), "user%zu@example.org", i);
                assert_int_equal(r.resp.results[i].error_code, 0);
                assert_non_null(r.resp.results[i].message_id);
                assert_non_null(r.resp.results[i].submitted_at);
                assert_string_equal(r.resp.results[i].to, to);
        }
        pmw_response_cleanup(&r.resp);
        free(body);
}

static void test_mixed_per_message(void **state) {
        fixture_t *fx = *state;
        const char *body =
            "[{\"From\":\"a@example.com\",\"To\":\"ok@example.org\","
            "\"TextBody\":\"x\"},"
            "{\"From\":\"a@example.com\",\"To\":\"inactive1@example.org\","
            "\"TextBody\":\"x\"},"
            "{\"From\":\"a@example.com\",\"To\":\"x@example.org\","
            "\"TextBody\":\"x\",\"MessageStream\":\"nosuchstream\"},"
            "{\"From\":\"a@example.com\",\"To\":\"b@example.org, "
            "inactive2@example.org\",\"TextBody\":\"x\"},"
            "{\"From\":\"a@example.com\",\"To\":\"x@example.org\"}]";
        result_t r;
        send_one(fx, "t", body, strlen(body), 5, &r);
        assert_int_equal(r.verdict.outcome, PMW_OUTCOME_PER_MESSAGE);
        static const int codes[]          = {0, 406, 1235, 406, 300};
        static const pmw_outcome_t want[] = {
            PMW_OUTCOME_SENT, PMW_OUTCOME_FAILED, PMW_OUTCOME_FAILED,
            PMW_OUTCOME_SENT, PMW_OUTCOME_FAILED};
        for (size_t i = 0; i < 5; i++) {
                const pmw_msg_result_t *m = &r.resp.results[i];
                assert_int_equal(m->error_code, codes[i]);
                assert_int_equal(
                    pmw_classify_message(m->error_code, m->message).outcome,
                    want[i]);
        }
        /* The partial-inactive message was accepted: it has an id. */
        assert_non_null(r.resp.results[3].message_id);
        assert_null(r.resp.results[1].message_id);
        pmw_response_cleanup(&r.resp);
}

typedef struct fault_case_s {
        const char *spec;
        int http_status;
        pmw_transport_t transport;
        pmw_outcome_t outcome;
        pmw_hold_reason_t hold;
        bool rate_limited;
        bool unknown;
        int error_code;
        int64_t retry_after_ms;
} fault_case_t;

static void test_faults_classified(void **state) {
        fixture_t *fx                  = *state;
        static const fault_case_t cs[] = {
            {"status=429,nth=2", 429, PMW_TRANSPORT_OK, PMW_OUTCOME_RETRY,
             PMW_HOLD_NONE, true, false, 429, -1},
            {"status=429,retry-after=2,nth=3", 429, PMW_TRANSPORT_OK,
             PMW_OUTCOME_RETRY, PMW_HOLD_NONE, true, false, 429, 2000},
            {"status=500,nth=4", 500, PMW_TRANSPORT_OK, PMW_OUTCOME_RETRY,
             PMW_HOLD_NONE, false, false, 101, -1},
            {"status=503,nth=5", 503, PMW_TRANSPORT_OK, PMW_OUTCOME_RETRY,
             PMW_HOLD_NONE, false, false, 100, -1},
            {"html403,nth=6", 403, PMW_TRANSPORT_OK, PMW_OUTCOME_HOLD,
             PMW_HOLD_BLOCKED, false, false, -1, -1},
            {"text502,nth=7", 502, PMW_TRANSPORT_OK, PMW_OUTCOME_RETRY,
             PMW_HOLD_NONE, false, true, -1, -1},
            {"status=401,nth=8", 401, PMW_TRANSPORT_OK, PMW_OUTCOME_HOLD,
             PMW_HOLD_TOKEN, false, false, 10, -1},
            {"status=422,error-code=405,nth=9", 422, PMW_TRANSPORT_OK,
             PMW_OUTCOME_HOLD, PMW_HOLD_ACCOUNT, false, false, 405, -1},
            {"delay=3000,nth=10", 0, PMW_TRANSPORT_TIMEOUT, PMW_OUTCOME_RETRY,
             PMW_HOLD_NONE, false, true, -1, -1},
            {"drop,nth=11", 0, PMW_TRANSPORT_DROPPED, PMW_OUTCOME_RETRY,
             PMW_HOLD_NONE, false, true, -1, -1},
        };
        size_t len;
        char *body = make_batch(2, "f%zu@example.org", &len);
        result_t r;

        new_client(fx, 1000, 1);
        for (size_t i = 0; i < PMW_ARRAY_LEN(cs); i++)
                add_fault(fx, cs[i].spec);
        /* Request 1: a plain success, so later requests reuse the
         * connection. */
        send_one(fx, "t", body, len, 2, &r);
        assert_int_equal(r.verdict.outcome, PMW_OUTCOME_PER_MESSAGE);
        pmw_response_cleanup(&r.resp);

        for (size_t i = 0; i < PMW_ARRAY_LEN(cs); i++) {
                const fault_case_t *c = &cs[i];
                send_one(fx, "t", body, len, 2, &r);
                print_message(
                    "%-34s -> transport %s, HTTP %d, %s: %s\n", c->spec,
                    pmw_transport_name(r.resp.transport), r.resp.http_status,
                    pmw_outcome_name(r.verdict.outcome), r.resp.message);
                assert_int_equal(r.resp.transport, c->transport);
                assert_int_equal(r.resp.http_status, c->http_status);
                assert_int_equal(r.verdict.outcome, c->outcome);
                assert_int_equal(r.verdict.hold_reason, c->hold);
                assert_int_equal(r.verdict.rate_limited, c->rate_limited);
                assert_int_equal(r.verdict.unknown_outcome, c->unknown);
                assert_int_equal(r.resp.error_code, c->error_code);
                assert_int_equal(r.resp.retry_after_ms, c->retry_after_ms);
                pmw_response_cleanup(&r.resp);
        }
        /* One request each: the client never re-sent one by itself, not
         * even the dropped one on its reused connection. */
        assert_int_equal(sim_requests(fx), 1 + (long)PMW_ARRAY_LEN(cs));
        free(body);
}

/* A connection that dies after the request went out, on a connection that
 * was reused: libcurl would re-send the request on its own if it could
 * rewind the body. It must surface as DROPPED after exactly one request. */
static void test_drop_on_reused_connection_not_resent(void **state) {
        fixture_t *fx = *state;
        size_t len;
        char *body = make_batch(1, "d%zu@example.org", &len);
        result_t r;
        new_client(fx, 5000, 1);
        for (int round = 0; round < 3; round++) {
                send_one(fx, "t", body, len, 1, &r);
                assert_int_equal(r.verdict.outcome, PMW_OUTCOME_PER_MESSAGE);
                pmw_response_cleanup(&r.resp);
                long before = sim_requests(fx);
                add_fault(fx, "drop,next=1");
                send_one(fx, "t", body, len, 1, &r);
                print_message("drop on a reused connection: %s\n",
                              r.resp.message);
                assert_int_equal(r.resp.transport, PMW_TRANSPORT_DROPPED);
                assert_true(r.verdict.unknown_outcome);
                pmw_response_cleanup(&r.resp);
                assert_int_equal(sim_requests(fx), before + 1);
        }
        free(body);
}

static void test_sync_retries_then_succeeds(void **state) {
        fixture_t *fx = *state;
        size_t len;
        char *body = make_batch(2, "s%zu@example.org", &len);
        add_fault(fx, "status=503,next=3");
        pmw_client_req_t req   = {.path      = "/email/batch",
                                  .token     = "t",
                                  .body      = body,
                                  .body_len  = len,
                                  .msg_count = 2};
        pmw_retry_policy_t pol = {.retries = 3, .initial_ms = 10, .max_ms = 50};
        uint64_t rng           = 42;
        pmw_response_t resp;
        pmw_verdict_t verdict;
        unsigned attempts = 0;
        pmw_client_send_sync(fx->client, &req, &pol, &rng, &resp, &verdict,
                             &attempts);
        assert_int_equal(attempts, 4);
        assert_int_equal(verdict.outcome, PMW_OUTCOME_PER_MESSAGE);
        assert_int_equal(resp.result_cnt, 2);
        pmw_response_cleanup(&resp);

        /* Retries run out: the last answer is returned. */
        add_fault(fx, "status=503,next=5");
        pmw_client_send_sync(fx->client, &req, &pol, &rng, &resp, &verdict,
                             &attempts);
        assert_int_equal(attempts, 4);
        assert_int_equal(verdict.outcome, PMW_OUTCOME_RETRY);
        assert_int_equal(resp.http_status, 503);
        pmw_response_cleanup(&resp);
        free(body);
}

static void test_sync_does_not_retry_401(void **state) {
        fixture_t *fx = *state;
        size_t len;
        char *body = make_batch(1, "n%zu@example.org", &len);
        add_fault(fx, "status=401,next=1");
        pmw_client_req_t req   = {.path      = "/email/batch",
                                  .token     = "t",
                                  .body      = body,
                                  .body_len  = len,
                                  .msg_count = 1};
        pmw_retry_policy_t pol = {.retries = 3, .initial_ms = 10, .max_ms = 50};
        uint64_t rng           = 1;
        pmw_response_t resp;
        pmw_verdict_t verdict;
        unsigned attempts = 0;
        long before       = sim_requests(fx);
        pmw_client_send_sync(fx->client, &req, &pol, &rng, &resp, &verdict,
                             &attempts);
        assert_int_equal(attempts, 1);
        assert_int_equal(verdict.outcome, PMW_OUTCOME_HOLD);
        assert_int_equal(verdict.hold_reason, PMW_HOLD_TOKEN);
        assert_int_equal(sim_requests(fx), before + 1);
        pmw_response_cleanup(&resp);
        free(body);
}

static void test_sync_500_messages_in_order(void **state) {
        fixture_t *fx = *state;
        size_t len;
        char *body             = make_batch(500, "rcpt-%zu@example.org", &len);
        pmw_client_req_t req   = {.path      = "/email/batch",
                                  .token     = "POSTMARK_API_TEST",
                                  .body      = body,
                                  .body_len  = len,
                                  .msg_count = 500};
        pmw_retry_policy_t pol = {.retries = 0, .initial_ms = 10, .max_ms = 50};
        uint64_t rng           = 7;
        pmw_response_t resp;
        pmw_verdict_t verdict;
        pmw_client_send_sync(fx->client, &req, &pol, &rng, &resp, &verdict,
                             NULL);
        assert_int_equal(verdict.outcome, PMW_OUTCOME_PER_MESSAGE);
        assert_int_equal(resp.result_cnt, 500);
        for (size_t i = 0; i < 500; i++) {
                char to[64];
                snprintf(to, sizeof(to), "rcpt-%zu@example.org", i);
                assert_int_equal(resp.results[i].error_code, 0);
                assert_string_equal(resp.results[i].to, to);
                assert_string_equal(resp.results[i].message,
                                    "Test job accepted");
        }
        pmw_response_cleanup(&resp);
        free(body);
}

/* 200 requests at once, at most 8 connections, each answer 50 ms late. */
static void test_many_in_flight_bounded_connections(void **state) {
        fixture_t *fx = *state;
        enum { N = 200 };
        static result_t rs[N];
        size_t len;
        char *body = make_batch(5, "m%zu@example.org", &len);
        int done   = 0;

        new_client(fx, 10000, 8);
        add_fault(fx, "delay=50");
        for (size_t i = 0; i < N; i++) {
                pmw_client_req_t req = {.path      = "/email/batch",
                                        .token     = "t",
                                        .body      = body,
                                        .body_len  = len,
                                        .msg_count = 5};
                memset(&rs[i], 0, sizeof(rs[i]));
                pmw_client_send(fx->client, &req, on_done, &rs[i]);
        }
        assert_int_equal(pmw_client_in_flight(fx->client), N);
        for (int spins = 0; spins < 3000 && done < N; spins++) {
                pmw_client_wait(fx->client, NULL, 0, 100);
                pmw_client_step(fx->client);
                done = 0;
                for (size_t i = 0; i < N; i++)
                        done += rs[i].done;
        }
        assert_int_equal(done, N);
        for (size_t i = 0; i < N; i++) {
                assert_int_equal(rs[i].done, 1);
                assert_int_equal(rs[i].verdict.outcome,
                                 PMW_OUTCOME_PER_MESSAGE);
                pmw_response_cleanup(&rs[i].resp);
        }
        print_message("200 requests over %llu connections\n",
                      (unsigned long long)pmw_client_connects(fx->client));
        assert_true(pmw_client_connects(fx->client) <= 8);
        assert_true(pmw_client_connects(fx->client) >= 1);
        free(body);
}

static void test_destroy_with_requests_in_flight(void **state) {
        fixture_t *fx = *state;
        size_t len;
        char *body = make_batch(1, "x%zu@example.org", &len);
        result_t r = {0};
        add_fault(fx, "delay=2000,next=1");
        pmw_client_req_t req = {.path      = "/email/batch",
                                .token     = "t",
                                .body      = body,
                                .body_len  = len,
                                .msg_count = 1};
        pmw_client_send(fx->client, &req, on_done, &r);
        /* Let the request go out, then shut the client down. */
        for (int i = 0; i < 5; i++) {
                pmw_client_wait(fx->client, NULL, 0, 20);
                pmw_client_step(fx->client);
        }
        pmw_client_destroy(fx->client);
        fx->client = NULL;
        assert_int_equal(r.done, 1);
        assert_int_equal(r.verdict.outcome, PMW_OUTCOME_RETRY);
        assert_true(r.verdict.unknown_outcome);
        pmw_response_cleanup(&r.resp);
        free(body);
}

static void test_bad_options(void **state) {
        (void)state;
        pmw_client_t *c        = NULL;
        pmw_client_opts_t opts = {.base_url           = "http://x",
                                  .timeout_ms         = 0,
                                  .connect_timeout_ms = 1,
                                  .max_connections    = 1};
        pmw_error_t *err       = pmw_client_new(&opts, &c);
        assert_non_null(err);
        assert_non_null(strstr(pmw_error_string(err), "timeout 0 ms"));
        pmw_error_destroy(err);
        opts.timeout_ms         = 10;
        opts.connect_timeout_ms = 0;
        err                     = pmw_client_new(&opts, &c);
        assert_non_null(strstr(pmw_error_string(err), "connect timeout"));
        pmw_error_destroy(err);
        opts.connect_timeout_ms = 10;
        opts.base_url           = "ftp://x";
        err                     = pmw_client_new(&opts, &c);
        assert_non_null(strstr(pmw_error_string(err), "http://"));
        pmw_error_destroy(err);
        assert_null(c);
}

/* Nothing listens: the request was never sent. */
static void test_connect_refused(void **state) {
        fixture_t *fx = *state;
        /* The simulator's port, after it stopped. */
        pmw_proc_stop(fx->sim, 5000);
        fx->sim = NULL;
        size_t len;
        char *body = make_batch(1, "c%zu@example.org", &len);
        result_t r;
        new_client(fx, 2000, 1);
        send_one(fx, "t", body, len, 1, &r);
        assert_int_equal(r.resp.transport, PMW_TRANSPORT_CONNECT);
        assert_int_equal(r.verdict.outcome, PMW_OUTCOME_RETRY);
        assert_false(r.verdict.unknown_outcome);
        pmw_response_cleanup(&r.resp);
        free(body);
        /* The teardown expects a simulator to stop. */
        start_sim(fx, NULL);
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: %s POSTMARK_SIM\n", argv[0]);
                return 2;
        }
        sim_path         = argv[1];
        pmw_error_t *err = pmw_client_global_init();
        if (err) {
                fprintf(stderr, "%s\n", pmw_error_string(err));
                return 1;
        }
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
            T(test_success),
            T(test_mixed_per_message),
            T(test_faults_classified),
            T(test_drop_on_reused_connection_not_resent),
            T(test_sync_retries_then_succeeds),
            T(test_sync_does_not_retry_401),
            T(test_sync_500_messages_in_order),
            T(test_many_in_flight_bounded_connections),
            T(test_destroy_with_requests_in_flight),
            T(test_connect_refused),
            cmocka_unit_test(test_bad_options),
        };
        int rc = cmocka_run_group_tests(tests, NULL, NULL);
        pmw_client_global_cleanup();
        return rc;
}
