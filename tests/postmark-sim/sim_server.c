/*
 * tests/postmark-sim/sim_server.c: see sim_server.h.
 */
#include "tests/postmark-sim/sim_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/mem.h"

struct pmw_sim_server_s {
        struct MHD_Daemon *daemon;
        pmw_sim_t *sim; /* borrowed */
        pthread_mutex_t lock;
        pthread_cond_t wake; /* signalled on stop */
        bool stopping;       /* protected by lock */
};

/* Per request (MHD's *con_cls). */
typedef struct req_ctx_s {
        pmw_sim_endpoint_t ep;
        size_t limit;
        bool keep_body;
        bool too_large;
        size_t total;
        pmw_buf_t body;
} req_ctx_t;

typedef struct args_s {
        const char **kv;
        size_t n; /* pairs */
        size_t cap;
} args_t;

static enum MHD_Result collect_arg(void *cls,
                                   enum MHD_ValueKind kind,
                                   const char *key,
                                   const char *value) {
        (void)kind;
        args_t *a = cls;
        if (a->n == a->cap) {
                a->cap = a->cap ? a->cap * 2 : 8;
                a->kv  = pmw_realloc(a->kv, 2 * a->cap * sizeof(*a->kv));
        }
        a->kv[2 * a->n]     = key;
        a->kv[2 * a->n + 1] = value;
        a->n++;
        return MHD_YES;
}

/* Sleeps ms, or less if the server stops. */
static void wait_ms(pmw_sim_server_t *server, int ms) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += ms / 1000;
        deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&server->lock);
        while (!server->stopping) {
                if (pthread_cond_timedwait(&server->wake, &server->lock,
                                           &deadline) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&server->lock);
}

static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **con_cls) {
        (void)version;
        pmw_sim_server_t *server = cls;
        req_ctx_t *ctx           = *con_cls;

        if (ctx == NULL) {
                ctx            = pmw_calloc(1, sizeof(*ctx));
                ctx->ep        = pmw_sim_route(url);
                ctx->limit     = pmw_sim_body_limit(ctx->ep);
                ctx->keep_body = ctx->ep != PMW_SIM_EP_UNKNOWN &&
                                 strcmp(method, "POST") == 0;
                pmw_buf_init(&ctx->body, ctx->limit);
                const char *cl = MHD_lookup_connection_value(
                    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (ctx->keep_body && cl) {
                        unsigned long long n = strtoull(cl, NULL, 10);
                        if (n <= ctx->limit)
                                pmw_buf_reserve(&ctx->body, (size_t)n);
                }
                *con_cls = ctx;
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;
                ctx->total += n;
                if (ctx->keep_body && !ctx->too_large) {
                        if (ctx->total > ctx->limit) {
                                /* Discard the rest: a 413 must not cost
                                 * the whole body in memory. */
                                ctx->too_large = true;
                                pmw_buf_cleanup(&ctx->body);
                                pmw_buf_init(&ctx->body, 0);
                        } else
                                pmw_buf_append(&ctx->body, upload_data, n);
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        args_t args = {0};
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg,
                                  &args);
        pmw_sim_request_t req = {
            .method       = method,
            .path         = url,
            .accept       = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_ACCEPT),
            .content_type = MHD_lookup_connection_value(
                conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
            .token          = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                          "X-Postmark-Server-Token"),
            .args           = args.kv,
            .n_args         = args.n,
            .body           = pmw_buf_ptr(&ctx->body),
            .body_len       = pmw_buf_len(&ctx->body),
            .body_total     = ctx->total,
            .body_too_large = ctx->too_large,
        };
        pmw_sim_response_t resp;
        pmw_sim_handle(server->sim, &req, &resp);
        free(args.kv);
        /* The body is no longer needed while we wait. */
        pmw_buf_cleanup(&ctx->body);
        pmw_buf_init(&ctx->body, 0);

        if (resp.delay_ms > 0)
                wait_ms(server, resp.delay_ms);
        if (resp.status == 0) {
                /* Drop: MHD closes the socket without a response. */
                pmw_buf_cleanup(&resp.body);
                return MHD_NO;
        }
        size_t len;
        char *body = pmw_buf_take(&resp.body, &len);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (r == NULL) {
                free(body);
                return MHD_NO;
        }
        if (len > 0)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        resp.content_type);
        if (resp.retry_after >= 0) {
                char v[16];
                snprintf(v, sizeof(v), "%d", resp.retry_after);
                MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
        }
        enum MHD_Result ret =
            MHD_queue_response(conn, (unsigned)resp.status, r);
        MHD_destroy_response(r);
        pmw_buf_cleanup(&resp.body);
        return ret;
}

