/*
 * worker/pool.c: the threads of a postmark-worker process.
 *
 * DESIGN
 *
 * - The main thread owns everything below, handles SIGTERM and SIGINT
 *   (every other thread blocks them: they are blocked here before any
 *   thread, librdkafka's included, is created), and starts and stops the
 *   others. It does no work of its own.
 * - workers.threads pipeline threads (worker/pipeline.c), each with its own
 *   Kafka consumer in the group, curl multi handle, batches and jobs. They
 *   share the configuration (read-only), the server table with tokens and
 *   hold state (worker/servers.c, one mutex), and the publisher.
 * - The publisher's thread (worker/publisher.c) serves the status
 *   producer's delivery reports and hands acknowledged jobs back to their
 *   pipelines (each pipeline's acked list, under its lock, plus a wakeup).
 * - libmicrohttpd's thread answers /healthz and /ready (worker/http.c) from
 *   atomic flags and the server table.
 * - librdkafka's own threads, and with kafka.brokers = "embedded" the mock
 *   cluster's (worker/embedded.c).
 *
 * Shutdown: a signal stops every pipeline; each drains (stops consuming,
 * sends what it holds, waits for results and acknowledgements, commits)
 * within workers.shutdown_timeout_ms and closes its consumer. Then the
 * publisher gets what is left of that time for its last records, and
 * everything is freed in reverse order.
 */
#include "worker/pool.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/postmark_client.h"
#include "worker/embedded.h"
#include "worker/http.h"
#include "worker/metrics.h"
#include "worker/pipeline.h"
#include "worker/publisher.h"
#include "worker/servers.h"

/* Partitions of each topic of the embedded cluster: enough for several
 * threads or replicas, and for the mock's ~5 MB per partition retention. */
#define EMBEDDED_PARTITIONS 16

typedef struct worker_s {
        pmw_pipeline_t *pipeline;
        pthread_t thread;
        bool started;
        pmw_error_t *err;     /* set by the thread when it returns */
        atomic_bool finished; /* the thread returned */
} worker_t;

typedef struct pool_s {
        const pmw_config_t *cfg;
        pmw_embedded_t *embedded;
        pmw_servers_t *servers;
        pmw_publisher_t *pub;
        worker_t *workers;
        size_t worker_cnt;
        pmw_http_t *http;
        atomic_long slots; /* postmark.max_in_flight, shared */
        pmw_pipeline_memory_t mem;
        pmw_metrics_t metrics;
        const char **server_names;
} pool_t;

static void *worker_main(void *opaque) {
        worker_t *w = opaque;
        w->err      = pmw_pipeline_run(w->pipeline);
        atomic_store(&w->finished, true);
        /* Wake the main thread: a pipeline that stops on its own (a fatal
         * error) stops the process. */
        kill(getpid(), SIGUSR1);
        return NULL;
}

/* /ready (CONTRACT 5): every pipeline joined and reaches Kafka, and no
 * server is on hold. Runs in libmicrohttpd's thread. */
static bool ready_cb(void *opaque, pmw_buf_t *reason) {
        pool_t *pool = opaque;
        bool ready   = true;
        for (size_t i = 0; i < pool->worker_cnt && ready; i++)
                ready = pmw_pipeline_ready(pool->workers[i].pipeline, reason);
        if (ready && pmw_servers_held_count(pool->servers)) {
                pmw_servers_describe_holds(pool->servers, reason);
                ready = false;
        }
        return ready;
}

/* Gauges for /metrics, read from their owners. Runs in libmicrohttpd's
 * thread. */
