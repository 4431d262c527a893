/*
 * worker/http.c: see http.h.
 */
#include "worker/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"

/* Bounds that keep a misbehaving client from hurting the worker. A probe
 * and a scrape need a few connections; 64 leaves room for several
 * Prometheus servers and kubelets. */
#define HTTP_MAX_CONNECTIONS    64u
#define HTTP_IDLE_TIMEOUT_S     10u
#define HTTP_CONN_MEMORY        (size_t)(32 * 1024)
#define HTTP_LISTEN_BACKLOG     64
#define HTTP_READY_REASON_MAX   1024        /* bytes kept */
#define HTTP_READY_REASON_LIMIT (64 * 1024) /* bytes the callback may write */
#define HTTP_METRICS_MAX        (16 * 1024 * 1024)
#define HTTP_CT_TEXT            "text/plain; charset=utf-8"
#define HTTP_CT_JSON            "application/json"
#define HTTP_CT_PROMETHEUS      "text/plain; version=0.0.4; charset=utf-8"

struct pmw_http_s {
        struct MHD_Daemon *daemon;
        int port;                     /* immutable after start */
        pmw_http_ready_fn *ready;     /* immutable after start */
        pmw_http_metrics_fn *metrics; /* immutable after start */
        void *opaque;                 /* immutable after start; borrowed */
};

/* MHD's own messages (a client that broke the protocol, the connection
 * limit) are about clients, not the worker: DEBUG. */
static void PMW_PRINTF(2, 0) mhd_log(void *cls, const char *fmt, va_list ap) {
        (void)cls;
        if (!pmw_log_enabled(PMW_LOG_DEBUG))
                return;
        char line[512];
        vsnprintf(line, sizeof(line), fmt, ap);
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
        pmw_log(PMW_LOG_DEBUG, "httpd", "libmicrohttpd: %s", line);
}

/* Queues a response. body is taken (freed with free() by MHD). */
static enum MHD_Result respond(struct MHD_Connection *conn,
                               unsigned status,
                               const char *content_type,
                               char *body,
                               size_t len) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (r == NULL) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        /* Health answers are about now: no proxy may keep them. */
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result
respond_str(struct MHD_Connection *conn, unsigned status, const char *body) {
        return respond(conn, status, HTTP_CT_TEXT, pmw_strdup(body),
                       strlen(body));
}

static enum MHD_Result respond_buf(struct MHD_Connection *conn,
                                   unsigned status,
                                   const char *content_type,
                                   pmw_buf_t *buf) {
        size_t len;
        char *body = pmw_buf_take(buf, &len);
        return respond(conn, status, content_type, body, len);
}

static enum MHD_Result serve_ready(pmw_http_t *http,
                                   struct MHD_Connection *conn) {
        pmw_buf_t reason;
        pmw_buf_init(&reason, HTTP_READY_REASON_LIMIT);
        bool ready = http->ready(http->opaque, &reason);
        pmw_log_mask(&reason);
        pmw_buf_t body;
        pmw_buf_init(&body, 64 + 6 * HTTP_READY_REASON_MAX);
        if (ready) {
                pmw_buf_append_str(&body, "{\"ready\":true}\n");
        } else {
                const char *text = pmw_buf_ptr(&reason);
                size_t len       = pmw_buf_len(&reason);
                if (len > HTTP_READY_REASON_MAX)
                        len =
                            pmw_utf8_valid_prefix(text, HTTP_READY_REASON_MAX);
                if (len == 0) {
                        text = "not ready";
                        len  = strlen(text);
                }
                pmw_buf_append_str(&body, "{\"ready\":false,\"reason\":");
                pmw_buf_append_json_str(&body, text, len);
                pmw_buf_append_str(&body, "}\n");
        }
        pmw_buf_cleanup(&reason);
        enum MHD_Result ret = respond_buf(
            conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
            HTTP_CT_JSON, &body);
        pmw_buf_cleanup(&body);
        return ret;
}

static enum MHD_Result serve_metrics(pmw_http_t *http,
                                     struct MHD_Connection *conn) {
        pmw_buf_t out;
        pmw_buf_init(&out, HTTP_METRICS_MAX);
        http->metrics(http->opaque, &out);
        enum MHD_Result ret;
        if (pmw_buf_failed(&out)) {
                pmw_log(PMW_LOG_WARN, "httpd",
                        "GET /metrics: body exceeds %d bytes, answered 500",
                        HTTP_METRICS_MAX);
                ret = respond_str(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                  "metrics too large\n");
        } else {
                ret = respond_buf(conn, MHD_HTTP_OK, HTTP_CT_PROMETHEUS, &out);
        }
        pmw_buf_cleanup(&out);
        return ret;
}

/* The request body, if any, is never read: every answer is known from the
 * request line, and MHD closes a connection whose body was left unread. */