static void on_completed(void *cls,
                         struct MHD_Connection *conn,
                         void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        (void)cls;
        (void)conn;
        (void)toe;
        req_ctx_t *ctx = *con_cls;
        if (ctx == NULL)
                return;
        pmw_buf_cleanup(&ctx->body);
        free(ctx);
        *con_cls = NULL;
}

pmw_error_t *pmw_sim_server_start(pmw_sim_t *sim,
                                  const char *listen,
                                  pmw_sim_server_t **serverp,
                                  char *bound,
                                  size_t bound_size) {
        *serverp          = NULL;
        const char *colon = strrchr(listen, ':');
        if (colon == NULL || colon[1] == '\0')
                return pmw_error_new(PMW_ERR_INVALID,
                                     "--listen %s: expected HOST:PORT", listen);
        char *host       = pmw_strndup(listen, (size_t)(colon - listen));
        const char *port = colon + 1;
        char *h          = host;
        size_t hlen      = strlen(h);
        if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
                h[hlen - 1] = '\0';
                h++;
        }
        struct addrinfo hints = {.ai_family   = AF_UNSPEC,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags    = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *ai   = NULL;
        int rc                = getaddrinfo(*h ? h : NULL, port, &hints, &ai);
        if (rc != 0) {
                pmw_error_t *err =
                    pmw_error_new(PMW_ERR_INVALID, "--listen %s: %s", listen,
                                  gai_strerror(rc));
                free(host);
                return err;
        }

        pmw_sim_server_t *server = pmw_calloc(1, sizeof(*server));
        server->sim              = sim;
        pthread_mutex_init(&server->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&server->wake, &ca);
        pthread_condattr_destroy(&ca);

        unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                         MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
        if (ai->ai_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        uint16_t want_port =
            ai->ai_family == AF_INET6
                ? ntohs(((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_port)
                : ntohs(((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port);
        server->daemon = MHD_start_daemon(
            flags, want_port, NULL, NULL, on_request, server,
            MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)2048, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)(256 * 1024), MHD_OPTION_LISTEN_BACKLOG_SIZE,
            (unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
            MHD_OPTION_END);
        int saved_errno = errno;
        freeaddrinfo(ai);
        if (server->daemon == NULL) {
                pmw_error_t *err =
                    pmw_error_new(PMW_ERR_IO, "--listen %s: cannot listen: %s",
                                  listen, strerror(saved_errno));
                free(host);
                pmw_sim_server_stop(server);
                return err;
        }
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
        /* The host as given ("[::1]" keeps its brackets). */
        snprintf(bound, bound_size, "%.*s:%u", (int)(colon - listen), listen,
                 info ? (unsigned)info->port : (unsigned)want_port);
        free(host);
        *serverp = server;
        return NULL;
}

void pmw_sim_server_stop(pmw_sim_server_t *server) {
        if (server == NULL)
                return;
        pthread_mutex_lock(&server->lock);
        server->stopping = true;
        pthread_cond_broadcast(&server->wake);
        pthread_mutex_unlock(&server->lock);
        if (server->daemon)
                MHD_stop_daemon(server->daemon);
        pthread_cond_destroy(&server->wake);
        pthread_mutex_destroy(&server->lock);
        free(server);
}
