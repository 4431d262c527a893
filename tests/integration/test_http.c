/*
 * Integration tests of the worker's HTTP endpoint (worker/http) on
 * loopback, with libcurl as the client: routes, statuses and content types,
 * readiness flipping, metrics, bind errors, a slow client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/buf.h"
#include "worker/http.h"

/* What the callbacks answer; the test thread writes it, the HTTP thread
 * reads it. */
typedef struct state_s {
        pthread_mutex_t lock;
        bool ready;
        const char *reason;   /* appended when not ready; NULL: nothing */
        size_t metrics_bytes; /* 0: the fixed sample body */
        unsigned ready_calls;
} state_t;

static bool ready_cb(void *opaque, pmw_buf_t *reason) {
        state_t *st = opaque;
        pthread_mutex_lock(&st->lock);
        bool ready = st->ready;
        st->ready_calls++;
        if (!ready && st->reason)
                pmw_buf_append_str(reason, st->reason);
        pthread_mutex_unlock(&st->lock);
        return ready;
}

static void metrics_cb(void *opaque, pmw_buf_t *out) {
        state_t *st = opaque;
        pthread_mutex_lock(&st->lock);
        size_t n = st->metrics_bytes;
        pthread_mutex_unlock(&st->lock);
        if (n == 0) {
                pmw_buf_append_str(out,
                                   "# TYPE postmark_worker_retries_total "
                                   "counter\n"
                                   "postmark_worker_retries_total 3\n");
                return;
        }
        static const char line[64] = "x";
        for (size_t i = 0; i < n; i += sizeof(line))
                pmw_buf_append(out, line, sizeof(line));
}

static void set_ready(state_t *st, bool ready, const char *reason) {
        pthread_mutex_lock(&st->lock);
        st->ready  = ready;
        st->reason = reason;
        pthread_mutex_unlock(&st->lock);
}

typedef struct reply_s {
        long status;
        char ctype[128];
        pmw_buf_t body;
        pmw_buf_t headers;
        CURLcode rc;
} reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
        pmw_buf_append(ud, p, size * n);
        return size * n;
}

/* One request on a fresh connection. method NULL: GET. */
static void
request(int port, const char *method, const char *path, reply_t *r) {
        memset(r, 0, sizeof(*r));
        pmw_buf_init(&r->body, 64 << 20);
        pmw_buf_init(&r->headers, 1 << 16);
        char url[256];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        CURL *curl = curl_easy_init();
        assert_non_null(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
        /* Send "/a/../b" as it is: the server must not serve it as /b. */
        curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r->headers);
        if (method && strcmp(method, "HEAD") == 0)
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        else if (method && strcmp(method, "POST") == 0)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{\"a\":1}");
        else if (method)
                curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        r->rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        char *ct = NULL;
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(r->ctype, sizeof(r->ctype), "%s", ct ? ct : "");
        curl_easy_cleanup(curl);
}

static void reply_cleanup(reply_t *r) {
        pmw_buf_cleanup(&r->body);
        pmw_buf_cleanup(&r->headers);
}

static void expect(int port,
                   const char *method,
                   const char *path,
                   long status,
                   const char *ctype,
                   const char *body) {
        reply_t r;
        request(port, method, path, &r);
        if (r.rc != CURLE_OK)
                fail_msg("%s %s: %s", method ? method : "GET", path,
                         curl_easy_strerror(r.rc));
        assert_int_equal(r.status, status);
        if (ctype)
                assert_string_equal(r.ctype, ctype);
        if (body)
                assert_string_equal(pmw_buf_ptr(&r.body), body);
        reply_cleanup(&r);
}

typedef struct fixture_s {
        state_t st;
        pmw_http_t *http;
        int port;
} fixture_t;

static int setup(void **state) {
        fixture_t *fx = calloc(1, sizeof(*fx));
        pthread_mutex_init(&fx->st.lock, NULL);
        fx->st.ready = true;
        *state       = fx;
        return 0;
}

static int teardown(void **state) {
        fixture_t *fx = *state;
        pmw_http_stop(fx->http);
        pthread_mutex_destroy(&fx->st.lock);
        free(fx);
        return 0;
}

