/*
 * tests/bench/bench_sim.c: load generator for postmark-sim (or anything
 * that answers like Postmark's /email/batch).
 *
 *   bench_sim [-p] [-c CONNECTIONS] [-t SECONDS] [-n MESSAGES] [-s BYTES]
 *             [-k TOKEN] URL
 *
 * Posts batches of MESSAGES (default 500) messages of about BYTES (default
 * 1024) bytes each to URL (e.g. http://127.0.0.1:8080/email/batch) from
 * CONNECTIONS (default 16) keep-alive connections at once, with one libcurl
 * multi handle on one thread, for SECONDS (default 10), then prints
 * requests/s and messages/s (and the accepted count, from the answers'
 * "ErrorCode":0 elements). It starts nothing itself: run the server first.
 *
 * The body is built once and sent from memory, so the client costs little
 * next to the server it measures.
 *
 * -p drives postmark-worker's own client instead (common/postmark_client:
 * the body through a read callback, every answer parsed and classified
 * per message), with CONNECTIONS requests in flight: the figure the
 * worker's transport reaches against the same server.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/mem.h"
#include "common/postmark_client.h"

typedef struct conn_s {
        CURL *easy;
        pmw_buf_t resp;
} conn_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
        conn_t *c = userdata;
        pmw_buf_append(&c->resp, ptr, size * nmemb);
        return size * nmemb;
}

static size_t count_ok(const char *s) {
        size_t n        = 0;
        const char *pat = "\"ErrorCode\":0,";
        for (const char *p = strstr(s, pat); p; p = strstr(p + 1, pat))
                n++;
        return n;
}

static void build_body(pmw_buf_t *body, int messages, int size) {
        pmw_buf_append_char(body, '[');
        for (int i = 0; i < messages; i++) {
                size_t start = pmw_buf_len(body);
                if (i > 0)
                        pmw_buf_append_char(body, ',');
                pmw_buf_appendf(body,
                                "{\"From\":\"Bench <bench@example.com>\","
                                "\"To\":\"rcpt-%d@example.org\","
                                "\"Subject\":\"Benchmark message %d\","
                                "\"Tag\":\"bench\","
                                "\"Metadata\":{\"pmw_job_id\":\"bench:0:%d\"},"
                                "\"MessageStream\":\"outbound\","
                                "\"TextBody\":\"",
                                i, i, i);
                size_t used = pmw_buf_len(body) - start + 3;
                for (size_t k = used; k < (size_t)size; k++)
                        pmw_buf_append_char(body, (char)('a' + k % 26));
                pmw_buf_append_str(body, "\"}");
        }
        pmw_buf_append_char(body, ']');
}

static int usage(void) {
        fprintf(stderr,
                "usage: bench_sim [-p] [-c CONNECTIONS] [-t SECONDS] "
                "[-n MESSAGES] [-s BYTES] [-k TOKEN] URL\n");
        return 2;
}

typedef struct pmw_run_s {
        pmw_client_t *client;
        pmw_client_req_t req;
        bool stopping;
        unsigned long long requests, accepted, failures;
} pmw_run_t;

static void pmw_done(void *opaque,
                     pmw_response_t *resp,
                     const pmw_verdict_t *verdict,
                     int64_t attempt_us) {
        pmw_run_t *run = opaque;
        (void)attempt_us;
        if (verdict->outcome == PMW_OUTCOME_PER_MESSAGE) {
                run->requests++;
                for (size_t i = 0; i < resp->result_cnt; i++)
                        run->accepted += resp->results[i].error_code == 0;
        } else if (++run->failures <= 5) {
                fprintf(stderr, "request failed: %s\n", resp->message);
        }
        pmw_response_cleanup(resp);
        /* A refused request ends inside pmw_client_send(): stop sending
         * after 100 failures rather than recursing on. */
        if (!run->stopping && run->failures <= 100)
                pmw_client_send(run->client, &run->req, pmw_done, run);
}

/* The -p run: postmark-worker's client keeping conns requests in flight. */
static int run_pmw_client(const char *url,
                          const char *token,
                          const pmw_buf_t *body,
                          int conns,
                          int messages,
                          int seconds) {
        /* Split "http://host:port/email/batch" into base URL and path. */
        const char *scheme = strstr(url, "://");
        const char *path   = scheme ? strchr(scheme + 3, '/') : NULL;
        if (!path)
                return usage();
        char *base             = pmw_strndup(url, (size_t)(path - url));
        pmw_client_opts_t opts = {.base_url           = base,
                                  .timeout_ms         = 30000,
                                  .connect_timeout_ms = 5000,
                                  .tls_verify         = true,
                                  .max_connections    = (unsigned)conns};
        pmw_run_t run          = {0};
        pmw_error_t *err       = pmw_client_global_init();
        if (!err)
                err = pmw_client_new(&opts, &run.client);
        if (err) {
                fprintf(stderr, "%s\n", pmw_error_string(err));
                pmw_error_destroy(err);
                free(base);
                return 1;
        }
        run.req       = (pmw_client_req_t) {.path      = path,
                                            .token     = token,
                                            .body      = pmw_buf_ptr(body),
                                            .body_len  = pmw_buf_len(body),
                                            .msg_count = (size_t)messages};
        int64_t start = pmw_clock_mono_us();
        int64_t end   = start + (int64_t)seconds * 1000000;
        for (int i = 0; i < conns; i++) {
                pmw_client_send(run.client, &run.req, pmw_done, &run);
        }
        while (pmw_client_in_flight(run.client) > 0) {
                run.stopping = pmw_clock_mono_us() >= end;
                pmw_client_wait(run.client, NULL, 0, 100);
                pmw_client_step(run.client);
        }
        double elapsed = (double)(pmw_clock_mono_us() - start) / 1e6;
        printf(
            "client=postmark-worker in_flight=%d batch=%d body_bytes=%zu "
            "seconds=%.2f connections_opened=%llu\n",
            conns, messages, pmw_buf_len(body), elapsed,
            (unsigned long long)pmw_client_connects(run.client));
        printf("requests=%llu failures=%llu accepted_messages=%llu\n",
               run.requests, run.failures, run.accepted);
        printf("requests/s=%.1f messages/s=%.0f\n",
               (double)run.requests / elapsed,
               (double)run.requests * messages / elapsed);
        pmw_client_destroy(run.client);
        pmw_client_global_cleanup();
        free(base);
        return run.failures > 0 ? 1 : 0;
}

