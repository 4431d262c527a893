/*
 * Integration test: the real postmark-sim binary on 127.0.0.1:0, driven
 * with libcurl. Argument 1: the path of postmark-sim.
 *
 * Each test starts its own simulator (it takes milliseconds), so tests are
 * independent and a request number ("nth=") means the same in every run.
 * Each stop checks that the simulator exits 0 on SIGTERM (under the
 * sanitizers that also means: no leak, no error).
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
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/defs.h"
#include "common/mem.h"
#include "tests/integration/proc.h"

static const char *sim_path;

typedef struct sim_s {
        pmw_proc_t *proc;
        int port;
        CURL *curl; /* reused: keep-alive */
} sim_t;

typedef struct resp_s {
        CURLcode rc;
        long status;
        pmw_buf_t body;
        pmw_buf_t headers;
        json_t *json; /* body parsed, or NULL */
} resp_t;

static void start_sim(sim_t *sim, const char *const *extra) {
        const char *argv[] = {sim_path, "--listen", "127.0.0.1:0",
                              "--seed", "7",        NULL};
        pmw_error_t *err =
            pmw_proc_start_server(argv, extra, 10000, &sim->proc, &sim->port);
        if (err)
                fail_msg("%s", pmw_error_string(err));
        sim->curl = curl_easy_init();
}

static void stop_sim(sim_t *sim) {
        curl_easy_cleanup(sim->curl);
        sim->curl        = NULL;
        pmw_proc_t *proc = sim->proc;
        sim->proc        = NULL;
        assert_int_equal(pmw_proc_stop(proc, 10000), 0);
}

/* Each test's state is its simulator; a failed test is cleaned up here. */
static int setup_sim(void **state) {
        *state = pmw_calloc(1, sizeof(sim_t));
        return 0;
}

static int teardown_sim(void **state) {
        sim_t *sim = *state;
        if (sim->curl)
                curl_easy_cleanup(sim->curl);
        if (sim->proc)
                pmw_proc_stop(sim->proc, 10000);
        free(sim);
        return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
        pmw_buf_append(ud, p, size * n);
        return size * n;
}

static void resp_free(resp_t *r) {
        pmw_buf_cleanup(&r->body);
        pmw_buf_cleanup(&r->headers);
        json_decref(r->json);
}

/* One request. headers: NULL-terminated; NULL = the JSON headers and the
 * token "tok". */
static void request(sim_t *sim,
                    const char *method,
                    const char *path,
                    const char *const *headers,
                    const char *body,
                    size_t body_len,
                    long timeout_ms,
                    resp_t *r) {
        static const char *const std_headers[] = {
            "Accept: application/json", "Content-Type: application/json",
            "X-Postmark-Server-Token: tok", NULL};
        memset(r, 0, sizeof(*r));
        pmw_buf_init(&r->body, SIZE_MAX);
        pmw_buf_init(&r->headers, SIZE_MAX);
        CURL *c = sim->curl;
        curl_easy_reset(c);
        char url[256];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", sim->port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        struct curl_slist *list = curl_slist_append(NULL, "Expect:");
        for (const char *const *h = headers ? headers : std_headers; *h; h++)
                list = curl_slist_append(list, *h);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
        if (body) {
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t)body_len);
        }
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        r->rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_slist_free_all(list);
        json_error_t jerr;
        r->json = json_loadb(pmw_buf_ptr(&r->body), pmw_buf_len(&r->body),
                             JSON_DECODE_ANY, &jerr);
}

static void post(sim_t *sim, const char *path, const char *body, resp_t *r) {
        request(sim, "POST", path, NULL, body, strlen(body), 10000, r);
}

/* Checks an {"ErrorCode","Message"} object. */
static void check_error(json_t *obj, int code, const char *message) {
        assert_non_null(obj);
        json_t *c = json_object_get(obj, "ErrorCode");
        json_t *m = json_object_get(obj, "Message");
        assert_true(json_is_integer(c));
        if (json_integer_value(c) != code)
                fail_msg("ErrorCode %lld, want %d (%s)",
                         (long long)json_integer_value(c), code,
                         json_string_value(m));
        if (message && strcmp(json_string_value(m), message) != 0)
                fail_msg("Message '%s'\nwant '%s'", json_string_value(m),
                         message);
}