static void start(fixture_t *fx, const char *listen, bool with_metrics) {
        pmw_http_opts_t opts = {.listen  = listen,
                                .ready   = ready_cb,
                                .metrics = with_metrics ? metrics_cb : NULL,
                                .opaque  = &fx->st};
        pmw_error_t *err     = pmw_http_start(&opts, &fx->http);
        if (err)
                fail_msg("pmw_http_start: %s", pmw_error_string(err));
        assert_non_null(fx->http);
        fx->port = pmw_http_port(fx->http);
        assert_true(fx->port > 0 && fx->port < 65536);
}

static void test_routes(void **state) {
        fixture_t *fx = *state;
        start(fx, "127.0.0.1:0", false);
        int port = fx->port;
        expect(port, NULL, "/healthz", 200, "text/plain; charset=utf-8",
               "ok\n");
        /* A query string does not change the route. */
        expect(port, NULL, "/healthz?verbose=1", 200, NULL, "ok\n");
        expect(port, NULL, "/ready", 200, "application/json",
               "{\"ready\":true}\n");
        /* No metrics callback yet: 404, whatever the method. */
        expect(port, NULL, "/metrics", 404, NULL, "not found\n");
        expect(port, "DELETE", "/metrics", 404, NULL, NULL);
        expect(port, NULL, "/", 404, NULL, "not found\n");
        expect(port, NULL, "/ready/", 404, NULL, NULL);
        expect(port, NULL, "/HEALTHZ", 404, NULL, NULL);
        expect(port, NULL, "/healthz/../ready", 404, NULL, NULL);
        /* HEAD is GET without the body. */
        expect(port, "HEAD", "/healthz", 200, "text/plain; charset=utf-8", "");
        expect(port, "HEAD", "/ready", 200, "application/json", "");

        /* Other methods: 405 with Allow, and the body is not needed. */
        reply_t r;
        request(port, "POST", "/ready", &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(r.status, 405);
        assert_non_null(strstr(pmw_buf_ptr(&r.headers), "Allow: GET, HEAD"));
        assert_string_equal(pmw_buf_ptr(&r.body), "method not allowed\n");
        reply_cleanup(&r);
        expect(port, "PUT", "/healthz", 405, NULL, "method not allowed\n");
        expect(port, "DELETE", "/ready", 405, NULL, NULL);
        /* Health answers are never cached by a proxy. */
        request(port, NULL, "/ready", &r);
        assert_non_null(
            strstr(pmw_buf_ptr(&r.headers), "Cache-Control: no-store"));
        reply_cleanup(&r);
}

static void test_ready_flips(void **state) {
        fixture_t *fx = *state;
        start(fx, "127.0.0.1:0", false);
        expect(fx->port, NULL, "/ready", 200, NULL, "{\"ready\":true}\n");

        set_ready(&fx->st, false,
                  "server \"default\" on hold: HTTP 401\nprobing");
        reply_t r;
        request(fx->port, NULL, "/ready", &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(r.status, 503);
        assert_string_equal(r.ctype, "application/json");
        json_error_t jerr;
        json_t *root = json_loads(pmw_buf_ptr(&r.body), 0, &jerr);
        assert_non_null(root);
        assert_true(json_is_false(json_object_get(root, "ready")));
        assert_string_equal(json_string_value(json_object_get(root, "reason")),
                            "server \"default\" on hold: HTTP 401\nprobing");
        assert_int_equal(json_object_size(root), 2);
        json_decref(root);
        reply_cleanup(&r);
        /* Liveness does not depend on readiness. */
        expect(fx->port, NULL, "/healthz", 200, NULL, "ok\n");

        /* No reason given. */
        set_ready(&fx->st, false, NULL);
        expect(fx->port, NULL, "/ready", 503, "application/json",
               "{\"ready\":false,\"reason\":\"not ready\"}\n");

        /* An over-long reason is cut to 1 KiB, at a character boundary
         * (the 'é' across the cut goes whole). */
        static char longreason[5000];
        memset(longreason, 'r', sizeof(longreason) - 1);
        memcpy(longreason + 1023, "\xc3\xa9", 2);
        set_ready(&fx->st, false, longreason);
        request(fx->port, NULL, "/ready", &r);
        assert_int_equal(r.status, 503);
        root = json_loads(pmw_buf_ptr(&r.body), 0, &jerr);
        assert_non_null(root);
        assert_true(json_is_false(json_object_get(root, "ready")));
        const char *got = json_string_value(json_object_get(root, "reason"));
        assert_int_equal(strlen(got), 1023);
        assert_int_equal(strspn(got, "r"), 1023);
        json_decref(root);
        reply_cleanup(&r);

        set_ready(&fx->st, true, NULL);
        expect(fx->port, NULL, "/ready", 200, NULL, "{\"ready\":true}\n");
        pthread_mutex_lock(&fx->st.lock);
        assert_int_equal(fx->st.ready_calls, 5);
        pthread_mutex_unlock(&fx->st.lock);
}

static void test_metrics(void **state) {
        fixture_t *fx = *state;
        start(fx, "127.0.0.1:0", true);
        expect(fx->port, NULL, "/metrics", 200,
               "text/plain; version=0.0.4; charset=utf-8",
               "# TYPE postmark_worker_retries_total counter\n"
               "postmark_worker_retries_total 3\n");
        expect(fx->port, "POST", "/metrics", 405, NULL, NULL);

        /* A body of 1 MiB goes out whole. */
        pthread_mutex_lock(&fx->st.lock);
        fx->st.metrics_bytes = 1 << 20;
        pthread_mutex_unlock(&fx->st.lock);
        reply_t r;
        request(fx->port, NULL, "/metrics", &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(pmw_buf_len(&r.body), 1 << 20);
        reply_cleanup(&r);

        /* Beyond the 16 MiB bound: 500, and the server goes on. */
        pthread_mutex_lock(&fx->st.lock);
        fx->st.metrics_bytes = 17 << 20;
        pthread_mutex_unlock(&fx->st.lock);
        expect(fx->port, NULL, "/metrics", 500, "text/plain; charset=utf-8",
               "metrics too large\n");
        expect(fx->port, NULL, "/healthz", 200, NULL, "ok\n");
}

/* A listening socket on 127.0.0.1, port picked by the kernel. */
static int listen_any(int *portp) {
        int fd                = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr    = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 4), 0);
        socklen_t len = sizeof(sa);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        *portp = ntohs(sa.sin_port);
        return fd;
}

static void expect_start_error(const char *listen,
                               pmw_errcode_t code,
                               const char *want1,
                               const char *want2) {
        state_t st           = {.ready = true};
        pmw_http_opts_t opts = {
            .listen = listen, .ready = ready_cb, .opaque = &st};
        pmw_http_t *http = (pmw_http_t *)&st; /* must be set to NULL */
        pmw_error_t *err = pmw_http_start(&opts, &http);
        if (err == NULL)
                fail_msg("%s: started", listen);
        assert_null(http);
        assert_int_equal(pmw_error_code(err), code);
        const char *msg = pmw_error_string(err);
        if (strstr(msg, want1) == NULL || (want2 && strstr(msg, want2) == NULL))
                fail_msg("%s: \"%s\" lacks \"%s\" / \"%s\"", listen, msg, want1,
                         want2 ? want2 : "");
        pmw_error_destroy(err);
}

static void test_port_in_use(void **state) {
        fixture_t *fx = *state;
        int port;
        int fd = listen_any(&port);
        char listen[64];
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
        expect_start_error(listen, PMW_ERR_IO, listen,
                           "bind 127.0.0.1: Address already in use");
        close(fd);

        /* Our own endpoint holds its port too, and frees it on stop. */
        start(fx, "127.0.0.1:0", false);
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", fx->port);
        expect_start_error(listen, PMW_ERR_IO, "Address already in use", NULL);
        pmw_http_stop(fx->http);
        fx->http = NULL;
        start(fx, listen, false);
        expect(fx->port, NULL, "/healthz", 200, NULL, "ok\n");
}

static void test_bad_listen(void **state) {
        (void)state;
        expect_start_error("127.0.0.1", PMW_ERR_INVALID,
                           "http.listen \"127.0.0.1\": expected HOST:PORT",
                           NULL);
        expect_start_error("127.0.0.1:", PMW_ERR_INVALID, "port \"\"", NULL);
        expect_start_error("127.0.0.1:65536", PMW_ERR_INVALID,
                           "port \"65536\" is not 0..65535", NULL);
        expect_start_error("127.0.0.1:-1", PMW_ERR_INVALID, "port \"-1\"",
                           NULL);
        expect_start_error("127.0.0.1:http", PMW_ERR_INVALID, "port \"http\"",
                           NULL);
        expect_start_error("[::1:80", PMW_ERR_INVALID, "unbalanced brackets",
                           NULL);
        /* An address of no local interface (TEST-NET-1, RFC 5737). */
        expect_start_error("192.0.2.1:0", PMW_ERR_IO,
                           "bind 192.0.2.1: Cannot assign requested address",
                           NULL);
}

static void test_wildcard_and_ipv6(void **state) {
        fixture_t *fx = *state;
        int s6        = socket(AF_INET6, SOCK_STREAM, 0);
        if (s6 < 0)
                skip();
        close(s6);
        /* "[::]" accepts IPv4 too (dual stack). */
        pmw_http_opts_t opts = {
            .listen = "[::]:0", .ready = ready_cb, .opaque = &fx->st};
        pmw_error_t *err = pmw_http_start(&opts, &fx->http);
        if (err) {
                /* An IPv6-less host (no :: to bind): not what is tested. */
                pmw_error_destroy(err);
                skip();
        }
        fx->port = pmw_http_port(fx->http);
        expect(fx->port, NULL, "/healthz", 200, NULL, "ok\n");
        pmw_http_stop(fx->http);
        fx->http = NULL;
        /* ":PORT" means every address. */
        start(fx, ":0", false);
        expect(fx->port, NULL, "/ready", 200, NULL, "{\"ready\":true}\n");
}

/* A client that sends half a request and waits holds only its socket: the
 * one HTTP thread keeps serving others. */
static void test_slow_client(void **state) {
        fixture_t *fx = *state;
        start(fx, "127.0.0.1:0", false);
        int fds[8];
        for (size_t i = 0; i < 8; i++) {
                fds[i]                = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in sa = {.sin_family = AF_INET};
                sa.sin_addr.s_addr    = htonl(INADDR_LOOPBACK);
                sa.sin_port           = htons((uint16_t)fx->port);
                assert_int_equal(
                    connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
                static const char half[] = "GET /healthz HTTP/1.1\r\nHo";
                assert_int_equal(send(fds[i], half, sizeof(half) - 1, 0),
                                 (ssize_t)(sizeof(half) - 1));
        }
        for (int i = 0; i < 5; i++)
                expect(fx->port, NULL, "/healthz", 200, NULL, "ok\n");
        for (size_t i = 0; i < 8; i++)
                close(fds[i]);
        expect(fx->port, NULL, "/ready", 200, NULL, "{\"ready\":true}\n");
}

static void test_stop(void **state) {
        fixture_t *fx = *state;
        pmw_http_stop(NULL);
        start(fx, "127.0.0.1:0", false);
        int port = fx->port;
        expect(port, NULL, "/healthz", 200, NULL, "ok\n");
        pmw_http_stop(fx->http);
        fx->http = NULL;
        /* Nothing listens any more. */
        reply_t r;
        request(port, NULL, "/healthz", &r);
        assert_int_equal(r.rc, CURLE_COULDNT_CONNECT);
        reply_cleanup(&r);
}

int main(void) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ready_flips, setup, teardown),
            cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
            cmocka_unit_test_setup_teardown(test_port_in_use, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_listen, setup, teardown),
            cmocka_unit_test_setup_teardown(test_wildcard_and_ipv6, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);
        curl_global_cleanup();
        return failed;
}