static void gauges_cb(void *opaque, pmw_metrics_gauges_t *g) {
        pool_t *pool = opaque;
        int64_t lag  = 0;
        bool known   = true;
        for (size_t i = 0; i < pool->worker_cnt; i++) {
                int64_t l = pmw_pipeline_lag(pool->workers[i].pipeline);
                if (l < 0)
                        known = false;
                else
                        lag += l;
                g->jobs_in_memory +=
                    (int64_t)pmw_pipeline_jobs(pool->workers[i].pipeline);
        }
        g->consumer_lag = known ? lag : -1;
        g->status_queue = pmw_publisher_outstanding(pool->pub);
        for (size_t s = 0; s < pool->metrics.server_cnt; s++)
                g->held[s] = pmw_servers_is_held(pool->servers, (int)s);
        pmw_buf_t reason;
        pmw_buf_init(&reason, 4096);
        g->ready = ready_cb(pool, &reason);
        pmw_buf_cleanup(&reason);
}

static void metrics_cb(void *opaque, pmw_buf_t *out) {
        pool_t *pool = opaque;
        pmw_metrics_render(&pool->metrics, out);
}

static pmw_error_t *start(pool_t *pool, const char **bootstrapp) {
        const pmw_config_t *cfg = pool->cfg;
        const char *brokers     = cfg->kafka.brokers;
        bool embedded           = pmw_config_brokers_embedded(brokers);
        pmw_error_t *err        = NULL;

        *bootstrapp = brokers;
        if (embedded) {
                const char *topics[] = {cfg->kafka.jobs_topic,
                                        cfg->kafka.status_topic,
                                        cfg->kafka.dead_letter_topic};
                err = pmw_embedded_start(brokers, topics, PMW_ARRAY_LEN(topics),
                                         EMBEDDED_PARTITIONS, &pool->embedded);
                if (err)
                        return err;
                *bootstrapp = pmw_embedded_bootstrap(pool->embedded);
                pmw_log(PMW_LOG_NOTICE, "kafka",
                        "embedded Kafka (librdkafka's mock cluster) at %s; "
                        "topics %s, %s, %s with %d partitions each; produce "
                        "jobs to it with bootstrap.servers=%s",
                        *bootstrapp, cfg->kafka.jobs_topic,
                        cfg->kafka.status_topic, cfg->kafka.dead_letter_topic,
                        EMBEDDED_PARTITIONS, *bootstrapp);
        }

        uint64_t seed =
            (uint64_t)pmw_clock_wall_ms() ^ ((uint64_t)getpid() << 32);
        pool->servers      = pmw_servers_new(cfg, seed);
        pool->server_names = pmw_calloc(cfg->postmark.server_cnt + 1,
                                        sizeof(*pool->server_names));
        for (size_t i = 0; i < cfg->postmark.server_cnt; i++)
                pool->server_names[i] = cfg->postmark.servers[i].name;
        pmw_metrics_init(&pool->metrics, pool->server_names,
                         cfg->postmark.server_cnt, gauges_cb, pool);
        err = pmw_publisher_new(cfg, *bootstrapp, pmw_pipeline_acked,
                                &pool->metrics, &pool->pub);
        if (err)
                return err;

        pool->worker_cnt = (size_t)cfg->workers.threads;
        pool->workers    = pmw_calloc(pool->worker_cnt, sizeof(*pool->workers));
        for (size_t i = 0; i < pool->worker_cnt; i++) {
                pmw_pipeline_opts_t opts = {.cfg       = cfg,
                                            .bootstrap = *bootstrapp,
                                            .pub       = pool->pub,
                                            .servers   = pool->servers,
                                            .slots     = &pool->slots,
                                            .mem       = &pool->mem,
                                            .metrics   = &pool->metrics,
                                            .id        = (int)i,
                                            .seed      = seed + i + 1};
                err = pmw_pipeline_new(&opts, &pool->workers[i].pipeline);
                if (err)
                        return err;
        }

        if (*cfg->http.listen) {
                pmw_http_opts_t hopts = {.listen  = cfg->http.listen,
                                         .ready   = ready_cb,
                                         .metrics = metrics_cb,
                                         .opaque  = pool};
                err                   = pmw_http_start(&hopts, &pool->http);
                if (err)
                        return err;
                pmw_log(PMW_LOG_NOTICE, "http",
                        "health endpoint on %s (port %d): /healthz, /ready, "
                        "/metrics",
                        cfg->http.listen, pmw_http_port(pool->http));
        }

        for (size_t i = 0; i < pool->worker_cnt; i++) {
                worker_t *w = &pool->workers[i];
                int rc      = pthread_create(&w->thread, NULL, worker_main, w);
                if (rc)
                        return pmw_error_new(
                            PMW_ERR_STATE, "pthread_create: %s", strerror(rc));
                w->started = true;
        }
        return NULL;
}

