/*
 * worker/metrics.c: see metrics.h.
 */
#include "worker/metrics.h"

#include <math.h>
#include <string.h>

static const double batch_bounds[PMW_METRICS_BATCH_BUCKETS] = {
    1, 10, 50, 100, 200, 300, 400, 500};
static const double duration_bounds[PMW_METRICS_DURATION_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

_Static_assert(PMW_METRICS_DURATION_BUCKETS < 16, "histogram size");

static void
histogram_init(pmw_histogram_t *h, const double *bounds, size_t cnt) {
        memset(h, 0, sizeof(*h));
        h->bounds    = bounds;
        h->bound_cnt = cnt;
}

void pmw_metrics_init(pmw_metrics_t *m,
                      const char *const *server_names,
                      size_t server_cnt,
                      pmw_metrics_gauges_fn *gauges,
                      void *opaque) {
        memset(m, 0, sizeof(*m));
        histogram_init(&m->batch_messages, batch_bounds,
                       PMW_METRICS_BATCH_BUCKETS);
        histogram_init(&m->request_duration, duration_bounds,
                       PMW_METRICS_DURATION_BUCKETS);
        m->server_names  = server_names;
        m->server_cnt    = server_cnt < PMW_METRICS_MAX_SERVERS
                               ? server_cnt
                               : PMW_METRICS_MAX_SERVERS;
        m->gauges        = gauges;
        m->gauges_opaque = opaque;
}

void pmw_metrics_add(atomic_uint_fast64_t *counter, uint64_t n) {
        atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

void pmw_metrics_job(pmw_metrics_t *m, pmw_status_t status) {
        pmw_metrics_add(&m->jobs[status], 1);
        if (pmw_status_is_dead_letter(status))
                pmw_metrics_add(&m->dead_letters, 1);
}

static void histogram_observe(pmw_histogram_t *h, double value) {
        size_t i = 0;
        while (i < h->bound_cnt && value > h->bounds[i])
                i++;
        pmw_metrics_add(&h->counts[i], 1);
        pmw_metrics_add(&h->count, 1);
        if (value > 0)
                pmw_metrics_add(&h->sum_micro, (uint64_t)llround(value * 1e6));
}

void pmw_metrics_request(pmw_metrics_t *m,
                         pmw_endpoint_t endpoint,
                         int http_status,
                         size_t messages,
                         int64_t duration_us) {
        int code = http_status > 0 && http_status < 600 ? http_status : 600;
        pmw_metrics_add(&m->requests[endpoint][code], 1);
        histogram_observe(&m->batch_messages, (double)messages);
        histogram_observe(&m->request_duration, (double)duration_us / 1e6);
}

static uint64_t load(const atomic_uint_fast64_t *v) {
        return atomic_load_explicit(v, memory_order_relaxed);
}

static void
help(pmw_buf_t *out, const char *name, const char *type, const char *text) {
        pmw_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, text, name,
                        type);
}

/* Prometheus label values are quoted with \\, \" and \n escaped. */
static void label_value(pmw_buf_t *out, const char *s) {
        pmw_buf_append_char(out, '"');
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        pmw_buf_append_char(out, '\\');
                if (*s == '\n') {
                        pmw_buf_append_str(out, "\\n");
                        continue;
                }
                pmw_buf_append_char(out, *s);
        }
        pmw_buf_append_char(out, '"');
}

static void render_histogram(pmw_buf_t *out,
                             const char *name,
                             const char *text,
                             const pmw_histogram_t *h) {
        help(out, name, "histogram", text);
        uint64_t cum = 0;
        for (size_t i = 0; i <= h->bound_cnt; i++) {
                cum += load(&h->counts[i]);
                if (i < h->bound_cnt)
                        pmw_buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n",
                                        name, h->bounds[i],
                                        (unsigned long long)cum);
                else
                        pmw_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n",
                                        name, (unsigned long long)cum);
        }
        pmw_buf_appendf(out, "%s_sum %.6f\n%s_count %llu\n", name,
                        (double)load(&h->sum_micro) / 1e6, name,
                        (unsigned long long)load(&h->count));
}

static void render_per_server(pmw_buf_t *out,
                              const pmw_metrics_t *m,
                              const char *name,
                              const char *type,
                              const char *text,
                              const atomic_uint_fast64_t *values,
                              const bool *flags) {
        help(out, name, type, text);
        for (size_t i = 0; i < m->server_cnt; i++) {
                pmw_buf_appendf(out, "%s{server=", name);
                label_value(out, m->server_names[i]);
                pmw_buf_appendf(out, "} %llu\n",
                                flags ? (unsigned long long)flags[i]
                                      : (unsigned long long)load(&values[i]));
        }
}