int main(int argc, char **argv) {
        int conns = 16, seconds = 10, messages = 500, size = 1024;
        const char *token = "bench-token";
        bool own_client   = false;
        int opt;
        while ((opt = getopt(argc, argv, "pc:t:n:s:k:")) != -1) {
                switch (opt) {
                case 'p':
                        own_client = true;
                        break;
                case 'c':
                        conns = (int)strtol(optarg, NULL, 10);
                        break;
                case 't':
                        seconds = (int)strtol(optarg, NULL, 10);
                        break;
                case 'n':
                        messages = (int)strtol(optarg, NULL, 10);
                        break;
                case 's':
                        size = (int)strtol(optarg, NULL, 10);
                        break;
                case 'k':
                        token = optarg;
                        break;
                default:
                        return usage();
                }
        }
        if (optind != argc - 1 || conns < 1 || conns > 1000 || seconds < 1 ||
            messages < 1 || messages > 500 || size < 200)
                return usage();
        const char *url = argv[optind];

        pmw_buf_t body;
        pmw_buf_init(&body, SIZE_MAX);
        build_body(&body, messages, size);
        if (own_client) {
                int rc =
                    run_pmw_client(url, token, &body, conns, messages, seconds);
                pmw_buf_cleanup(&body);
                return rc;
        }

        curl_global_init(CURL_GLOBAL_DEFAULT);
        CURLM *multi = curl_multi_init();
        curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
        char token_header[512];
        snprintf(token_header, sizeof(token_header),
                 "X-Postmark-Server-Token: %s", token);
        struct curl_slist *headers = NULL;
        headers = curl_slist_append(headers, "Accept: application/json");
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = curl_slist_append(headers, token_header);
        headers = curl_slist_append(headers, "Expect:");

        conn_t *cs = pmw_calloc((size_t)conns, sizeof(*cs));
        for (int i = 0; i < conns; i++) {
                CURL *e    = curl_easy_init();
                cs[i].easy = e;
                pmw_buf_init(&cs[i].resp, 64 * 1024 * 1024);
                curl_easy_setopt(e, CURLOPT_URL, url);
                curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, pmw_buf_ptr(&body));
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                 (curl_off_t)pmw_buf_len(&body));
                curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
                curl_easy_setopt(e, CURLOPT_WRITEDATA, &cs[i]);
                curl_easy_setopt(e, CURLOPT_PRIVATE, &cs[i]);
                curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
                curl_multi_add_handle(multi, e);
        }

        int64_t start               = pmw_clock_mono_us();
        int64_t end                 = start + (int64_t)seconds * 1000000;
        unsigned long long requests = 0, accepted = 0, failures = 0;
        int running = conns;
        while (running > 0) {
                curl_multi_perform(multi, &running);
                CURLMsg *m;
                int left;
                bool stopping = pmw_clock_mono_us() >= end;
                while ((m = curl_multi_info_read(multi, &left))) {
                        if (m->msg != CURLMSG_DONE)
                                continue;
                        conn_t *c;
                        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
                                          (char **)&c);
                        long code = 0;
                        curl_easy_getinfo(m->easy_handle,
                                          CURLINFO_RESPONSE_CODE, &code);
                        if (m->data.result == CURLE_OK && code == 200) {
                                requests++;
                                accepted += count_ok(pmw_buf_ptr(&c->resp));
                        } else {
                                failures++;
                                if (failures <= 5)
                                        fprintf(
                                            stderr,
                                            "request failed: %s, HTTP %ld\n",
                                            curl_easy_strerror(m->data.result),
                                            code);
                        }
                        pmw_buf_reset(&c->resp);
                        curl_multi_remove_handle(multi, m->easy_handle);
                        if (!stopping) {
                                curl_multi_add_handle(multi, m->easy_handle);
                                running++;
                        }
                }
                if (running > 0)
                        curl_multi_poll(multi, NULL, 0, 100, NULL);
        }
        double elapsed = (double)(pmw_clock_mono_us() - start) / 1e6;
        printf(
            "connections=%d batch=%d message_bytes=%d body_bytes=%zu "
            "seconds=%.2f\n",
            conns, messages, size, pmw_buf_len(&body), elapsed);
        printf("requests=%llu failures=%llu accepted_messages=%llu\n", requests,
               failures, accepted);
        printf("requests/s=%.1f messages/s=%.0f MB/s=%.1f\n",
               (double)requests / elapsed,
               (double)requests * messages / elapsed,
               (double)requests * (double)pmw_buf_len(&body) / elapsed / 1e6);

        for (int i = 0; i < conns; i++) {
                curl_easy_cleanup(cs[i].easy);
                pmw_buf_cleanup(&cs[i].resp);
        }
        free(cs);
        curl_slist_free_all(headers);
        curl_multi_cleanup(multi);
        curl_global_cleanup();
        pmw_buf_cleanup(&body);
        return failures > 0 ? 1 : 0;
}