/* Waits for SIGTERM or SIGINT, or for a pipeline to stop on its own. */
static void wait_for_stop(pool_t *pool, const sigset_t *set) {
        for (;;) {
                int sig = 0;
                if (sigwait(set, &sig) != 0)
                        continue;
                if (sig == SIGTERM || sig == SIGINT) {
                        pmw_log(PMW_LOG_NOTICE, "worker",
                                "%s: stopping; draining for up to %" PRId64
                                " ms",
                                sig == SIGTERM ? "SIGTERM" : "SIGINT",
                                pool->cfg->workers.shutdown_timeout_ms);
                        return;
                }
                for (size_t i = 0; i < pool->worker_cnt; i++)
                        if (atomic_load(&pool->workers[i].finished))
                                return;
        }
}

pmw_error_t *pmw_pool_run(const pmw_config_t *cfg) {
        pool_t pool = {.cfg = cfg};
        atomic_store(&pool.slots, (long)cfg->postmark.max_in_flight);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGUSR1);
        /* Before any thread exists, so all of them inherit the mask. */
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        const char *bootstrap;
        pmw_error_t *err = pmw_client_global_init();
        if (!err)
                err = start(&pool, &bootstrap);
        if (!err) {
                pmw_log(PMW_LOG_NOTICE, "worker",
                        "postmark-worker %s running: %zu pipeline thread%s, "
                        "Kafka %s, Postmark %s",
                        PMW_VERSION, pool.worker_cnt,
                        pool.worker_cnt == 1 ? "" : "s", bootstrap,
                        cfg->postmark.base_url);
                wait_for_stop(&pool, &set);
        }

        /* Drain: every pipeline at once, each within the timeout. */
        int64_t stop_us = pmw_clock_mono_us();
        for (size_t i = 0; i < pool.worker_cnt; i++)
                if (pool.workers[i].pipeline)
                        pmw_pipeline_stop(pool.workers[i].pipeline);
        size_t left_open = 0;
        for (size_t i = 0; i < pool.worker_cnt; i++) {
                worker_t *w = &pool.workers[i];
                if (w->started)
                        pthread_join(w->thread, NULL);
                if (w->err && !err)
                        err = w->err;
                else
                        pmw_error_destroy(w->err);
                if (w->pipeline)
                        left_open += pmw_pipeline_left_open(w->pipeline);
        }
        pmw_http_stop(pool.http);

        if (pool.pub) {
                int64_t spent_ms = (pmw_clock_mono_us() - stop_us) / 1000;
                int64_t left_ms  = cfg->workers.shutdown_timeout_ms - spent_ms;
                int given_up     = pmw_publisher_close(
                        pool.pub, (int)PMW_MAX(left_ms, (int64_t)1000));
                if (given_up)
                        pmw_log(PMW_LOG_WARN, "worker",
                                "%d status or dead-letter records were not "
                                "acknowledged in time; their jobs stay "
                                "uncommitted",
                                given_up);
        }
        for (size_t i = 0; i < pool.worker_cnt; i++)
                pmw_pipeline_destroy(pool.workers[i].pipeline);
        free(pool.workers);
        free(pool.server_names);
        pmw_publisher_destroy(pool.pub);
        pmw_servers_destroy(pool.servers);
        pmw_embedded_stop(pool.embedded);
        pmw_client_global_cleanup();

        pmw_log(PMW_LOG_NOTICE, "worker",
                "stopped%s; %zu jobs left uncommitted for the next owner",
                err ? " on a fatal error" : "", left_open);
        return err;
}