/* A success element: MessageID is a v4 UUID, To echoed. */
static void check_ok(json_t *obj, const char *to, const char *message) {
        check_error(obj, 0, message);
        const char *id = json_string_value(json_object_get(obj, "MessageID"));
        assert_non_null(id);
        assert_int_equal(strlen(id), 36);
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
        assert_string_equal(json_string_value(json_object_get(obj, "To")), to);
        const char *at = json_string_value(json_object_get(obj, "SubmittedAt"));
        assert_non_null(at);
        int64_t ms;
        pmw_error_t *err = pmw_time_parse_rfc3339(at, strlen(at), &ms);
        assert_null(err);
        assert_true(ms > pmw_clock_wall_ms() - 60000);
}

static bool has_header(const resp_t *r, const char *line) {
        return strstr(pmw_buf_ptr(&r->headers), line) != NULL;
}

#define MSG(to, extra)                                                         \
        "{\"From\":\"Acme <billing@acme.example>\",\"To\":\"" to               \
        "\","                                                                  \
        "\"Subject\":\"Hi\",\"TextBody\":\"Hello\"" extra "}"

static const char *const std_args[] = {
    "--token",    "tok",         "--sender",   "*@acme.example",
    "--inactive", "inactive*@*", "--template", "welcome",
    "--stream",   "news",        NULL};

static void test_header_checks(void **state) {
        sim_t *sim = *state;
        start_sim(sim, std_args);
        resp_t r;
        const char *body = "[" MSG("a@x.org", "") "]";

        /* 415 comes before 401: no Accept and no token. */
        const char *const none[] = {"Content-Type: application/json", NULL};
        request(sim, "POST", "/email/batch", none, body, strlen(body), 5000,
                &r);
        assert_int_equal(r.status, 415);
        resp_free(&r);
        const char *const bad_ct[] = {"Accept: application/json",
                                      "Content-Type: text/plain",
                                      "X-Postmark-Server-Token: tok", NULL};
        request(sim, "POST", "/email/batch", bad_ct, body, strlen(body), 5000,
                &r);
        assert_int_equal(r.status, 415);
        resp_free(&r);

        const char *const no_token[] = {"Accept: application/json",
                                        "Content-Type: application/json", NULL};
        request(sim, "POST", "/email/batch", no_token, body, strlen(body), 5000,
                &r);
        assert_int_equal(r.status, 401);
        check_error(r.json, 10,
                    "Request does not contain a valid Server token.");
        resp_free(&r);
        const char *const wrong[] = {"Accept: application/json",
                                     "Content-Type: application/json",
                                     "X-Postmark-Server-Token: other", NULL};
        request(sim, "POST", "/email/batch", wrong, body, strlen(body), 5000,
                &r);
        assert_int_equal(r.status, 401);
        resp_free(&r);

        /* Names ignore case, parameters are allowed, the test token works. */
        const char *const test_token[] = {
            "accept: application/json; charset=utf-8",
            "content-type: Application/JSON; charset=utf-8",
            "x-postmark-server-token: POSTMARK_API_TEST", NULL};
        request(sim, "POST", "/email/batch", test_token, body, strlen(body),
                5000, &r);
        assert_int_equal(r.status, 200);
        check_ok(json_array_get(r.json, 0), "a@x.org", "Test job accepted");
        resp_free(&r);

        /* Keep-alive: the next request reuses the connection. */
        post(sim, "/email/batch", body, &r);
        assert_int_equal(r.status, 200);
        check_ok(json_array_get(r.json, 0), "a@x.org", "OK");
        long new_conns = -1;
        curl_easy_getinfo(sim->curl, CURLINFO_NUM_CONNECTS, &new_conns);
        assert_int_equal(new_conns, 0);
        resp_free(&r);
        stop_sim(sim);
}

