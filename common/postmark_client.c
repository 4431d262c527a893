/*
 * common/postmark_client.c: see postmark_client.h.
 *
 * A request owns one easy handle from a small free list (handles are
 * reused, so their DNS cache and settings survive; connections live in the
 * multi handle's pool, shared by all handles). The body goes out through
 * read_body() and no seek callback: that is what turns libcurl's silent
 * re-send on a dead reused connection into CURLE_SEND_FAIL_REWIND.
 */
#include "common/postmark_client.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/defs.h"
#include "common/log.h"
#include "common/mem.h"

#define DEFAULT_MAX_RESPONSE (16 * 1024 * 1024)
#define URL_MAX              2048
#define TOKEN_HEADER         "X-Postmark-Server-Token: "

typedef struct request_s {
        struct request_s *next; /* free list, or the active list */
        struct request_s *prev; /* active list */
        pmw_client_t *client;
        CURL *easy;
        struct curl_slist *headers;
        const char *path; /* borrowed from the caller's req */
        const char *body; /* borrowed until done() */
        size_t body_len;
        size_t body_off; /* bytes handed to libcurl so far */
        size_t msg_count;
        pmw_buf_t resp_body;
        pmw_client_done_cb_t *done;
        void *opaque;
        int64_t start_us;
        char errbuf[CURL_ERROR_SIZE];
} request_t;

struct pmw_client_s {
        CURLM *multi;
        char *base_url;
        pmw_client_opts_t opts;
        size_t in_flight;
        uint64_t connects;
        request_t *free_list;
        request_t *active; /* requests in flight, for pmw_client_destroy() */
        char user_agent[128];
};

pmw_error_t *pmw_client_global_init(void) {
        CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK)
                return pmw_error_new(PMW_ERR_TRANSPORT, "curl_global_init: %s",
                                     curl_easy_strerror(rc));
        return NULL;
}

void pmw_client_global_cleanup(void) {
        curl_global_cleanup();
}

pmw_error_t *pmw_client_new(const pmw_client_opts_t *opts,
                            pmw_client_t **clientp) {
        *clientp = NULL;
        if (!opts->base_url || (strncmp(opts->base_url, "http://", 7) &&
                                strncmp(opts->base_url, "https://", 8)))
                return pmw_error_new(PMW_ERR_INVALID,
                                     "postmark client: base URL \"%.100s\" "
                                     "must start with http:// or https://",
                                     opts->base_url ? opts->base_url : "");
        if (strlen(opts->base_url) > URL_MAX / 2)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "postmark client: base URL longer than "
                                     "%d bytes",
                                     URL_MAX / 2);
        if (opts->timeout_ms <= 0)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "postmark client: timeout %" PRId64
                                     " ms must be > 0",
                                     opts->timeout_ms);
        if (opts->connect_timeout_ms <= 0)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "postmark client: connect timeout "
                                     "%" PRId64 " ms must be > 0",
                                     opts->connect_timeout_ms);
        if (opts->max_connections < 1)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "postmark client: max connections must "
                                     "be >= 1");

        pmw_client_t *client = pmw_calloc(1, sizeof(*client));
        client->multi        = curl_multi_init();
        if (!client->multi) {
                free(client);
                return pmw_error_new(PMW_ERR_TRANSPORT,
                                     "postmark client: curl_multi_init "
                                     "failed");
        }
        client->opts     = *opts;
        client->base_url = pmw_strdup(opts->base_url);
        /* One trailing slash would double with the path's. */
        size_t blen = strlen(client->base_url);
        if (blen > 8 && client->base_url[blen - 1] == '/')
                client->base_url[blen - 1] = '\0';
        client->opts.base_url = client->base_url;
        if (!client->opts.max_response_bytes)
                client->opts.max_response_bytes = DEFAULT_MAX_RESPONSE;

        const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
        snprintf(client->user_agent, sizeof(client->user_agent),
                 "postmark-worker/%s libcurl/%s", PMW_VERSION, cv->version);

        long maxconn = (long)opts->max_connections;
        curl_multi_setopt(client->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                          maxconn);
        curl_multi_setopt(client->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          maxconn);
        /* Keep every connection we may open: closing and reopening them
         * between batches would cost a TLS handshake each time. */
        curl_multi_setopt(client->multi, CURLMOPT_MAXCONNECTS, maxconn);
        curl_multi_setopt(client->multi, CURLMOPT_PIPELINING,
                          (long)CURLPIPE_MULTIPLEX);

        *clientp = client;
        return NULL;
}

