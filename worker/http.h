/*
 * worker/http.h: the worker's small HTTP endpoint (CONTRACT 5, http.listen):
 * health, readiness and Prometheus metrics.
 *
 *   GET /healthz  200 "ok\n" while the process runs (liveness)
 *   GET /ready    200 {"ready":true}, or 503 {"ready":false,"reason":"..."}
 *   GET /metrics  200 text/plain; version=0.0.4, from the metrics callback;
 *                 404 while there is none
 *   other paths   404; other methods on the paths above 405 (HEAD is
 *                 served as GET without the body)
 *
 * It runs on libmicrohttpd with one internal polling thread (poll()), not a
 * thread per connection: the answers are tiny and computed in microseconds,
 * so one thread serves a Kubernetes probe and a Prometheus scrape with room
 * to spare, and a slow or idle client only holds a socket, not a thread.
 * Connections are bounded (64), idle connections are closed after 10 s,
 * request bodies are never read, and a connection's memory is capped, so a
 * misbehaving client cannot take memory or threads from the worker.
 *
 * The listening socket is created here (not by MHD) so that a bind failure
 * names the address and the system's reason ("Address already in use"). An
 * IPv6 wildcard ("[::]:9464") also accepts IPv4 (IPV6_V6ONLY off), as a
 * user who writes "all addresses" expects.
 *
 * Ownership: the endpoint borrows opts->opaque, which must outlive it; it
 * copies nothing else it needs after start.
 * Thread safety: start and stop are called by one thread (main()); the
 * callbacks run on the HTTP thread, concurrently with every other thread of
 * the worker, and must be thread-safe and fast.
 */
#ifndef PMW_WORKER_HTTP_H
#define PMW_WORKER_HTTP_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/error.h"

typedef struct pmw_http_s pmw_http_t;

/**
 * @brief Is the worker ready (CONTRACT 5: joined the group, Kafka
 *        reachable, no server on hold)?
 * @param reason borrows: when returning false, append a short reason (plain
 *        text: it is JSON-escaped; the first 1 KiB is kept, cut at a
 *        UTF-8 character boundary). Empty means "not ready".
 * @returns true when ready.
 * @locality the HTTP thread; must be thread-safe and fast.
 */
typedef bool(pmw_http_ready_fn)(void *opaque, pmw_buf_t *reason);

/**
 * @brief Appends the body of GET /metrics (Prometheus text format 0.0.4).
 * @param out borrows: an empty buffer limited to 16 MiB; if the body does
 *        not fit, the request answers 500.
 * @locality the HTTP thread; must be thread-safe and fast.
 */
typedef void(pmw_http_metrics_fn)(void *opaque, pmw_buf_t *out);

typedef struct pmw_http_opts_s {
        /* "HOST:PORT", "[IPV6]:PORT" or ":PORT" (all addresses); HOST may be
         * a name ("localhost"). Port 0 picks a free one. Borrowed. */
        const char *listen;
        pmw_http_ready_fn *ready;     /* required */
        pmw_http_metrics_fn *metrics; /* NULL: /metrics answers 404 */
        void *opaque;                 /* passed to both; borrowed */
} pmw_http_opts_t;

/**
 * @brief Binds opts->listen and starts serving on a new thread.
 *
 * When HOST resolves to several addresses, the first one that binds is used.
 *
 * @param opts borrows: read during the call only (opaque is kept).
 * @param httpp receives the endpoint (caller owns it: pmw_http_stop());
 *        NULL on error.
 * @returns NULL, or an error naming the address and the reason:
 *          PMW_ERR_INVALID for a malformed listen string or a host that does
 *          not resolve, PMW_ERR_IO when socket/bind/listen fail (with
 *          strerror) or the server thread cannot start.
 * @locality any thread (main() in the worker).
 */
pmw_error_t *pmw_http_start(const pmw_http_opts_t *opts,
                            pmw_http_t **httpp) PMW_WARN_UNUSED;

/** @returns the bound port (the one picked when opts->listen asked for 0). */
int pmw_http_port(const pmw_http_t *http);

/**
 * @brief Stops serving: closes the listening socket and every connection,
 *        joins the HTTP thread (so no callback runs after it returns), and
 *        frees the endpoint. NULL is allowed.
 * @param http takes.
 */
void pmw_http_stop(pmw_http_t *http);

#endif /* PMW_WORKER_HTTP_H */