static void test_mixed_batch(void **state) {
        sim_t *sim = *state;
        start_sim(sim, std_args);
        resp_t r;
        post(sim, "/email/batch",
             "[" MSG("ok@x.org", "") ","
             "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\"},"
             MSG("inactive1@x.org", "") ","
             MSG("ok2@x.org, inactive2@y.org", "") ","
             MSG("ok3@x.org", ",\"MessageStream\":\"nope\"") ","
             "{\"From\":\"eve@evil.example\",\"To\":\"a@x.org\","
             "\"TextBody\":\"x\"},"
             MSG("ok4@x.org", ",\"MessageStream\":\"news\"") "]",
             &r);
        assert_int_equal(r.status, 200);
        assert_true(json_is_array(r.json));
        assert_int_equal(json_array_size(r.json), 7);
        check_ok(json_array_get(r.json, 0), "ok@x.org", "OK");
        check_error(json_array_get(r.json, 1), 300,
                    "Provide either email TextBody or HtmlBody or both.");
        /* Failed elements carry only ErrorCode and Message. */
        assert_int_equal(json_object_size(json_array_get(r.json, 1)), 2);
        check_error(json_array_get(r.json, 2), 406,
                    "You tried to send to recipient(s) that have been marked "
                    "as inactive. Found inactive addresses: inactive1@x.org. "
                    "Inactive recipients are ones that have generated a hard "
                    "bounce, a spam complaint, or a manual suppression.");
        /* Partly inactive: accepted, with a MessageID, ErrorCode 406. */
        json_t *partial = json_array_get(r.json, 3);
        check_error(partial, 406,
                    "Message OK, but will not deliver to these inactive "
                    "addresses: inactive2@y.org. Inactive recipients are ones "
                    "that have generated a hard bounce, a spam complaint, or "
                    "a manual suppression.");
        assert_int_equal(
            strlen(json_string_value(json_object_get(partial, "MessageID"))),
            36);
        check_error(json_array_get(r.json, 4), 1235, NULL);
        check_error(json_array_get(r.json, 5), 300,
                    "Invalid 'From' address: 'eve@evil.example' is not a "
                    "verified sender signature.");
        check_ok(json_array_get(r.json, 6), "ok4@x.org", "OK");
        resp_free(&r);

        post(sim, "/email/batchWithTemplates",
             "{\"Messages\":["
             "{\"From\":\"billing@acme.example\",\"To\":\"t1@x.org\","
             "\"TemplateAlias\":\"welcome\",\"TemplateModel\":{\"n\":1}},"
             "{\"From\":\"billing@acme.example\",\"To\":\"t2@x.org\","
             "\"TemplateAlias\":\"nope\",\"TemplateModel\":{}},"
             "{\"From\":\"billing@acme.example\",\"To\":\"t3@x.org\","
             "\"TemplateModel\":{}}]}",
             &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(r.json), 3);
        check_ok(json_array_get(r.json, 0), "t1@x.org", "OK");
        check_error(json_array_get(r.json, 1), 1101,
                    "The Template's 'Alias' associated with this request is "
                    "not valid or was not found.");
        check_error(json_array_get(r.json, 2), 1101, NULL);
        resp_free(&r);
        stop_sim(sim);
}

