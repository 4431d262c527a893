/*
 * common/postmark_client.h: the asynchronous Postmark HTTP client.
 *
 * One client is a libcurl multi handle with its connection pool: many batch
 * requests in flight on reused keep-alive connections (HTTP/2 multiplexing
 * when an https server offers it), never blocking. The caller's event loop
 * drives it:
 *
 *     pmw_client_send(client, &req, done, opaque);   start a request
 *     pmw_client_wait(client, fds, n, timeout_ms);    sleep until work
 *     pmw_client_step(client);                        make progress; runs
 *                                                     done() callbacks
 *
 * Each completed request produces a pmw_response_t (postmark_result.h) and
 * its pmw_verdict_t (postmark_classify.h): the client parses and classifies,
 * the caller decides what to do.
 *
 * No hidden re-sends (DESIGN.md): libcurl re-sends a request on its own when
 * a reused connection turns out to be dead after the request went out. The
 * body is handed over through a read callback without a seek callback, so
 * libcurl cannot rewind it and reports CURLE_SEND_FAIL_REWIND instead; the
 * client reports that, like every failure after the request was written, as
 * PMW_TRANSPORT_DROPPED (outcome unknown). The only re-sends are the ones
 * the caller decides on.
 *
 * Logging: one DEBUG line per request (endpoint, status, messages, bytes,
 * duration), and libcurl's own informational text at DEBUG. Never headers
 * (the token) or bodies (email content).
 *
 * Thread safety: a client belongs to one thread (libcurl: a handle is never
 * used by two threads at once), except pmw_client_wakeup(), which any thread
 * may call. curl_global_init() must have run before the first client is
 * created (pmw_client_global_init()).
 */
#ifndef PMW_COMMON_POSTMARK_CLIENT_H
#define PMW_COMMON_POSTMARK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/postmark_classify.h"
#include "common/postmark_result.h"

typedef struct pmw_client_s pmw_client_t;

typedef struct pmw_client_opts_s {
        const char *base_url;       /* borrows (copied): "https://..." */
        int64_t timeout_ms;         /* whole request, > 0 */
        int64_t connect_timeout_ms; /* > 0 */
        bool tls_verify;            /* false only for tests and proxies */
        unsigned max_connections;   /* open connections at most, >= 1 */
        size_t max_response_bytes;  /* 0: 16 MiB */
} pmw_client_opts_t;

typedef struct pmw_client_req_s {
        const char *path;  /* borrows: "/email/batch" (pmw_endpoint_path) */
        const char *token; /* borrows (copied): the server token */
        const char *body;  /* borrows: must stay valid until done() runs */
        size_t body_len;
        size_t msg_count; /* messages in the body: results expected */
} pmw_client_req_t;

/**
 * @brief Called once per request, from pmw_client_step() (or
 *        pmw_client_destroy(), with a DROPPED response, for requests still
 *        in flight; or from pmw_client_send() itself, with a CONNECT
 *        response, for a request libcurl refused to start).
 * @param resp takes: the callee owns it and calls pmw_response_cleanup().
 * @param verdict borrows: what pmw_classify_request() said of resp.
 * @param attempt_us how long the request took, in microseconds.
 */
typedef void(pmw_client_done_cb_t)(void *opaque,
                                   pmw_response_t *resp,
                                   const pmw_verdict_t *verdict,
                                   int64_t attempt_us);

/** A file descriptor the caller's loop also waits on (see poll(2)). */
typedef struct pmw_waitfd_s {
        int fd;
        short events;  /* POLLIN, POLLOUT */
        short revents; /* set by pmw_client_wait() */
} pmw_waitfd_t;

/** @brief curl_global_init(); call once from main() before threads start. */
pmw_error_t *pmw_client_global_init(void) PMW_WARN_UNUSED;
void pmw_client_global_cleanup(void);

/**
 * @brief Creates a client. Checks the options (timeouts > 0, a base URL
 *        with http:// or https://, at least one connection).
 */
pmw_error_t *pmw_client_new(const pmw_client_opts_t *opts,
                            pmw_client_t **clientp) PMW_WARN_UNUSED;

/**
 * @brief Aborts the requests still in flight (their done() callbacks run
 *        with PMW_TRANSPORT_DROPPED: they may have reached Postmark) and
 *        frees the client. NULL is allowed.
 */
void pmw_client_destroy(pmw_client_t *client);

/**
 * @brief Starts a request. It makes progress inside pmw_client_step(), and
 *        always ends in exactly one done() call: a request libcurl refuses
 *        to start ends at once, inside this call, as a CONNECT failure
 *        (nothing was sent), so callers count it in flight before calling.
 * @param opaque borrows: passed to done().
 */
void pmw_client_send(pmw_client_t *client,
                     const pmw_client_req_t *req,
                     pmw_client_done_cb_t *done,
                     void *opaque);

/**
 * @brief Waits until a transfer needs attention, one of fds is ready,
 *        pmw_client_wakeup() is called, or timeout_ms passes (shortened to
 *        what libcurl's timers need).
 * @param fds borrows: may be NULL when fd_cnt is 0; revents are set. At
 *        most 16 are watched (the event loops need two or three).
 */
void pmw_client_wait(pmw_client_t *client,
                     pmw_waitfd_t *fds,
                     unsigned fd_cnt,
                     int timeout_ms);

/** @brief Wakes a pmw_client_wait() in another thread. Thread-safe. */
void pmw_client_wakeup(pmw_client_t *client);

/**
 * @brief Moves every transfer forward without blocking and calls done() for
 *        each request that finished.
 * @returns the number of requests completed.
 */
size_t pmw_client_step(pmw_client_t *client);

/** @returns requests started and not completed. */
size_t pmw_client_in_flight(const pmw_client_t *client);

/** @returns connections opened so far (each new TCP/TLS connection). */
uint64_t pmw_client_connects(const pmw_client_t *client);

/**
 * Synchronous sending, for tools and tests: the behaviour of a classic
 * blocking client with `retries` automatic retries. The worker's pipeline
 * does not use it (it owns its retries, per job).
 */
typedef struct pmw_retry_policy_s {
        unsigned retries;   /* retries after the first attempt, >= 0 */
        int64_t initial_ms; /* backoff, as retry.initial_backoff_ms */
        int64_t max_ms;     /* backoff cap, as retry.max_backoff_ms */
} pmw_retry_policy_t;

/**
 * @brief Sends one request and waits for it; while the verdict is RETRY and
 *        retries remain, waits (exponential backoff, full jitter, honouring
 *        Retry-After up to max_ms) and sends again.
 * @param client must have nothing else in flight.
 * @param rng borrows: random state for the jitter.
 * @param resp receives the last response; the caller cleans it up.
 * @param verdictp receives its verdict.
 * @param attemptsp optional: receives the number of requests made.
 */
void pmw_client_send_sync(pmw_client_t *client,
                          const pmw_client_req_t *req,
                          const pmw_retry_policy_t *policy,
                          uint64_t *rng,
                          pmw_response_t *resp,
                          pmw_verdict_t *verdictp,
                          unsigned *attemptsp);

#endif /* PMW_COMMON_POSTMARK_CLIENT_H */