/* libcurl's informational text (connects, reuse, TLS) at DEBUG. Headers and
 * data are never logged: they carry the token and email content. */
static int
debug_cb(CURL *easy, curl_infotype type, char *data, size_t size, void *userp) {
        (void)easy;
        (void)userp;
        if (type == CURLINFO_TEXT) {
                while (size > 0 &&
                       (data[size - 1] == '\n' || data[size - 1] == '\r'))
                        size--;
                pmw_log(PMW_LOG_DEBUG, "curl", "%.*s", (int)PMW_MIN(size, 512),
                        data);
        }
        return 0;
}

static size_t read_body(char *dst, size_t size, size_t nitems, void *userp) {
        request_t *req = userp;
        size_t n       = PMW_MIN(size * nitems, req->body_len - req->body_off);
        memcpy(dst, req->body + req->body_off, n);
        req->body_off += n;
        return n;
}

static size_t write_body(char *src, size_t size, size_t nmemb, void *userp) {
        request_t *req = userp;
        size_t n       = size * nmemb;
        pmw_buf_append(&req->resp_body, src, n);
        /* Returning less than n fails the transfer (CURLE_WRITE_ERROR). */
        return pmw_buf_failed(&req->resp_body) ? 0 : n;
}

static request_t *request_get(pmw_client_t *client) {
        request_t *req = client->free_list;
        if (req) {
                client->free_list = req->next;
                return req;
        }

        req         = pmw_calloc(1, sizeof(*req));
        req->client = client;
        req->easy   = curl_easy_init();
        if (!req->easy) {
                free(req);
                return NULL;
        }
        pmw_buf_init(&req->resp_body, client->opts.max_response_bytes);

        CURL *e = req->easy;
        curl_easy_setopt(e, CURLOPT_PRIVATE, req);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(e, CURLOPT_READDATA, req);
        /* Deliberately no CURLOPT_SEEKFUNCTION: see the file comment. */
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
        curl_easy_setopt(e, CURLOPT_USERAGENT, client->user_agent);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)client->opts.timeout_ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                         (long)client->opts.connect_timeout_ms);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        /* A transfer waits for a free connection rather than opening one
         * more than max_connections. */
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        if (!client->opts.tls_verify) {
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (pmw_log_enabled(PMW_LOG_DEBUG)) {
                curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
                curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
        }
        return req;
}

static void active_link(pmw_client_t *client, request_t *req) {
        req->prev = NULL;
        req->next = client->active;
        if (client->active)
                client->active->prev = req;
        client->active = req;
        client->in_flight++;
}

static void active_unlink(pmw_client_t *client, request_t *req) {
        if (req->prev)
                req->prev->next = req->next;
        else
                client->active = req->next;
        if (req->next)
                req->next->prev = req->prev;
        req->next = req->prev = NULL;
        client->in_flight--;
}

static void request_put(pmw_client_t *client, request_t *req) {
        curl_slist_free_all(req->headers);
        req->headers = NULL;
        req->body    = NULL;
        req->done    = NULL;
        req->opaque  = NULL;
        pmw_buf_reset(&req->resp_body);
        req->next         = client->free_list;
        client->free_list = req;
}

static void request_free(request_t *req) {
        curl_slist_free_all(req->headers);
        curl_easy_cleanup(req->easy);
        pmw_buf_cleanup(&req->resp_body);
        free(req);
}

/* A request that never started: done() at once, with nothing sent. */
static void not_started(pmw_client_done_cb_t *done,
                        void *opaque,
                        const char *path,
                        const char *why) {
        char detail[256];
        snprintf(detail, sizeof(detail), "POST %s: %s", path, why);
        pmw_response_t resp;
        pmw_response_set_transport_error(&resp, PMW_TRANSPORT_CONNECT, detail);
        pmw_verdict_t verdict = pmw_classify_request(&resp);
        done(opaque, &resp, &verdict, 0);
}