static void test_whole_request_errors(void **state) {
        sim_t *sim = *state;
        start_sim(sim, std_args);
        resp_t r;
        post(sim, "/email/batch", "[{\"From\":", &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 402, NULL);
        resp_free(&r);
        post(sim, "/email/batch", MSG("a@x.org", ""), &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 402, NULL);
        resp_free(&r);
        post(sim, "/email/batchWithTemplates", "[]", &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 402, NULL);
        resp_free(&r);
        post(sim, "/email/batchWithTemplates", "{\"Messages\":[],\"X\":1}", &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 403, "Invalid request field(s) - X");
        resp_free(&r);
        /* One unknown field rejects the whole request. */
        post(sim, "/email/batch",
             "[" MSG("a@x.org", "") "," MSG("b@x.org", ",\"Foo\":1") "]", &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 403, "Invalid request field(s) - Foo");
        resp_free(&r);
        post(sim, "/email/batch",
             "[" MSG("a@x.org", ",\"TrackOpens\":\"yes\"") "]", &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 403, "Invalid request field(s) - TrackOpens");
        resp_free(&r);
        post(sim, "/email/batchWithTemplates",
             "{\"Messages\":[" MSG("a@x.org", "") "]}", &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 403, "Invalid request field(s) - Subject");
        resp_free(&r);

        /* 501 messages: 410; 500 are fine. */
        pmw_buf_t big;
        pmw_buf_init(&big, SIZE_MAX);
        pmw_buf_append_char(&big, '[');
        for (int i = 0; i < 501; i++)
                pmw_buf_appendf(&big, "%s" MSG("a%d@x.org", ""), i ? "," : "",
                                i);
        pmw_buf_append_char(&big, ']');
        post(sim, "/email/batch", pmw_buf_ptr(&big), &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 410,
                    "You may only send up to 500 messages in a single batched "
                    "request.");
        resp_free(&r);
        /* Remove the last message. */
        const char *last = strrchr(pmw_buf_ptr(&big), '{');
        pmw_buf_truncate(&big, (size_t)(last - pmw_buf_ptr(&big)) - 1);
        pmw_buf_append_char(&big, ']');
        post(sim, "/email/batch", pmw_buf_ptr(&big), &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(r.json), 500);
        check_ok(json_array_get(r.json, 499), "a499@x.org", "OK");
        resp_free(&r);

        /* 413: over 10 MB on /email, over 50 MB on a batch. */
        pmw_buf_reset(&big);
        pmw_buf_append_str(&big,
                           "{\"From\":\"billing@acme.example\",\"To\":"
                           "\"a@x.org\",\"TextBody\":\"");
        while (pmw_buf_len(&big) <= 10 * 1024 * 1024)
                pmw_buf_append_str(&big, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        pmw_buf_append_str(&big, "\"}");
        post(sim, "/email", pmw_buf_ptr(&big), &r);
        assert_int_equal(r.status, 413);
        resp_free(&r);
        pmw_buf_reset(&big);
        pmw_buf_append_str(&big,
                           "[{\"From\":\"billing@acme.example\",\"To\":"
                           "\"a@x.org\",\"TextBody\":\"");
        while (pmw_buf_len(&big) <= 50 * 1024 * 1024)
                pmw_buf_append_str(&big, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        pmw_buf_append_str(&big, "\"}]");
        post(sim, "/email/batch", pmw_buf_ptr(&big), &r);
        assert_int_equal(r.status, 413);
        assert_true(json_is_object(r.json));
        resp_free(&r);
        pmw_buf_cleanup(&big);

        /* The connection is still usable after a 413. */
        post(sim, "/email/batch", "[" MSG("a@x.org", "") "]", &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        stop_sim(sim);
}

static void test_single_and_routes(void **state) {
        sim_t *sim = *state;
        start_sim(sim, std_args);
        resp_t r;
        post(sim, "/email", MSG("a@x.org", ""), &r);
        assert_int_equal(r.status, 200);
        check_ok(r.json, "a@x.org", "OK");
        resp_free(&r);
        post(sim, "/email",
             "{\"From\":\"billing@acme.example\",\"To\":"
             "\"a@x.org\"}",
             &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 300,
                    "Provide either email TextBody or HtmlBody or both.");
        resp_free(&r);
        post(sim, "/email", MSG("inactive@x.org", ""), &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 406, NULL);
        resp_free(&r);
        post(sim, "/email", "[]", &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 402, NULL);
        resp_free(&r);
        post(sim, "/email/withTemplate",
             "{\"From\":\"billing@acme.example\",\"To\":\"a@x.org\","
             "\"TemplateId\":99,\"TemplateModel\":{}}",
             &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 1101, NULL);
        resp_free(&r);

        /* Wrong method: 405, empty. Unknown path: 404 with JSON. */
        request(sim, "GET", "/email/batch", NULL, NULL, 0, 5000, &r);
        assert_int_equal(r.status, 405);
        assert_int_equal(pmw_buf_len(&r.body), 0);
        resp_free(&r);
        post(sim, "/email/nope", "{}", &r);
        assert_int_equal(r.status, 404);
        assert_true(json_is_object(r.json));
        resp_free(&r);
        stop_sim(sim);
}

static void test_faults_cli(void **state) {
        sim_t *sim               = *state;
        const char *const args[] = {
            "--fault", "status=503,next=1",
            "--fault", "status=429,retry-after=2,nth=2",
            "--fault", "html403,nth=3",
            "--fault", "text502,nth=4",
            "--fault", "drop,nth=5",
            "--fault", "status=500,nth=6",
            "--fault", "status=422,error-code=405,nth=7",
            "--fault", "status=401,error-code=10,nth=8",
            "--fault", "delay=3000,nth=10",
            "--fault", "message-error=406,rcpt=bounce*@*",
            NULL};
        start_sim(sim, args);
        const char *body =
            "[" MSG("bounce1@x.org", "") "," MSG("a@x.org", "") "]";
        resp_t r;
        post(sim, "/email/batch", body, &r); /* 1 */
        assert_int_equal(r.status, 503);
        check_error(r.json, 100, NULL);
        assert_false(has_header(&r, "Retry-After"));
        resp_free(&r);
        post(sim, "/email/batch", body, &r); /* 2 */
        assert_int_equal(r.status, 429);
        check_error(r.json, 429, NULL);
        assert_true(has_header(&r, "Retry-After: 2\r\n"));
        resp_free(&r);
        post(sim, "/email/batch", body, &r); /* 3 */
        assert_int_equal(r.status, 403);
        assert_null(r.json);
        assert_true(has_header(&r, "Content-Type: text/html"));
        assert_non_null(strstr(pmw_buf_ptr(&r.body), "<html>"));
        resp_free(&r);
        post(sim, "/email/batch", body, &r); /* 4 */
        assert_int_equal(r.status, 502);
        assert_null(r.json);
        assert_true(has_header(&r, "Content-Type: text/plain"));
        resp_free(&r);
        /* 5: no answer at all. On a fresh connection: on a reused one,
         * libcurl would silently send the request again (and that would
         * be request 6). */
        curl_easy_cleanup(sim->curl);
        sim->curl = curl_easy_init();
        post(sim, "/email/batch", body, &r);
        assert_int_equal(r.rc, CURLE_GOT_NOTHING);
        assert_int_equal(r.status, 0);
        if (pmw_buf_len(&r.headers) != 0)
                fail_msg("headers after a drop: '%s'", pmw_buf_ptr(&r.headers));
        resp_free(&r);
        post(sim, "/email/batch", body, &r); /* 6 */
        assert_int_equal(r.status, 500);
        check_error(r.json, 101, NULL);
        resp_free(&r);
        post(sim, "/email/batch", body, &r); /* 7 */
        assert_int_equal(r.status, 422);
        check_error(r.json, 405, NULL);
        resp_free(&r);
        post(sim, "/email/batch", body, &r); /* 8 */
        assert_int_equal(r.status, 401);
        check_error(r.json, 10, NULL);
        resp_free(&r);
        post(sim, "/email/batch", body, &r); /* 9: per-message 406 */
        assert_int_equal(r.status, 200);
        check_error(json_array_get(r.json, 0), 406,
                    "You tried to send to recipient(s) that have been marked "
                    "as inactive. Found inactive addresses: bounce1@x.org. "
                    "Inactive recipients are ones that have generated a hard "
                    "bounce, a spam complaint, or a manual suppression.");
        check_ok(json_array_get(r.json, 1), "a@x.org", "OK");
        resp_free(&r);
        /* 10: a delay beyond the client's timeout. */
        request(sim, "POST", "/email/batch", NULL, body, strlen(body), 500, &r);
        assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
        resp_free(&r);

        request(sim, "GET", "/_sim/stats", NULL, NULL, 0, 5000, &r);
        assert_int_equal(r.status, 200);
        json_t *faults = json_object_get(r.json, "faults");
        assert_int_equal(json_integer_value(json_object_get(faults, "drop")),
                         1);
        /* Requests 9 and 10 (the delayed one is answered normally). */
        assert_int_equal(
            json_integer_value(json_object_get(faults, "message-error")), 2);
        assert_int_equal(json_integer_value(json_object_get(faults, "delay")),
                         1);
        json_t *batch = json_object_get(json_object_get(r.json, "requests"),
                                        "/email/batch");
        assert_int_equal(json_integer_value(json_object_get(batch, "dropped")),
                         1);
        assert_int_equal(json_integer_value(json_object_get(batch, "503")), 1);
        resp_free(&r);
        stop_sim(sim);
}

static void test_faults_runtime(void **state) {
        sim_t *sim = *state;
        start_sim(sim, std_args);
        resp_t r;
        const char *specs =
            "status=503,next=2\n# a comment\r\n\n"
            "message-error=405,index=0,next=1\n";
        request(sim, "POST", "/_sim/faults", NULL, specs, strlen(specs), 5000,
                &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(r.json), 2);
        resp_free(&r);

        const char *body = "[" MSG("a@x.org", "") "," MSG("b@x.org", "") "]";
        post(sim, "/email/batch", body, &r);
        assert_int_equal(r.status, 503);
        resp_free(&r);
        request(sim, "GET", "/_sim/faults", NULL, NULL, 0, 5000, &r);
        json_t *f0 = json_array_get(r.json, 0);
        assert_string_equal(json_string_value(json_object_get(f0, "spec")),
                            "status=503,next=2");
        assert_int_equal(json_integer_value(json_object_get(f0, "remaining")),
                         1);
        assert_int_equal(json_integer_value(json_object_get(f0, "fired")), 1);
        resp_free(&r);
        post(sim, "/email/batch", body, &r);
        assert_int_equal(r.status, 503);
        resp_free(&r);
        post(sim, "/email/batch", body, &r);
        assert_int_equal(r.status, 200);
        check_error(json_array_get(r.json, 0), 405, NULL);
        check_ok(json_array_get(r.json, 1), "b@x.org", "OK");
        resp_free(&r);

        /* A bad line adds nothing. */
        const char *bad = "status=503\nstatus=999\n";
        request(sim, "POST", "/_sim/faults", NULL, bad, strlen(bad), 5000, &r);
        assert_int_equal(r.status, 400);
        assert_string_equal(json_string_value(json_object_get(r.json, "error")),
                            "fault 'status=999': status must be 400..599");
        resp_free(&r);
        request(sim, "GET", "/_sim/faults", NULL, NULL, 0, 5000, &r);
        assert_int_equal(json_array_size(r.json), 2);
        resp_free(&r);
        request(sim, "DELETE", "/_sim/faults", NULL, NULL, 0, 5000, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(r.json), 0);
        resp_free(&r);
        post(sim, "/email/batch", body, &r);
        assert_int_equal(r.status, 200);
        check_ok(json_array_get(r.json, 0), "a@x.org", "OK");
        resp_free(&r);
        stop_sim(sim);
}

static void test_record_and_search(void **state) {
        sim_t *sim  = *state;
        char path[] = "/tmp/pmw-sim-record-XXXXXX";
        int fd      = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        const char *const args[] = {"--token",  "tok", "--token", "tok2",
                                    "--record", path,  NULL};
        start_sim(sim, args);
        resp_t r;
        const char *m1 = MSG("a@x.org",
                             ",\"Metadata\":{\"pmw_job_id\":"
                             "\"jobs:0:42\"}");
        pmw_buf_t body;
        pmw_buf_init(&body, SIZE_MAX);
        /* Pretty-printed input still records as one line per message. */
        pmw_buf_appendf(&body, "[\n  %s,\n  %s\n]", m1,
                        MSG("b@x.org", ",\"Tag\":\"t\""));
        post(sim, "/email/batch", pmw_buf_ptr(&body), &r);
        assert_int_equal(r.status, 200);
        const char *id = json_string_value(
            json_object_get(json_array_get(r.json, 0), "MessageID"));
        char id1[37];
        snprintf(id1, sizeof(id1), "%s", id);
        resp_free(&r);
        post(sim, "/email", MSG("c@x.org", ""), &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);

        /* Search by metadata, with the same token checks. */
        request(sim, "GET",
                "/messages/outbound?count=10&offset=0&metadata_pmw_job_id="
                "jobs:0:42",
                NULL, NULL, 0, 5000, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(
            json_integer_value(json_object_get(r.json, "TotalCount")), 1);
        json_t *m = json_array_get(json_object_get(r.json, "Messages"), 0);
        assert_string_equal(json_string_value(json_object_get(m, "MessageID")),
                            id1);
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(m, "To"), 0), "Email")),
            "a@x.org");
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(m, "Metadata"), "pmw_job_id")),
                            "jobs:0:42");
        resp_free(&r);
        request(sim, "GET", "/messages/outbound?count=10", NULL, NULL, 0, 5000,
                &r);
        assert_int_equal(
            json_integer_value(json_object_get(r.json, "TotalCount")), 3);
        resp_free(&r);
        const char *const other[] = {"Accept: application/json",
                                     "X-Postmark-Server-Token: tok2", NULL};
        request(sim, "GET", "/messages/outbound?count=10", other, NULL, 0, 5000,
                &r);
        assert_int_equal(
            json_integer_value(json_object_get(r.json, "TotalCount")), 0);
        resp_free(&r);
        const char *const no_token[] = {"Accept: application/json", NULL};
        request(sim, "GET", "/messages/outbound", no_token, NULL, 0, 5000, &r);
        assert_int_equal(r.status, 401);
        resp_free(&r);
        request(sim, "GET", "/messages/outbound?count=501", NULL, NULL, 0, 5000,
                &r);
        assert_int_equal(r.status, 422);
        resp_free(&r);

        /* The record file is flushed within about a second. */
        stop_sim(sim);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        char line[4096];
        json_t *want[3];
        json_error_t jerr;
        want[0] = json_loads(m1, 0, &jerr);
        want[1] = json_loads(MSG("b@x.org", ",\"Tag\":\"t\""), 0, &jerr);
        want[2] = json_loads(MSG("c@x.org", ""), 0, &jerr);
        const char *endpoints[] = {"/email/batch", "/email/batch", "/email"};
        int requests[]          = {1, 1, 2};
        for (int i = 0; i < 3; i++) {
                assert_non_null(fgets(line, sizeof(line), fp));
                json_t *rec = json_loads(line, 0, &jerr);
                if (rec == NULL)
                        fail_msg("record line %d: %s: %s", i, jerr.text, line);
                assert_int_equal(
                    json_integer_value(json_object_get(rec, "request")),
                    requests[i]);
                assert_string_equal(
                    json_string_value(json_object_get(rec, "endpoint")),
                    endpoints[i]);
                assert_string_equal(
                    json_string_value(json_object_get(rec, "token")), "tok");
                assert_true(
                    json_equal(json_object_get(rec, "message"), want[i]));
                json_decref(rec);
                json_decref(want[i]);
        }
        assert_null(fgets(line, sizeof(line), fp));
        fclose(fp);
        unlink(path);
        pmw_buf_cleanup(&body);
}