static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls) {
        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)con_cls;
        pmw_http_t *http = cls;
        enum { R_HEALTHZ, R_READY, R_METRICS } route;
        if (strcmp(url, "/healthz") == 0)
                route = R_HEALTHZ;
        else if (strcmp(url, "/ready") == 0)
                route = R_READY;
        else if (strcmp(url, "/metrics") == 0 && http->metrics)
                route = R_METRICS;
        else
                return respond_str(conn, MHD_HTTP_NOT_FOUND, "not found\n");

        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
            strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return respond_str(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                   "method not allowed\n");
        switch (route) {
        case R_HEALTHZ:
                return respond_str(conn, MHD_HTTP_OK, "ok\n");
        case R_READY:
                return serve_ready(http, conn);
        case R_METRICS:
                return serve_metrics(http, conn);
        }
        return MHD_NO;
}

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" into host (NULL for all
 * addresses; owned by the caller) and port. */
static pmw_error_t *
parse_listen(const char *listen, char **hostp, char port[8]) {
        *hostp            = NULL;
        const char *colon = strrchr(listen, ':');
        if (colon == NULL)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "http.listen \"%s\": expected HOST:PORT",
                                     listen);
        const char *p = colon + 1;
        size_t plen   = strlen(p);
        if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen ||
            strtol(p, NULL, 10) > 65535)
                return pmw_error_new(PMW_ERR_INVALID,
                                     "http.listen \"%s\": port \"%s\" is not "
                                     "0..65535",
                                     listen, p);
        memcpy(port, p, plen + 1);

        const char *h = listen;
        size_t hlen   = (size_t)(colon - listen);
        if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
                h++;
                hlen -= 2;
        } else if (hlen > 0 && (h[0] == '[' || h[hlen - 1] == ']')) {
                return pmw_error_new(PMW_ERR_INVALID,
                                     "http.listen \"%s\": unbalanced brackets "
                                     "around the host",
                                     listen);
        }
        if (hlen > 0)
                *hostp = pmw_strndup(h, hlen);
        return NULL;
}

/* Opens, binds and listens on one address. Returns the socket, or -1 with
 * *whatp naming the call that failed and errno set. */
static int open_listener(const struct addrinfo *ai, const char **whatp) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
                *whatp = "socket";
                return -1;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        int on = 1, off = 0;
        /* A restarted worker must not wait for old connections' TIME_WAIT. */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (ai->ai_family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
                                 sizeof(off));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                *whatp = "bind";
                goto fail;
        }
        if (listen(fd, HTTP_LISTEN_BACKLOG) != 0) {
                *whatp = "listen";
                goto fail;
        }
        return fd;
fail:;
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
}

static int bound_port(int fd) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
                return -1;
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

pmw_error_t *pmw_http_start(const pmw_http_opts_t *opts, pmw_http_t **httpp) {
        *httpp              = NULL;
        pmw_error_t *err    = NULL;
        char *host          = NULL;
        struct addrinfo *ai = NULL;
        pmw_http_t *http    = NULL;
        int fd              = -1;
        char port[8];

        err = parse_listen(opts->listen, &host, port);
        if (err)
                goto out;
        struct addrinfo hints = {.ai_family   = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags    = AI_PASSIVE | AI_NUMERICSERV};
        int rc                = getaddrinfo(host, port, &hints, &ai);
        if (rc != 0) {
                err = pmw_error_new(
                    PMW_ERR_INVALID, "http.listen \"%s\": %s", opts->listen,
                    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
                goto out;
        }
        const char *what = "bind";
        int saved_errno  = 0;
        for (const struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
                fd = open_listener(a, &what);
                if (fd >= 0)
                        break;
                saved_errno                = errno;
                char num[INET6_ADDRSTRLEN] = "?";
                (void)getnameinfo(a->ai_addr, a->ai_addrlen, num, sizeof(num),
                                  NULL, 0, NI_NUMERICHOST);
                pmw_error_destroy(err);
                err = pmw_error_new(PMW_ERR_IO, "http.listen \"%s\": %s %s: %s",
                                    opts->listen, what, num,
                                    strerror(saved_errno));
        }
        if (fd < 0)
                goto out;
        pmw_error_destroy(err);
        err = NULL;

        http          = pmw_calloc(1, sizeof(*http));
        http->ready   = opts->ready;
        http->metrics = opts->metrics;
        http->opaque  = opts->opaque;
        http->port    = bound_port(fd);
        /* One internal thread (epoll or poll) serves every connection. */
        http->daemon = MHD_start_daemon(
            MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
            on_request, http, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
            HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
            HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            HTTP_CONN_MEMORY, MHD_OPTION_END);
        if (http->daemon == NULL) {
                /* The socket is not closed here: on some of its failure
                 * paths MHD has closed it already, and closing a number
                 * another thread may have reused is worse than leaking one
                 * descriptor on a failure the worker exits on. */
                err = pmw_error_new(PMW_ERR_IO,
                                    "http.listen \"%s\": cannot start the "
                                    "HTTP server thread",
                                    opts->listen);
                goto out;
        }
        *httpp = http;
        http   = NULL;
out:
        free(http);
        if (ai)
                freeaddrinfo(ai);
        free(host);
        return err;
}

int pmw_http_port(const pmw_http_t *http) {
        return http->port;
}

void pmw_http_stop(pmw_http_t *http) {
        if (http == NULL)
                return;
        /* Joins the thread and closes the listening socket we handed it. */
        MHD_stop_daemon(http->daemon);
        free(http);
}