void pmw_client_send(pmw_client_t *client,
                     const pmw_client_req_t *r,
                     pmw_client_done_cb_t *done,
                     void *opaque) {
        request_t *req = request_get(client);
        if (!req) {
                not_started(done, opaque, r->path, "curl_easy_init failed");
                return;
        }

        char url[URL_MAX];
        snprintf(url, sizeof(url), "%s%s", client->base_url, r->path);

        /* The token header is built per request: servers have their own
         * tokens, and a token_file may change after a 401. */
        pmw_buf_t th;
        pmw_buf_init(&th, 4096 + sizeof(TOKEN_HEADER));
        pmw_buf_append_str(&th, TOKEN_HEADER);
        pmw_buf_append_str(&th, r->token);
        struct curl_slist *h = NULL;
        h                    = curl_slist_append(h, "Accept: application/json");
        h = curl_slist_append(h, "Content-Type: application/json");
        /* No "Expect: 100-continue" round trip before large bodies. */
        h = curl_slist_append(h, "Expect:");
        h = curl_slist_append(h, pmw_buf_ptr(&th));
        /* The token must not linger in freed memory longer than needed. */
        memset(th.data, 0, pmw_buf_len(&th));
        pmw_buf_cleanup(&th);

        req->headers   = h;
        req->path      = r->path;
        req->body      = r->body;
        req->body_len  = r->body_len;
        req->body_off  = 0;
        req->msg_count = r->msg_count;
        req->done      = done;
        req->opaque    = opaque;
        req->errbuf[0] = '\0';
        req->start_us  = pmw_clock_mono_us();

        CURL *e = req->easy;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)r->body_len);

        CURLMcode mc = curl_multi_add_handle(client->multi, e);
        if (mc != CURLM_OK) {
                request_put(client, req);
                not_started(done, opaque, r->path, curl_multi_strerror(mc));
                return;
        }
        active_link(client, req);
}

void pmw_client_wait(pmw_client_t *client,
                     pmw_waitfd_t *fds,
                     unsigned fd_cnt,
                     int timeout_ms) {
        struct curl_waitfd cfds[16];
        unsigned n = PMW_MIN(fd_cnt, (unsigned)PMW_ARRAY_LEN(cfds));
        for (unsigned i = 0; i < n; i++) {
                cfds[i].fd      = fds[i].fd;
                cfds[i].events  = fds[i].events;
                cfds[i].revents = 0;
        }
        curl_multi_poll(client->multi, n ? cfds : NULL, n, timeout_ms, NULL);
        for (unsigned i = 0; i < n; i++)
                fds[i].revents = cfds[i].revents;
}

void pmw_client_wakeup(pmw_client_t *client) {
        curl_multi_wakeup(client->multi);
}

/* Which failure a libcurl error is. Whether the request may have reached
 * Postmark decides between CONNECT (certainly not sent: a plain retry) and
 * TIMEOUT/DROPPED (perhaps processed: a retry may duplicate). */
static pmw_transport_t failure_kind(CURLcode rc, CURL *easy) {
        long request_size = 0;
        curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);
        switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
                return PMW_TRANSPORT_CONNECT;
        case CURLE_OPERATION_TIMEDOUT:
                return request_size > 0 ? PMW_TRANSPORT_TIMEOUT
                                        : PMW_TRANSPORT_CONNECT;
        default:
                /* SEND_FAIL_REWIND, GOT_NOTHING, RECV_ERROR, SEND_ERROR,
                 * PARTIAL_FILE, HTTP2 errors, our WRITE_ERROR on an
                 * oversized answer, and anything new. */
                return request_size > 0 ? PMW_TRANSPORT_DROPPED
                                        : PMW_TRANSPORT_CONNECT;
        }
}

static void finish(pmw_client_t *client, request_t *req, CURLcode rc) {
        CURL *e = req->easy;
        pmw_response_t resp;
        long status   = 0;
        long connects = 0;
        int64_t took  = pmw_clock_mono_us() - req->start_us;
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
        client->connects += (uint64_t)PMW_MAX(connects, 0L);

        if (rc == CURLE_OK) {
                char *ctype = NULL;
                struct curl_header *ra;
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
                curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ctype);
                pmw_response_parse(
                    &resp, (int)status, ctype, pmw_buf_ptr(&req->resp_body),
                    pmw_buf_len(&req->resp_body), req->msg_count);
                if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1,
                                     &ra) == CURLHE_OK) {
                        int64_t ms;
                        if (pmw_backoff_parse_retry_after(
                                ra->value, pmw_clock_wall_ms(), &ms))
                                resp.retry_after_ms = ms;
                }
        } else {
                pmw_transport_t kind = failure_kind(rc, e);
                const char *detail =
                    pmw_buf_failed(&req->resp_body)
                        ? "answer larger than the response limit"
                    : req->errbuf[0] ? req->errbuf
                                     : curl_easy_strerror(rc);
                pmw_response_set_transport_error(&resp, kind, detail);
        }

        pmw_verdict_t verdict = pmw_classify_request(&resp);
        pmw_log(PMW_LOG_DEBUG, "http",
                "POST %s: %s%ld, %zu messages, %zu bytes sent, %zu received, "
                "%" PRId64 " ms, verdict %s",
                req->path, rc == CURLE_OK ? "HTTP " : "error ",
                rc == CURLE_OK ? status : (long)rc, req->msg_count,
                req->body_off, pmw_buf_len(&req->resp_body), took / 1000,
                pmw_outcome_name(verdict.outcome));

        pmw_client_done_cb_t *done = req->done;
        void *opaque               = req->opaque;
        curl_multi_remove_handle(client->multi, e);
        active_unlink(client, req);
        request_put(client, req);
        /* Last: the callback may send the next request. */
        done(opaque, &resp, &verdict, took);
}