static void test_record_flushed_while_running(void **state) {
        sim_t *sim  = *state;
        char path[] = "/tmp/pmw-sim-record-XXXXXX";
        int fd      = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        const char *const args[] = {"--record", path, NULL};
        start_sim(sim, args);
        resp_t r;
        post(sim, "/email", MSG("a@x.org", ""), &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        /* No stop: the line must appear on its own within ~1 s. */
        int64_t deadline = pmw_clock_mono_us() + 3000000;
        long size        = 0;
        while (size == 0 && pmw_clock_mono_us() < deadline) {
                FILE *fp = fopen(path, "r");
                assert_non_null(fp);
                fseek(fp, 0, SEEK_END);
                size = ftell(fp);
                fclose(fp);
                if (size == 0)
                        nanosleep(&(struct timespec) {0, 50000000}, NULL);
        }
        assert_true(size > 0);
        stop_sim(sim);
        unlink(path);
}

static void test_latency_in_parallel(void **state) {
        (void)state;
        const char *const args[] = {"--latency-ms", "300", NULL};
        sim_t *sim               = *state;
        start_sim(sim, args);
        const char *body = "[" MSG("a@x.org", "") "]";
        CURLM *multi     = curl_multi_init();
        CURL *easy[2];
        struct curl_slist *h = NULL;
        h                    = curl_slist_append(h, "Accept: application/json");
        h = curl_slist_append(h, "Content-Type: application/json");
        h = curl_slist_append(h, "X-Postmark-Server-Token: tok");
        pmw_buf_t sink[2];
        char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/email/batch",
                 sim->port);
        for (int i = 0; i < 2; i++) {
                pmw_buf_init(&sink[i], SIZE_MAX);
                easy[i] = curl_easy_init();
                curl_easy_setopt(easy[i], CURLOPT_URL, url);
                curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, h);
                curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, on_body);
                curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &sink[i]);
                curl_multi_add_handle(multi, easy[i]);
        }
        int64_t start = pmw_clock_mono_us();
        int running   = 2;
        while (running) {
                curl_multi_perform(multi, &running);
                if (running)
                        curl_multi_poll(multi, NULL, 0, 50, NULL);
        }
        int64_t elapsed_ms = (pmw_clock_mono_us() - start) / 1000;
        for (int i = 0; i < 2; i++) {
                long status = 0;
                curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &status);
                assert_int_equal(status, 200);
                curl_multi_remove_handle(multi, easy[i]);
                curl_easy_cleanup(easy[i]);
                pmw_buf_cleanup(&sink[i]);
        }
        curl_slist_free_all(h);
        curl_multi_cleanup(multi);
        /* A bound on parallelism, not a timing benchmark. */
        assert_true(elapsed_ms >= 300);
        if (elapsed_ms >= 550)
                fail_msg("two requests took %lld ms: not in parallel",
                         (long long)elapsed_ms);
        stop_sim(sim);
}

