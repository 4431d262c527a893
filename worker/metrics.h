/*
 * worker/metrics.h: the worker's Prometheus metrics (CONTRACT 5).
 *
 * A fixed set of counters, gauges and histograms, updated with relaxed
 * atomics by the pipelines and the publisher (no lock on the hot path) and
 * rendered in the Prometheus text format for GET /metrics:
 *
 *   postmark_worker_jobs_total{status}                 counter
 *   postmark_worker_requests_total{endpoint,code}      counter (code: HTTP
 *                                                      status or "error")
 *   postmark_worker_retries_total                      counter
 *   postmark_worker_inflight_requests                  gauge
 *   postmark_worker_batch_messages                     histogram
 *   postmark_worker_request_duration_seconds           histogram
 *   postmark_worker_consumer_lag                       gauge
 *   postmark_worker_hold{server}                       gauge
 * and what an operator alerts on:
 *   postmark_worker_dead_letters_total                 counter
 *   postmark_worker_splits_total                       counter
 *   postmark_worker_rate_limit_waits_total{server}     counter
 *   postmark_worker_rate_limit_throttled_total{server} counter (429s)
 *   postmark_worker_status_queue_records               gauge
 *   postmark_worker_commit_failures_total              counter
 *   postmark_worker_publish_failures_total             counter
 *   postmark_worker_jobs_in_memory                     gauge
 *   postmark_worker_ready                              gauge (0/1)
 *
 * Gauges that belong to other modules (lag, holds, queue depth, jobs in
 * memory, readiness) are read through a callback when /metrics is served.
 *
 * Ownership: the process owns one pmw_metrics_t; modules borrow it.
 * Thread safety: every update may come from any thread.
 */
#ifndef PMW_WORKER_METRICS_H
#define PMW_WORKER_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/postmark_message.h"
#include "worker/job.h"

#define PMW_METRICS_MAX_SERVERS      256
#define PMW_METRICS_BATCH_BUCKETS    8
#define PMW_METRICS_DURATION_BUCKETS 12

typedef struct pmw_histogram_s {
        const double *bounds; /* upper bounds, ascending */
        size_t bound_cnt;
        atomic_uint_fast64_t counts[16]; /* per bound, plus +Inf */
        atomic_uint_fast64_t sum_micro;  /* sum, in millionths */
        atomic_uint_fast64_t count;
} pmw_histogram_t;

/* Values read from their owners when /metrics is served. */
typedef struct pmw_metrics_gauges_s {
        int64_t consumer_lag; /* -1: unknown yet */
        int64_t status_queue; /* status producer's queued records */
        int64_t jobs_in_memory;
        bool ready;
        bool held[PMW_METRICS_MAX_SERVERS];
} pmw_metrics_gauges_t;

typedef void(pmw_metrics_gauges_fn)(void *opaque, pmw_metrics_gauges_t *g);

typedef struct pmw_metrics_s {
        atomic_uint_fast64_t jobs[5]; /* by pmw_status_t */
        /* [endpoint][code]: code 0..599, 600 = "error" (no HTTP answer) */
        atomic_uint_fast64_t requests[2][601];
        atomic_uint_fast64_t retries;
        atomic_int_fast64_t inflight;
        pmw_histogram_t batch_messages;
        pmw_histogram_t request_duration;
        atomic_uint_fast64_t dead_letters;
        atomic_uint_fast64_t splits;
        atomic_uint_fast64_t rate_waits[PMW_METRICS_MAX_SERVERS];
        atomic_uint_fast64_t throttled[PMW_METRICS_MAX_SERVERS];
        atomic_uint_fast64_t commit_failures;
        atomic_uint_fast64_t publish_failures;

        /* Immutable after pmw_metrics_init(). */
        const char *const *server_names;
        size_t server_cnt;
        pmw_metrics_gauges_fn *gauges;
        void *gauges_opaque;
} pmw_metrics_t;

/**
 * @param server_names borrows: configured server names (outlive metrics).
 * @param gauges called when rendering, from the HTTP thread.
 */
void pmw_metrics_init(pmw_metrics_t *m,
                      const char *const *server_names,
                      size_t server_cnt,
                      pmw_metrics_gauges_fn *gauges,
                      void *opaque);

void pmw_metrics_job(pmw_metrics_t *m, pmw_status_t status);

/**
 * @brief Records a request's completion.
 * @param http_status 0 when no HTTP answer came (counted as "error").
 */
void pmw_metrics_request(pmw_metrics_t *m,
                         pmw_endpoint_t endpoint,
                         int http_status,
                         size_t messages,
                         int64_t duration_us);

void pmw_metrics_add(atomic_uint_fast64_t *counter, uint64_t n);

/** @brief Appends the Prometheus text exposition (version 0.0.4). */
void pmw_metrics_render(pmw_metrics_t *m, pmw_buf_t *out);

#endif /* PMW_WORKER_METRICS_H */