size_t pmw_client_step(pmw_client_t *client) {
        int running      = 0;
        size_t completed = 0;
        curl_multi_perform(client->multi, &running);

        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(client->multi, &left))) {
                if (msg->msg != CURLMSG_DONE)
                        continue;
                request_t *req = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &req);
                finish(client, req, msg->data.result);
                completed++;
        }
        return completed;
}

size_t pmw_client_in_flight(const pmw_client_t *client) {
        return client->in_flight;
}

uint64_t pmw_client_connects(const pmw_client_t *client) {
        return client->connects;
}

void pmw_client_destroy(pmw_client_t *client) {
        if (!client)
                return;

        /* Requests still in flight end as DROPPED (or CONNECT when not a
         * byte of the body went out): they may have reached Postmark, and
         * their owners must hear about it. */
        while (client->active) {
                request_t *req = client->active;
                pmw_response_t resp;
                pmw_transport_t kind = req->body_off > 0
                                           ? PMW_TRANSPORT_DROPPED
                                           : PMW_TRANSPORT_CONNECT;
                pmw_response_set_transport_error(&resp, kind,
                                                 "the client was shut down");
                pmw_verdict_t verdict      = pmw_classify_request(&resp);
                pmw_client_done_cb_t *done = req->done;
                void *opaque               = req->opaque;
                int64_t took = pmw_clock_mono_us() - req->start_us;
                curl_multi_remove_handle(client->multi, req->easy);
                active_unlink(client, req);
                request_put(client, req);
                done(opaque, &resp, &verdict, took);
        }

        while (client->free_list) {
                request_t *req    = client->free_list;
                client->free_list = req->next;
                request_free(req);
        }
        curl_multi_cleanup(client->multi);
        free(client->base_url);
        free(client);
}

typedef struct sync_state_s {
        bool done;
        pmw_response_t resp;
        pmw_verdict_t verdict;
} sync_state_t;

static void sync_done(void *opaque,
                      pmw_response_t *resp,
                      const pmw_verdict_t *verdict,
                      int64_t attempt_us) {
        sync_state_t *st = opaque;
        (void)attempt_us;
        st->resp    = *resp; /* takes ownership */
        st->verdict = *verdict;
        st->done    = true;
}

static void sleep_ms(int64_t ms) {
        struct timespec ts = {.tv_sec  = (time_t)(ms / 1000),
                              .tv_nsec = (long)(ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

void pmw_client_send_sync(pmw_client_t *client,
                          const pmw_client_req_t *req,
                          const pmw_retry_policy_t *policy,
                          uint64_t *rng,
                          pmw_response_t *resp,
                          pmw_verdict_t *verdictp,
                          unsigned *attemptsp) {
        unsigned attempt = 0;
        sync_state_t st;

        for (;;) {
                memset(&st, 0, sizeof(st));
                attempt++;
                pmw_client_send(client, req, sync_done, &st);
                while (!st.done) {
                        pmw_client_wait(client, NULL, 0, 1000);
                        pmw_client_step(client);
                }
                if (st.verdict.outcome != PMW_OUTCOME_RETRY ||
                    attempt > policy->retries)
                        break;

                int64_t delay =
                    pmw_backoff_delay_ms(policy->initial_ms, policy->max_ms,
                                         attempt, st.resp.retry_after_ms, rng);
                pmw_log(PMW_LOG_WARN, "http",
                        "POST %s: attempt %u: %s; retrying in %" PRId64 " ms",
                        req->path, attempt, st.resp.message, delay);
                pmw_response_cleanup(&st.resp);
                sleep_ms(delay);
        }
        *resp     = st.resp;
        *verdictp = st.verdict;
        if (attemptsp)
                *attemptsp = attempt;
}