/* above=: 10 batches of 500 as fast as one connection sends them, against
 * 1000 messages per second. */
static void test_fault_above(void **state) {
        sim_t *sim               = *state;
        const char *const args[] = {"--token", "tok", "--fault",
                                    "status=429,retry-after=1,above=1000",
                                    NULL};
        start_sim(sim, args);
        pmw_buf_t body;
        pmw_buf_init(&body, SIZE_MAX);
        pmw_buf_append_char(&body, '[');
        for (int i = 0; i < 500; i++) {
                if (i > 0)
                        pmw_buf_append_char(&body, ',');
                pmw_buf_append_str(&body, MSG("a@x.org", ""));
        }
        pmw_buf_append_char(&body, ']');
        size_t accepted = 0;
        int n429        = 0;
        int64_t start   = pmw_clock_mono_us();
        for (int i = 0; i < 10; i++) {
                resp_t r;
                request(sim, "POST", "/email/batch", NULL, pmw_buf_ptr(&body),
                        pmw_buf_len(&body), 10000, &r);
                if (r.status == 429) {
                        n429++;
                        check_error(r.json, 429, NULL);
                        assert_true(has_header(&r, "Retry-After: 1\r\n"));
                } else {
                        assert_int_equal(r.status, 200);
                        assert_int_equal(json_array_size(r.json), 500);
                        for (size_t k = 0; k < 500; k++)
                                check_error(json_array_get(r.json, k), 0, "OK");
                        accepted += 500;
                }
                resp_free(&r);
        }
        double elapsed = (double)(pmw_clock_mono_us() - start) / 1e6;
        pmw_buf_cleanup(&body);
        /* Bounds, not timings: the burst (1000) always goes through, and
         * nothing beyond the rate plus the burst does. Ten batches sent in
         * under 4 s must meet some 429s. */
        if (accepted < 1000 || (double)accepted > 1000.0 * elapsed + 1000.0)
                fail_msg("%zu messages accepted in %.3f s", accepted, elapsed);
        if (n429 == 0 && elapsed < 4.0)
                fail_msg("no 429 in %.3f s", elapsed);

        resp_t r;
        request(sim, "GET", "/_sim/stats", NULL, NULL, 0, 5000, &r);
        json_t *msgs = json_object_get(r.json, "messages");
        assert_int_equal(json_integer_value(json_object_get(msgs, "accepted")),
                         accepted);
        json_t *faults = json_object_get(r.json, "faults");
        assert_int_equal(json_integer_value(json_object_get(faults, "status")),
                         n429);
        resp_free(&r);
        stop_sim(sim);
}