void pmw_metrics_render(pmw_metrics_t *m, pmw_buf_t *out) {
        static const char *const statuses[] = {
            [PMW_STATUS_SENT]     = "sent",
            [PMW_STATUS_FAILED]   = "failed",
            [PMW_STATUS_REJECTED] = "rejected",
            [PMW_STATUS_EXPIRED]  = "expired"};
        pmw_metrics_gauges_t g;
        memset(&g, 0, sizeof(g));
        g.consumer_lag = -1;
        if (m->gauges)
                m->gauges(m->gauges_opaque, &g);

        help(out, "postmark_worker_jobs_total", "counter",
             "Jobs that reached a final status.");
        for (int s = PMW_STATUS_SENT; s <= PMW_STATUS_EXPIRED; s++)
                pmw_buf_appendf(out,
                                "postmark_worker_jobs_total{status=\"%s\"} "
                                "%llu\n",
                                statuses[s],
                                (unsigned long long)load(&m->jobs[s]));

        help(out, "postmark_worker_requests_total", "counter",
             "Requests to Postmark by endpoint and HTTP status (error: no "
             "HTTP answer).");
        for (int e = 0; e < 2; e++) {
                for (int c = 0; c <= 600; c++) {
                        uint64_t v = load(&m->requests[e][c]);
                        if (!v)
                                continue;
                        pmw_buf_appendf(out,
                                        "postmark_worker_requests_total{"
                                        "endpoint=\"%s\",code=\"",
                                        pmw_endpoint_path((pmw_endpoint_t)e));
                        if (c == 600)
                                pmw_buf_append_str(out, "error");
                        else
                                pmw_buf_append_int(out, c);
                        pmw_buf_appendf(out, "\"} %llu\n",
                                        (unsigned long long)v);
                }
        }

        help(out, "postmark_worker_retries_total", "counter",
             "Jobs sent again after a whole-request failure or a transient "
             "per-message answer.");
        pmw_buf_appendf(out, "postmark_worker_retries_total %llu\n",
                        (unsigned long long)load(&m->retries));

        help(out, "postmark_worker_inflight_requests", "gauge",
             "Requests to Postmark in flight.");
        pmw_buf_appendf(out, "postmark_worker_inflight_requests %lld\n",
                        (long long)atomic_load(&m->inflight));

        render_histogram(out, "postmark_worker_batch_messages",
                         "Messages per request.", &m->batch_messages);
        render_histogram(out, "postmark_worker_request_duration_seconds",
                         "Time from sending a request to its answer.",
                         &m->request_duration);

        help(out, "postmark_worker_consumer_lag", "gauge",
             "Jobs behind the end of the jobs topic, summed over assigned "
             "partitions (-1 until known).");
        pmw_buf_appendf(out, "postmark_worker_consumer_lag %lld\n",
                        (long long)g.consumer_lag);

        render_per_server(out, m, "postmark_worker_hold", "gauge",
                          "1 while the server is on hold.", NULL, g.held);

        help(out, "postmark_worker_dead_letters_total", "counter",
             "Dead-letter records written (failed, rejected, expired).");
        pmw_buf_appendf(out, "postmark_worker_dead_letters_total %llu\n",
                        (unsigned long long)load(&m->dead_letters));
        help(out, "postmark_worker_splits_total", "counter",
             "Requests split in halves after a content rejection.");
        pmw_buf_appendf(out, "postmark_worker_splits_total %llu\n",
                        (unsigned long long)load(&m->splits));
        render_per_server(out, m, "postmark_worker_rate_limit_waits_total",
                          "counter",
                          "Batches that waited for the server's rate limit.",
                          m->rate_waits, NULL);
        render_per_server(out, m, "postmark_worker_rate_limit_throttled_total",
                          "counter", "429 answers from Postmark.", m->throttled,
                          NULL);
        help(out, "postmark_worker_status_queue_records", "gauge",
             "Status and dead-letter records not yet acknowledged by Kafka.");
        pmw_buf_appendf(out, "postmark_worker_status_queue_records %lld\n",
                        (long long)g.status_queue);
        help(out, "postmark_worker_commit_failures_total", "counter",
             "Offset commits that failed.");
        pmw_buf_appendf(out, "postmark_worker_commit_failures_total %llu\n",
                        (unsigned long long)load(&m->commit_failures));
        help(out, "postmark_worker_publish_failures_total", "counter",
             "Status or dead-letter records Kafka did not acknowledge "
             "(produced again).");
        pmw_buf_appendf(out, "postmark_worker_publish_failures_total %llu\n",
                        (unsigned long long)load(&m->publish_failures));
        help(out, "postmark_worker_jobs_in_memory", "gauge",
             "Jobs read and not yet committed.");
        pmw_buf_appendf(out, "postmark_worker_jobs_in_memory %lld\n",
                        (long long)g.jobs_in_memory);
        help(out, "postmark_worker_ready", "gauge",
             "1 when /ready answers 200.");
        pmw_buf_appendf(out, "postmark_worker_ready %d\n", g.ready ? 1 : 0);
}