/* rcpt= on a request fault: one bad recipient fails the whole batch. */
static void test_fault_rcpt(void **state) {
        sim_t *sim = *state;
        start_sim(sim, std_args);
        resp_t r;
        const char *spec = "status=422,error-code=403,rcpt=bad*@*";
        request(sim, "POST", "/_sim/faults", NULL, spec, strlen(spec), 5000,
                &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        const char *with = "[" MSG("a@x.org", "") "," MSG(
            "bad1@x.org", "") "," MSG("c@x.org", "") "]";
        const char *without = "[" MSG("a@x.org", "") "," MSG("c@x.org", "") "]";
        post(sim, "/email/batch", with, &r);
        assert_int_equal(r.status, 422);
        check_error(r.json, 403, "Simulated fault.");
        resp_free(&r);
        post(sim, "/email/batch", without, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(json_array_size(r.json), 2);
        check_ok(json_array_get(r.json, 0), "a@x.org", "OK");
        check_ok(json_array_get(r.json, 1), "c@x.org", "OK");
        resp_free(&r);
        request(sim, "GET", "/_sim/faults", NULL, NULL, 0, 5000, &r);
        assert_int_equal(json_integer_value(json_object_get(
                             json_array_get(r.json, 0), "fired")),
                         1);
        resp_free(&r);
        stop_sim(sim);
}

static void test_cli(void **state) {
        (void)state;
        /* Usage errors exit 2 before printing anything on stdout. */
        const char *const bad_fault[] = {sim_path, "--fault", "status=99",
                                         NULL};
        pmw_proc_t *proc;
        assert_null(pmw_proc_start(bad_fault, &proc));
        char line[256];
        pmw_error_t *err = pmw_proc_read_line(proc, 5000, line, sizeof(line));
        assert_non_null(err); /* stdout closed, no line */
        pmw_error_destroy(err);
        assert_int_equal(pmw_proc_wait(proc, 5000), 2);

        const char *const version[] = {sim_path, "--version", NULL};
        assert_null(pmw_proc_start(version, &proc));
        assert_null(pmw_proc_read_line(proc, 5000, line, sizeof(line)));
        assert_int_equal(strncmp(line, "postmark-sim ", 13), 0);
        assert_int_equal(pmw_proc_wait(proc, 5000), 0);

        const char *const help[] = {sim_path, "--help", NULL};
        assert_null(pmw_proc_start(help, &proc));
        assert_null(pmw_proc_read_line(proc, 5000, line, sizeof(line)));
        assert_string_equal(line, "Usage: postmark-sim [OPTION]...");
        assert_int_equal(pmw_proc_wait(proc, 5000), 0);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-OF-postmark-sim\n", argv[0]);
                return 2;
        }
        sim_path = argv[1];
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_header_checks, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_mixed_batch, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_whole_request_errors,
                                            setup_sim, teardown_sim),
            cmocka_unit_test_setup_teardown(test_single_and_routes, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_faults_cli, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_faults_runtime, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_record_and_search, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_record_flushed_while_running,
                                            setup_sim, teardown_sim),
            cmocka_unit_test_setup_teardown(test_latency_in_parallel, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_fault_above, setup_sim,
                                            teardown_sim),
            cmocka_unit_test_setup_teardown(test_fault_rcpt, setup_sim,
                                            teardown_sim),
            cmocka_unit_test(test_cli),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return failed;
}
