/*
 * worker/pipeline.c: see pipeline.h.
 *
 * Where a job is, at any moment, is exactly one of:
 *   - an open batch in the batcher (waiting for size, bytes or linger),
 *   - p->ready (closed, to be sent in order as request slots free up),
 *   - p->waiting (backoff after a whole-request failure),
 *   - p->held[server] (its server is on hold),
 *   - a batch in flight (owned by the client's request until on_done()),
 *   - the publisher (final; until its records are acknowledged),
 *   - p->acked (acknowledged, handed back by the publisher's thread).
 * p->jobs counts all of them; each leaves through forget_job().
 *
 * Partitions carry a generation, bumped on every assignment change. A job
 * remembers the generation it was read in; a job whose partition was
 * revoked (or re-assigned) since is "stale": it is dropped wherever it
 * turns up, without a status record and without touching the tracker, so
 * the partition's next owner is the only one to finish it.
 */
#include "worker/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/postmark_client.h"
#include "worker/batch.h"
#include "worker/kafka_conf.h"
#include "worker/tracker.h"

/* Records taken from the consumer per loop turn: enough to fill batches,
 * few enough that results and timers are served promptly. */
#define CONSUME_BUDGET 2000
/* How often an unreachable Kafka is asked for metadata. */
#define REACH_CHECK_US (2 * 1000000)
/* Under memory backpressure the consumer is still polled this often, so
 * rebalances are served (max.poll.interval.ms is 300 s). */
#define BACKPRESSURE_POLL_US (500 * 1000)
/* How often the consumer lag is computed for /metrics. */
#define LAG_INTERVAL_US (1000 * 1000)
/* Stored offsets are committed at most this often (asynchronously). After
 * a crash, jobs finished since the last commit are processed again
 * (CONTRACT 3.2 allows that only for jobs "in flight"), so librdkafka's 5 s
 * auto-commit interval is far too long; one commit request per 100 ms per
 * consumer costs Kafka nothing. */
#define COMMIT_INTERVAL_US (100 * 1000)
/* Bounds of how long the consumer queue stays empty, while Kafka holds
 * records for the partitions, before the fetcher is woken (wake_fetcher). */
#define FETCH_STALL_MIN_US (20 * 1000)
#define FETCH_STALL_MAX_US (1000 * 1000)

typedef struct part_s {
        bool assigned;
        bool revoking; /* being drained by the revoke handler */
        uint32_t generation;
        int64_t next_offset; /* after the last record taken since the
                              * assignment; -1: none yet */
        bool store_due;      /* a job finished since the last store */
        pmw_tracker_t tracker;
} part_t;

typedef struct queue_s {
        pmw_batch_t *head;
        pmw_batch_t *tail;
} queue_t;

struct pmw_pipeline_s {
        const pmw_config_t *cfg; /* immutable */
        int id;
        char *bootstrap;
        pmw_publisher_t *pub;
        pmw_servers_t *servers;
        atomic_long *slots;         /* shared: free request slots */
        pmw_pipeline_memory_t *mem; /* shared: jobs and bytes in memory */
        pmw_metrics_t *metrics;
        int64_t last_lag_us;
        rd_kafka_t *consumer;
        rd_kafka_queue_t *cq;
        int evfd[2]; /* the consumer queue's event pipe */
        pmw_client_t *client;
        pmw_batcher_t *batcher;
        queue_t ready;
        queue_t waiting;
        queue_t *held; /* one per server */
        size_t in_flight;
        part_t *parts;
        size_t part_cnt;
        size_t jobs; /* in memory, wherever they are */
        size_t max_jobs;
        size_t max_bytes;
        bool consume_paused;
        int64_t last_poll_us; /* the consumer was polled */
        /* wake_fetcher's state */
        int64_t last_record_us; /* a record came, or the fetcher was woken */
        int64_t last_behind_check_us;
        int64_t seek_at_us; /* a seek whose fetch has not delivered yet */
        int64_t stall_us;   /* FETCH_STALL_MIN_US .. FETCH_STALL_MAX_US */
        bool behind;        /* some partition had records left to fetch */
        bool backlog;       /* records may be waiting in the queue */
        rd_kafka_resp_err_t last_commit_err; /* commit_cb's last result */
        int64_t last_reach_check_us;
        int64_t last_commit_us;
        bool commit_due;           /* offsets stored since the last commit */
        int64_t drain_deadline_us; /* 0 unless draining */
        bool closing;              /* consumer close: no more draining */
        pmw_error_t *fatal;
        uint64_t rng;
        size_t left_open;
        bool store_due; /* some partition's store_due is set */

        /* Shared with other threads. */
        pthread_mutex_t lock;
        pmw_job_t *acked_head;  /* protected by lock */
        pmw_job_t **acked_tail; /* protected by lock */
        atomic_bool stop;
        atomic_bool joined;
        atomic_bool reachable;
        atomic_size_t jobs_gauge; /* p->jobs, for /metrics */
        atomic_int_fast64_t lag;  /* -1 while unknown */
};

/*
 * Small helpers.
 */

static void queue_push(queue_t *q, pmw_batch_t *batch) {
        batch->next = NULL;
        if (q->tail)
                q->tail->next = batch;
        else
                q->head = batch;
        q->tail = batch;
}

static void queue_push_front(queue_t *q, pmw_batch_t *batch) {
        batch->next = q->head;
        q->head     = batch;
        if (!q->tail)
                q->tail = batch;
}

static pmw_batch_t *queue_pop(queue_t *q) {
        pmw_batch_t *batch = q->head;
        if (batch) {
                q->head = batch->next;
                if (!q->head)
                        q->tail = NULL;
                batch->next = NULL;
        }
        return batch;
}

static size_t job_bytes(const pmw_job_t *job) {
        return job->value_len + job->key_len + job->msg.body_len;
}

/* Jobs and bytes in memory: this pipeline's, and the process's (the
 * memory bound is per process, like postmark.max_in_flight). */
static void account(pmw_pipeline_t *p, const pmw_job_t *job, long sign) {
        long bytes = (long)job_bytes(job);
        p->jobs += (size_t)sign;
        atomic_fetch_add(&p->mem->jobs, sign);
        atomic_fetch_add(&p->mem->bytes, sign * bytes);
}

/* Over the process's bound: stop reading (the caller pauses). */
static bool memory_full(const pmw_pipeline_t *p) {
        return atomic_load(&p->mem->jobs) >= (long)p->max_jobs ||
               atomic_load(&p->mem->bytes) >= (long)p->max_bytes;
}

static void forget_job(pmw_pipeline_t *p, pmw_job_t *job) {
        account(p, job, -1);
        pmw_job_destroy(job);
}

static part_t *part_get(pmw_pipeline_t *p, int32_t partition) {
        if ((size_t)partition >= p->part_cnt) {
                size_t cnt = PMW_MAX((size_t)partition + 1, p->part_cnt * 2);
                p->parts   = pmw_realloc(p->parts, cnt * sizeof(*p->parts));
                for (size_t i = p->part_cnt; i < cnt; i++) {
                        memset(&p->parts[i], 0, sizeof(p->parts[i]));
                        p->parts[i].next_offset = -1;
                        pmw_tracker_init(&p->parts[i].tracker);
                }
                p->part_cnt = cnt;
        }
        return &p->parts[partition];
}

/* postmark.max_in_flight is per process: pipelines take request slots from
 * one shared counter. */
static bool slot_take(pmw_pipeline_t *p) {
        if (atomic_fetch_sub(p->slots, 1) > 0)
                return true;
        atomic_fetch_add(p->slots, 1);
        return false;
}

static void slot_give(pmw_pipeline_t *p) {
        atomic_fetch_add(p->slots, 1);
}

static bool is_stale(pmw_pipeline_t *p, const pmw_job_t *job) {
        const part_t *part = &p->parts[job->partition];
        return !part->assigned || part->generation != job->generation;
}

/* pmw_batch_filter() callback: drops stale jobs. */
static bool drop_stale(void *opaque, pmw_job_t *job) {
        pmw_pipeline_t *p = opaque;
        if (!is_stale(p, job))
                return false;
        forget_job(p, job);
        return true;
}

static int64_t now_ms(void) {
        return pmw_clock_wall_ms();
}

/*
 * Final outcomes.
 */

/* Records the job's outcome and hands it to the publisher. */
static void finish(pmw_pipeline_t *p,
                   pmw_job_t *job,
                   pmw_status_t status,
                   int error_code,
                   const char *message,
                   const char *message_id,
                   const char *submitted_at) {
        if (is_stale(p, job)) {
                forget_job(p, job);
                return;
        }
        pmw_job_finish(job, status, error_code, message, message_id,
                       submitted_at, now_ms());
        pmw_log(PMW_LOG_DEBUG, "job",
                "job=%s partition=%" PRId32 " offset=%" PRId64
                " status=%s error_code=%d attempts=%u: %s",
                job->job_id, job->partition, job->offset,
                pmw_status_name(status), error_code, job->attempts,
                job->message);
        pmw_publisher_publish(p->pub, job);
}

/* Marks the job done; the partitions' new commit points are stored once
 * per turn (store_offsets), not once per job. */
static void job_done(pmw_pipeline_t *p, pmw_job_t *job) {
        part_t *part = &p->parts[job->partition];
        pmw_tracker_done(&part->tracker, job->offset);
        part->store_due = true;
        p->store_due    = true;
}

static void store_offsets(pmw_pipeline_t *p) {
        if (p->store_due) {
                rd_kafka_topic_partition_list_t *offsets =
                    rd_kafka_topic_partition_list_new(16);
                for (size_t i = 0; i < p->part_cnt; i++) {
                        part_t *part = &p->parts[i];
                        int64_t offset;
                        if (part->store_due &&
                            pmw_tracker_take_commit(&part->tracker, &offset))
                                rd_kafka_topic_partition_list_add(
                                    offsets, p->cfg->kafka.jobs_topic,
                                    (int32_t)i)
                                    ->offset = offset;
                        part->store_due = false;
                }
                p->store_due = false;
                if (offsets->cnt > 0) {
                        rd_kafka_resp_err_t err =
                            rd_kafka_offsets_store(p->consumer, offsets);
                        if (err)
                                pmw_log(PMW_LOG_WARN, "kafka",
                                        "pipeline=%d: storing offsets: %s",
                                        p->id, rd_kafka_err2str(err));
                        p->commit_due = true;
                }
                rd_kafka_topic_partition_list_destroy(offsets);
        }
        int64_t now = pmw_clock_mono_us();
        if (p->commit_due && now - p->last_commit_us >= COMMIT_INTERVAL_US) {
                /* Commits the stored offsets; the result arrives in
                 * commit_cb(). */
                rd_kafka_commit(p->consumer, NULL, 1);
                p->commit_due     = false;
                p->last_commit_us = now;
        }
}


void pmw_pipeline_acked(pmw_job_t *job) {
        pmw_pipeline_t *p = job->owner;
        pthread_mutex_lock(&p->lock);
        bool was_empty = !p->acked_head;
        job->next      = NULL;
        *p->acked_tail = job;
        p->acked_tail  = &job->next;
        pthread_mutex_unlock(&p->lock);
        if (was_empty)
                pmw_client_wakeup(p->client);
}

/* Jobs whose records Kafka acknowledged: their offsets are done. */
static void take_acked(pmw_pipeline_t *p) {
        pthread_mutex_lock(&p->lock);
        pmw_job_t *job = p->acked_head;
        p->acked_head  = NULL;
        p->acked_tail  = &p->acked_head;
        pthread_mutex_unlock(&p->lock);

        while (job) {
                pmw_job_t *next = job->next;
                if (!job->ack_failed)
                        pmw_metrics_job(p->metrics, job->status);
                if (!job->ack_failed && !is_stale(p, job))
                        job_done(p, job);
                forget_job(p, job);
                job = next;
        }
        store_offsets(p);
}

/*
 * Intake.
 */

/* The last value of header name, borrowed from hdrs: @returns false when
 * there is none. */
static bool header_get(rd_kafka_headers_t *hdrs,
                       const char *name,
                       const char **valp,
                       size_t *lenp) {
        const void *val;
        if (!hdrs || rd_kafka_header_get_last(hdrs, name, &val, lenp) || !val)
                return false;
        *valp = val;
        return true;
}

/* The last value of header name as a NUL-terminated copy, or NULL. */
static char *header_dup(rd_kafka_headers_t *hdrs, const char *name) {
        const char *val;
        size_t len;
        return header_get(hdrs, name, &val, &len) ? pmw_strndup(val, len)
                                                  : NULL;
}

static void intake(pmw_pipeline_t *p, rd_kafka_message_t *rkm) {
        part_t *part = part_get(p, rkm->partition);
        if (!part->assigned) {
                /* Fetched before a revoke took effect: not ours. */
                return;
        }

        part->next_offset = rkm->offset + 1;
        pmw_job_t *job    = pmw_job_new();
        job->owner        = p;
        job->generation   = part->generation;
        job->topic        = p->cfg->kafka.jobs_topic;
        job->partition    = rkm->partition;
        job->offset       = rkm->offset;
        rd_kafka_timestamp_type_t tstype;
        job->enqueued_ms = rd_kafka_message_timestamp(rkm, &tstype);
        if (job->enqueued_ms < 0)
                job->enqueued_ms = now_ms();
        if (rkm->key) {
                job->key     = pmw_strndup(rkm->key, rkm->key_len);
                job->key_len = rkm->key_len;
        }
        job->value = pmw_strndup(rkm->payload ? rkm->payload : "",
                                 rkm->payload ? rkm->len : 0);
        job->value_len           = rkm->payload ? rkm->len : 0;
        rd_kafka_headers_t *hdrs = NULL;
        if (!rd_kafka_message_headers(rkm, &hdrs) && hdrs)
                job->headers = rd_kafka_headers_copy(hdrs);

        /* The headers of CONTRACT 2.1, in the order their problems are
         * reported: the first problem found is the job's reason. */
        char reason[512] = "";
        char *id         = header_dup(job->headers, "job-id");
        if (id && strlen(id) > PMW_JOB_ID_MAX) {
                snprintf(reason, sizeof(reason),
                         "header job-id is %zu bytes; the limit is %d",
                         strlen(id), PMW_JOB_ID_MAX);
                free(id);
                id = NULL;
        } else if (id && !*id) {
                free(id);
                id = NULL;
        }
        if (id) {
                job->job_id = id;
        } else {
                char buf[512];
                snprintf(buf, sizeof(buf), "%s:%" PRId32 ":%" PRId64,
                         job->topic, job->partition, job->offset);
                job->job_id = pmw_strdup(buf);
        }

        job->server = header_dup(job->headers, "postmark-server");
        if (!job->server || !*job->server) {
                free(job->server);
                job->server = pmw_strdup("default");
        }
        job->server_idx = pmw_servers_find(p->servers, job->server);
        if (job->server_idx < 0 && !*reason)
                snprintf(reason, sizeof(reason),
                         "header postmark-server names no configured "
                         "server: \"%.64s\"",
                         job->server);

        const char *expires;
        size_t expires_len;
        if (header_get(job->headers, "expires-at", &expires, &expires_len)) {
                pmw_error_t *err = pmw_time_parse_rfc3339(expires, expires_len,
                                                          &job->expires_ms);
                if (err && !*reason)
                        snprintf(reason, sizeof(reason),
                                 "header expires-at: %s",
                                 pmw_error_string(err));
                pmw_error_destroy(err);
        }

        pmw_message_parse(&job->msg, job->value, job->value_len, job->job_id);

        pmw_tracker_add(&part->tracker, job->offset);
        account(p, job, +1);

        if (*reason)
                finish(p, job, PMW_STATUS_REJECTED, 300, reason, NULL, NULL);
        else if (job->msg.reject_code)
                finish(p, job, PMW_STATUS_REJECTED, job->msg.reject_code,
                       job->msg.reject_reason, NULL, NULL);
        else if (job->expires_ms && now_ms() >= job->expires_ms)
                finish(p, job, PMW_STATUS_EXPIRED, -1,
                       "expires-at passed before the job could be sent", NULL,
                       NULL);
        else {
                pmw_batch_t *closed =
                    pmw_batcher_add(p->batcher, job, pmw_clock_mono_us());
                if (closed) {
                        closed->owner = p;
                        queue_push(&p->ready, closed);
                }
        }
}

/* For wake_fetcher: a record came; after a seek, the time it took sets
 * how long an empty queue is waited for before the next seek. */
static void record_came(pmw_pipeline_t *p) {
        int64_t now = pmw_clock_mono_us();
        if (p->seek_at_us) {
                p->stall_us   = PMW_MIN(PMW_MAX(2 * (now - p->seek_at_us),
                                                (int64_t)FETCH_STALL_MIN_US),
                                        (int64_t)FETCH_STALL_MAX_US);
                p->seek_at_us = 0;
        }
        p->last_record_us = now;
}

/* @returns true if the budget ran out with records perhaps still queued:
 * the queue's event fd only fires when it turns non-empty, so the loop must
 * not sleep then. */
static bool consume(pmw_pipeline_t *p) {
        for (int i = 0; i < CONSUME_BUDGET; i++) {
                rd_kafka_message_t *rkm =
                    rd_kafka_consumer_poll(p->consumer, 0);
                if (!rkm)
                        return false;
                if (rkm->err) {
                        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                pmw_log(PMW_LOG_WARN, "kafka",
                                        "pipeline=%d: consumer: %s", p->id,
                                        rd_kafka_message_errstr(rkm));
                } else {
                        atomic_store(&p->reachable, true);
                        record_came(p);
                        intake(p, rkm);
                }
                rd_kafka_message_destroy(rkm);
                if (memory_full(p))
                        return true; /* the caller pauses (update_pause) */
        }
        return true;
}

/*
 * Pausing and backpressure.
 *
 * While a server is on hold (CONTRACT 3.5) every assigned partition is
 * paused; the consumer is still polled, so the group membership and
 * rebalances go on. Memory backpressure is softer: over the process's bound
 * (jobs or bytes in memory), the loop stops taking records and they wait in
 * librdkafka's own bounded queue (queued.max.messages.kbytes). Pausing for
 * that would be costly: librdkafka drops a paused partition's prefetched
 * records and fetches them again on resume, which under load would happen
 * every second. The consumer is still polled every BACKPRESSURE_POLL_US, so
 * rebalances are served.
 */

static void set_paused(pmw_pipeline_t *p, bool pause, const char *why) {
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (rd_kafka_assignment(p->consumer, &parts))
                return;
        rd_kafka_resp_err_t err =
            pause ? rd_kafka_pause_partitions(p->consumer, parts)
                  : rd_kafka_resume_partitions(p->consumer, parts);
        if (err)
                pmw_log(PMW_LOG_WARN, "kafka", "pipeline=%d: %s: %s", p->id,
                        pause ? "pause" : "resume", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(parts);
        if (pause != p->consume_paused)
                pmw_log(PMW_LOG_NOTICE, "pipeline",
                        "pipeline=%d: consumption %s (%s)", p->id,
                        pause ? "paused" : "resumed", why);
        p->consume_paused = pause;
}

static void update_pause(pmw_pipeline_t *p) {
        size_t held = pmw_servers_held_count(p->servers);
        if (!p->consume_paused && held)
                set_paused(p, true, "a server is on hold");
        else if (p->consume_paused && !held)
                set_paused(p, false, "no server on hold");
}

/* Whether to take records this turn: not while the process holds its
 * bound of jobs in memory, except for a poll now and then. */
static bool may_consume(pmw_pipeline_t *p) {
        int64_t now = pmw_clock_mono_us();
        if (!memory_full(p) || now - p->last_poll_us >= BACKPRESSURE_POLL_US) {
                p->last_poll_us = now;
                return true;
        }
        return false;
}

/*
 * Sending and results.
 */

static void handle_result(pmw_pipeline_t *p,
                          pmw_batch_t *batch,
                          pmw_response_t *resp,
                          const pmw_verdict_t *verdict);

static void on_done(void *opaque,
                    pmw_response_t *resp,
                    const pmw_verdict_t *verdict,
                    int64_t attempt_us) {
        pmw_batch_t *batch = opaque;
        pmw_pipeline_t *p  = batch->owner;
        p->in_flight--;
        slot_give(p);
        atomic_fetch_sub(&p->metrics->inflight, 1);
        pmw_metrics_request(p->metrics, batch->endpoint, resp->http_status,
                            batch->cnt, attempt_us);
        pmw_log(PMW_LOG_INFO, "batch",
                "pipeline=%d server=%s endpoint=%s messages=%zu "
                "http_status=%d verdict=%s ms=%" PRId64 " probe=%s",
                p->id, pmw_servers_name(p->servers, batch->server_idx),
                pmw_endpoint_path(batch->endpoint), batch->cnt,
                resp->http_status, pmw_outcome_name(verdict->outcome),
                attempt_us / 1000, batch->probe ? "yes" : "no");
        /* The body stays until the batch changes: the messages a retry,
         * split or per-message answer moves get them back then. */
        handle_result(p, batch, resp, verdict);
        pmw_response_cleanup(resp);
}

static void send_batch(pmw_pipeline_t *p, pmw_batch_t *batch) {
        char *token = pmw_servers_token(p->servers, batch->server_idx);
        pmw_batch_build_body(batch);
        for (size_t i = 0; i < batch->cnt; i++)
                batch->jobs[i]->attempts++;
        pmw_client_req_t req = {.path      = pmw_endpoint_path(batch->endpoint),
                                .token     = token,
                                .body      = batch->body,
                                .body_len  = batch->body_len,
                                .msg_count = batch->cnt};
        batch->owner         = p;
        /* Counted first: a request libcurl refuses ends in on_done() at
         * once, inside pmw_client_send(). */
        p->in_flight++;
        atomic_fetch_add(&p->metrics->inflight, 1);
        pmw_client_send(p->client, &req, on_done, batch);
        free(token);
}

static void hold_batch(pmw_pipeline_t *p, pmw_batch_t *batch) {
        batch->probe = false;
        pmw_servers_add_waiting(p->servers, batch->server_idx,
                                (long)batch->cnt);
        queue_push(&p->held[batch->server_idx], batch);
}

/* Drops what must not be sent (pmw_batch_filter() callback): stale jobs
 * are forgotten, expired ones finished as expired. One pass, the clock
 * read once by the caller. */
typedef struct unsendable_s {
        pmw_pipeline_t *p;
        int64_t now_ms;
} unsendable_t;

static bool drop_unsendable(void *opaque, pmw_job_t *job) {
        unsendable_t *u = opaque;
        if (drop_stale(u->p, job))
                return true;
        if (!job->expires_ms || u->now_ms < job->expires_ms)
                return false;
        finish(u->p, job, PMW_STATUS_EXPIRED, -1,
               "expires-at passed before the job could be sent", NULL, NULL);
        return true;
}

static void filter_unsendable(pmw_pipeline_t *p, pmw_batch_t *batch) {
        unsendable_t u = {.p = p, .now_ms = now_ms()};
        pmw_batch_filter(batch, drop_unsendable, &u);
}

/* Sends ready batches in order while request slots are free. The caller
 * of send_batch() holds a slot, which on_done() gives back. */
static void dispatch(pmw_pipeline_t *p) {
        while (p->ready.head && slot_take(p)) {
                pmw_batch_t *batch = queue_pop(&p->ready);
                filter_unsendable(p, batch);
                if (batch->cnt &&
                    pmw_servers_is_held(p->servers, batch->server_idx)) {
                        hold_batch(p, batch);
                        slot_give(p);
                        continue;
                }
                if (!batch->cnt) {
                        pmw_batch_destroy(batch);
                        slot_give(p);
                        continue;
                }
                /* Rate limits (CONTRACT 3.7): wait for the server's
                 * tokens without holding up other servers' batches. */
                int64_t now  = pmw_clock_mono_us();
                int64_t wait = pmw_servers_rate_take(
                    p->servers, batch->server_idx, batch->cnt, now);
                if (wait > 0) {
                        pmw_metrics_add(
                            &p->metrics->rate_waits[batch->server_idx], 1);
                        batch->not_before_us = now + wait;
                        queue_push(&p->waiting, batch);
                        slot_give(p);
                        continue;
                }
                send_batch(p, batch);
        }
}

/* Backoff for a batch's next attempt (CONTRACT 3.4). */
static void
retry_later(pmw_pipeline_t *p, pmw_batch_t *batch, int64_t retry_after_ms) {
        batch->retries++;
        int64_t ms = pmw_backoff_delay_ms(
            p->cfg->retry.initial_backoff_ms, p->cfg->retry.max_backoff_ms,
            batch->retries, retry_after_ms, &p->rng);
        batch->not_before_us = pmw_clock_mono_us() + ms * 1000;
        pmw_metrics_add(&p->metrics->retries, batch->cnt);
        queue_push(&p->waiting, batch);
}

typedef struct exhausted_s {
        pmw_pipeline_t *p;
        const pmw_response_t *resp;
} exhausted_t;

/* pmw_batch_filter() callback: fails the jobs whose attempts ran out. */
static bool drop_exhausted(void *opaque, pmw_job_t *job) {
        exhausted_t *ex = opaque;
        if (job->attempts < (unsigned)ex->p->cfg->retry.max_attempts)
                return false;
        finish(ex->p, job, PMW_STATUS_FAILED, ex->resp->error_code,
               ex->resp->message, NULL, NULL);
        return true;
}

/* A whole-request failure to retry: jobs whose attempts ran out fail,
 * unless their server is on hold (CONTRACT 3.4, 3.5); the rest wait for
 * the backoff, or for the hold to end. */
static void result_retry(pmw_pipeline_t *p,
                         pmw_batch_t *batch,
                         const pmw_response_t *resp,
                         const pmw_verdict_t *verdict) {
        int srv = batch->server_idx;
        bool held;
        if (verdict->counts_as_failure)
                held = pmw_servers_failure(p->servers, srv, resp->message,
                                           pmw_clock_mono_us());
        else
                held = pmw_servers_is_held(p->servers, srv);

        if (!held) {
                exhausted_t ex = {p, resp};
                pmw_batch_filter(batch, drop_exhausted, &ex);
        }
        if (!batch->cnt)
                pmw_batch_destroy(batch);
        else if (held)
                hold_batch(p, batch);
        else
                retry_later(p, batch, resp->retry_after_ms);
}

/* Moves job into *bucket (created on first use), or drops it if stale. */
static void bucket_push(pmw_pipeline_t *p,
                        pmw_batch_t **bucket,
                        pmw_batch_t *from,
                        size_t i) {
        pmw_job_t *job = from->jobs[i];
        if (is_stale(p, job)) {
                forget_job(p, job);
                return;
        }
        if (!*bucket) {
                *bucket = pmw_batch_new(from->server_idx, from->endpoint,
                                        pmw_clock_mono_us());
                (*bucket)->owner = p;
        }
        pmw_batch_give_back(from, i);
        pmw_batch_push(*bucket, job);
}

/* Element i of Postmark's answer belongs to job i (request order). Stale
 * jobs are dropped here, one by one, so the others keep their answers. */
static void result_per_message(pmw_pipeline_t *p,
                               pmw_batch_t *batch,
                               const pmw_response_t *resp) {
        int srv            = batch->server_idx;
        pmw_batch_t *again = NULL; /* transient per-message answers */
        pmw_batch_t *held  = NULL; /* account-level per-message answers */

        for (size_t i = 0; i < batch->cnt; i++) {
                pmw_job_t *job              = batch->jobs[i];
                const pmw_msg_result_t *res = &resp->results[i];
                pmw_verdict_t v =
                    pmw_classify_message(res->error_code, res->message);
                switch (v.outcome) {
                case PMW_OUTCOME_SENT:
                        finish(p, job, PMW_STATUS_SENT, res->error_code,
                               res->message, res->message_id,
                               res->submitted_at);
                        break;
                case PMW_OUTCOME_RETRY:
                        if (v.rate_limited && !again) {
                                pmw_metrics_add(&p->metrics->throttled[srv], 1);
                                pmw_servers_rate_throttled(p->servers, srv,
                                                           pmw_clock_mono_us());
                        }
                        bucket_push(p, &again, batch, i);
                        break;
                case PMW_OUTCOME_HOLD:
                        pmw_servers_hold(p->servers, srv, v.hold_reason,
                                         res->message, pmw_clock_mono_us());
                        bucket_push(p, &held, batch, i);
                        break;
                default:
                        finish(p, job, PMW_STATUS_FAILED, res->error_code,
                               res->message, NULL, NULL);
                        break;
                }
        }
        if (again)
                retry_later(p, again, -1);
        if (held)
                hold_batch(p, held);
        pmw_batch_destroy(batch);
}

static void handle_result(pmw_pipeline_t *p,
                          pmw_batch_t *batch,
                          pmw_response_t *resp,
                          const pmw_verdict_t *verdict) {
        int srv     = batch->server_idx;
        bool probe  = batch->probe;
        int64_t now = pmw_clock_mono_us();
        bool ok     = false;

        batch->probe = false;
        for (size_t i = 0; i < batch->cnt; i++)
                batch->jobs[i]->http_status =
                    resp->http_status > 0 ? resp->http_status : -1;
        /* Per-message answers are matched by index first (stale jobs are
         * dropped there); every other outcome concerns the whole batch. */
        if (verdict->outcome != PMW_OUTCOME_PER_MESSAGE)
                pmw_batch_filter(batch, drop_stale, p);

        switch (verdict->outcome) {
        case PMW_OUTCOME_PER_MESSAGE:
                ok = true;
                pmw_servers_success(p->servers, srv);
                pmw_servers_rate_success(p->servers, srv, batch->cnt, now);
                result_per_message(p, batch, resp);
                break;
        case PMW_OUTCOME_SPLIT:
                /* Postmark read the request: the account and token work. */
                ok = true;
                pmw_servers_success(p->servers, srv);
                if (batch->cnt == 0) {
                        pmw_batch_destroy(batch);
                } else if (batch->cnt == 1) {
                        finish(p, batch->jobs[0], PMW_STATUS_FAILED,
                               resp->error_code, resp->message, NULL, NULL);
                        pmw_batch_destroy(batch);
                } else {
                        pmw_batch_t *half = pmw_batch_split(batch, now);
                        pmw_metrics_add(&p->metrics->splits, 1);
                        half->owner = p;
                        pmw_log(PMW_LOG_INFO, "batch",
                                "pipeline=%d server=%s messages=%zu "
                                "halves=%zu+%zu: split after: %s",
                                p->id, pmw_servers_name(p->servers, srv),
                                batch->cnt + half->cnt, batch->cnt, half->cnt,
                                resp->message);
                        queue_push_front(&p->ready, half);
                        queue_push_front(&p->ready, batch);
                }
                break;
        case PMW_OUTCOME_HOLD:
                pmw_servers_hold(p->servers, srv, verdict->hold_reason,
                                 resp->message, now);
                if (batch->cnt)
                        hold_batch(p, batch);
                else
                        pmw_batch_destroy(batch);
                break;
        case PMW_OUTCOME_RETRY:
        default:
                if (verdict->rate_limited) {
                        pmw_metrics_add(&p->metrics->throttled[srv], 1);
                        pmw_servers_rate_throttled(p->servers, srv, now);
                }
                if (batch->cnt)
                        result_retry(p, batch, resp, verdict);

                else
                        pmw_batch_destroy(batch);
                break;
        }
        if (probe)
                pmw_servers_probe_done(p->servers, srv, ok, now);
}

/*
 * Timers: linger, backoff, holds.
 */

static void close_due(pmw_pipeline_t *p, bool flush) {
        pmw_batch_t *batch =
            pmw_batcher_take_due(p->batcher, pmw_clock_mono_us(), flush);
        while (batch) {
                pmw_batch_t *next = batch->next;
                batch->owner      = p;
                queue_push(&p->ready, batch);
                batch = next;
        }
}

static void promote_waiting(pmw_pipeline_t *p) {
        int64_t now    = pmw_clock_mono_us();
        queue_t keep   = {0};
        pmw_batch_t *b = p->waiting.head;
        p->waiting     = (queue_t) {0};
        while (b) {
                pmw_batch_t *next = b->next;
                queue_push(b->not_before_us <= now ? &p->ready : &keep, b);
                b = next;
        }
        p->waiting = keep;
}

/* Held servers: release what is no longer held; probe what is due. */
static void service_holds(pmw_pipeline_t *p) {
        int64_t now = pmw_clock_mono_us();
        for (size_t s = 0; s < pmw_servers_count(p->servers); s++) {
                queue_t *q = &p->held[s];
                if (!pmw_servers_is_held(p->servers, (int)s)) {
                        /* Released: everything held goes out again, before
                         * what was read since, in its original order. */
                        if (q->head) {
                                for (pmw_batch_t *b = q->head; b; b = b->next)
                                        pmw_servers_add_waiting(
                                            p->servers, (int)s, -(long)b->cnt);
                                q->tail->next = p->ready.head;
                                if (!p->ready.head)
                                        p->ready.tail = q->tail;
                                p->ready.head = q->head;
                                *q            = (queue_t) {0};
                        }
                        continue;
                }
                if (!q->head) {
                        /* Nobody has jobs to probe with: let new jobs find
                         * out whether the server recovered. */
                        if (pmw_servers_waiting(p->servers, (int)s) == 0 &&
                            pmw_servers_claim_probe(p->servers, (int)s, now)) {
                                pmw_log(PMW_LOG_NOTICE, "hold",
                                        "server=%s: no held jobs to probe "
                                        "with; releasing the hold",
                                        pmw_servers_name(p->servers, (int)s));
                                pmw_servers_success(p->servers, (int)s);
                                pmw_servers_probe_done(p->servers, (int)s, true,
                                                       now);
                        }
                        continue;
                }
                if (!slot_take(p))
                        continue;
                if (!pmw_servers_claim_probe(p->servers, (int)s, now)) {
                        slot_give(p);
                        continue;
                }
                /* The probe is the first held batch with jobs left (stale
                 * and expired ones drop out here). */
                pmw_batch_t *b;
                while ((b = queue_pop(q))) {
                        pmw_servers_add_waiting(p->servers, (int)s,
                                                -(long)b->cnt);
                        filter_unsendable(p, b);
                        if (b->cnt)
                                break;
                        pmw_batch_destroy(b);
                }
                if (!b) {
                        /* Nothing was sent: the claim ends uncounted. */
                        pmw_servers_probe_cancel(p->servers, (int)s);
                        slot_give(p);
                        continue;
                }
                b->probe = true;
                send_batch(p, b);
        }
}

static int64_t next_timer_us(pmw_pipeline_t *p) {
        int64_t next = pmw_batcher_next_due(p->batcher);
        if (p->commit_due)
                next = PMW_MIN(next, p->last_commit_us + COMMIT_INTERVAL_US);
        for (pmw_batch_t *b = p->waiting.head; b; b = b->next)
                next = PMW_MIN(next, b->not_before_us);
        /* A held server's probe (or its release, when nobody holds jobs
         * for it) is due at its own time. */
        if (pmw_servers_held_count(p->servers))
                next = PMW_MIN(next, pmw_servers_next_probe_us(p->servers));
        return next;
}

/* Sleeps until work arrives or the next timer, at most max_ms. */
static void wait_for_work(pmw_pipeline_t *p, int max_ms) {
        int64_t now     = pmw_clock_mono_us();
        int64_t next    = next_timer_us(p);
        int64_t wait_ms = max_ms;
        if (next != INT64_MAX)
                wait_ms =
                    PMW_MIN(wait_ms, PMW_MAX(0, (next - now + 999) / 1000));
        if (p->ready.head && atomic_load(p->slots) > 0)
                wait_ms = 0;
        /* Records wait for this loop in librdkafka's queue and there is
         * room for them now. */
        if (p->backlog && !p->consume_paused && !p->drain_deadline_us &&
            !memory_full(p))
                wait_ms = 0;
        pmw_waitfd_t fd = {.fd = p->evfd[0], .events = POLLIN};
        pmw_client_wait(p->client, &fd, 1, (int)wait_ms);
        if (fd.revents) {
                char buf[256];
                while (read(p->evfd[0], buf, sizeof(buf)) > 0)
                        ;
        }
}

/* One turn of everything except consuming. */
static void turn(pmw_pipeline_t *p, bool flush, int max_wait_ms) {
        take_acked(p);
        close_due(p, flush);
        promote_waiting(p);
        service_holds(p);
        dispatch(p);
        wait_for_work(p, max_wait_ms);
        pmw_client_step(p->client);
        take_acked(p);
        if (pmw_publisher_failed(p->pub) && !p->fatal)
                p->fatal = pmw_error_new(PMW_ERR_KAFKA,
                                         "the status producer failed (see "
                                         "the ERROR above)");
}

/*
 * Draining: for a revoke and for shutdown.
 */

static size_t pending_revoking(pmw_pipeline_t *p) {
        size_t n = 0;
        for (size_t i = 0; i < p->part_cnt; i++)
                if (p->parts[i].revoking)
                        n += pmw_tracker_pending(&p->parts[i].tracker);
        return n;
}

/* Runs turns without consuming until pending() is 0 or the deadline. */
static void drain(pmw_pipeline_t *p,
                  size_t (*pending)(pmw_pipeline_t *p),
                  int64_t deadline_us) {
        while (pending(p) > 0 && !p->fatal) {
                int64_t left = deadline_us - pmw_clock_mono_us();
                if (left <= 0)
                        break;
                turn(p, true, (int)PMW_MIN(left / 1000 + 1, 100));
        }
}

static size_t jobs_in_memory(pmw_pipeline_t *p) {
        return p->jobs;
}

/* Drops every stale job from the queues and open batches. */
/* Drops the stale jobs of every batch in q, and the batches left empty;
 * held_srv >= 0: q holds that server's held batches, whose waiting count
 * shrinks with them. */
static void purge_queue(pmw_pipeline_t *p, queue_t *q, int held_srv) {
        queue_t keep = {0};
        pmw_batch_t *b;
        while ((b = queue_pop(q))) {
                size_t before = b->cnt;
                pmw_batch_filter(b, drop_stale, p);
                if (held_srv >= 0)
                        pmw_servers_add_waiting(p->servers, held_srv,
                                                -(long)(before - b->cnt));
                if (b->cnt)
                        queue_push(&keep, b);
                else
                        pmw_batch_destroy(b);
        }
        *q = keep;
}

static void purge_stale(pmw_pipeline_t *p) {
        purge_queue(p, &p->ready, -1);
        purge_queue(p, &p->waiting, -1);
        for (size_t s = 0; s < pmw_servers_count(p->servers); s++)
                purge_queue(p, &p->held[s], (int)s);
        pmw_batcher_filter(p->batcher, drop_stale, p);
}

static void commit_sync(pmw_pipeline_t *p,
                        rd_kafka_topic_partition_list_t *offsets) {
        rd_kafka_resp_err_t err = rd_kafka_commit(p->consumer, offsets, 0);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                pmw_metrics_add(&p->metrics->commit_failures, 1);
                pmw_log(PMW_LOG_WARN, "kafka", "pipeline=%d: commit: %s", p->id,
                        rd_kafka_err2str(err));
        }
}

static void log_partitions(pmw_pipeline_t *p,
                           const char *what,
                           const rd_kafka_topic_partition_list_t *parts) {
        char list[512] = "";
        size_t used    = 0;
        for (int i = 0; i < parts->cnt && used < sizeof(list) - 16; i++)
                used += (size_t)snprintf(list + used, sizeof(list) - used,
                                         "%s%" PRId32, i ? "," : "",
                                         parts->elems[i].partition);
        pmw_log(PMW_LOG_NOTICE, "kafka", "pipeline=%d: %s %d partition%s%s%s",
                p->id, what, parts->cnt, parts->cnt == 1 ? "" : "s",
                parts->cnt ? ": " : "", list);
}

static void on_assign(pmw_pipeline_t *p,
                      rd_kafka_topic_partition_list_t *parts,
                      bool cooperative) {
        for (int i = 0; i < parts->cnt; i++) {
                part_t *part      = part_get(p, parts->elems[i].partition);
                part->assigned    = true;
                part->revoking    = false;
                part->next_offset = -1;
                part->generation++;
                pmw_tracker_reset(&part->tracker);
        }
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (cooperative)
                error = rd_kafka_incremental_assign(p->consumer, parts);
        else
                err = rd_kafka_assign(p->consumer, parts);
        if (error) {
                pmw_log(PMW_LOG_ERROR, "kafka", "pipeline=%d: assign: %s",
                        p->id, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (err) {
                pmw_log(PMW_LOG_ERROR, "kafka", "pipeline=%d: assign: %s",
                        p->id, rd_kafka_err2str(err));
        }
        /* librdkafka keeps a partition's pause across unassign and assign:
         * one paused before a revoke would come back paused for good. */
        if (p->consume_paused && parts->cnt)
                rd_kafka_pause_partitions(p->consumer, parts);
        else if (parts->cnt)
                rd_kafka_resume_partitions(p->consumer, parts);
        atomic_store(&p->joined, true);
        atomic_store(&p->reachable, true);
        log_partitions(p, "assigned", parts);
}

static void on_revoke(pmw_pipeline_t *p,
                      rd_kafka_topic_partition_list_t *parts,
                      bool cooperative) {
        for (int i = 0; i < parts->cnt; i++)
                part_get(p, parts->elems[i].partition)->revoking = true;

        /* A lost assignment (the session timed out) is someone else's
         * already: finishing its jobs now would send them twice, and
         * committing would fail. Drop them. */
        bool lost = rd_kafka_assignment_lost(p->consumer);
        if (lost)
                pmw_log(PMW_LOG_WARN, "kafka",
                        "pipeline=%d: assignment lost (session timed out); "
                        "dropping its jobs for the new owner",
                        p->id);
        if (!p->closing && !lost) {
                /* Finish what was read from these partitions before letting
                 * them go (CONTRACT 3.6), so the next owner starts after
                 * them and nothing is sent or published twice. */
                int64_t deadline = pmw_clock_mono_us() +
                                   p->cfg->workers.shutdown_timeout_ms * 1000;
                if (p->drain_deadline_us)
                        deadline = PMW_MIN(deadline, p->drain_deadline_us);
                drain(p, pending_revoking, deadline);
                rd_kafka_topic_partition_list_t *offsets =
                    rd_kafka_topic_partition_list_new(parts->cnt);
                for (int i = 0; i < parts->cnt; i++) {
                        part_t *part = &p->parts[parts->elems[i].partition];
                        int64_t off = pmw_tracker_commit_offset(&part->tracker);
                        if (off >= 0)
                                rd_kafka_topic_partition_list_add(
                                    offsets, parts->elems[i].topic,
                                    parts->elems[i].partition)
                                    ->offset = off;
                }
                if (offsets->cnt)
                        commit_sync(p, offsets);
                rd_kafka_topic_partition_list_destroy(offsets);
        }

        size_t open = pending_revoking(p);
        for (int i = 0; i < parts->cnt; i++) {
                part_t *part      = &p->parts[parts->elems[i].partition];
                part->assigned    = false;
                part->revoking    = false;
                part->next_offset = -1;
                part->generation++;
                pmw_tracker_reset(&part->tracker);
        }
        purge_stale(p);
        if (open && lost)
                pmw_log(PMW_LOG_WARN, "pipeline",
                        "pipeline=%d: %zu jobs of lost partitions dropped, "
                        "uncommitted, for the new owner",
                        p->id, open);
        else if (open)
                pmw_log(PMW_LOG_WARN, "pipeline",
                        "pipeline=%d: %zu jobs of revoked partitions were not "
                        "finished in time; left uncommitted for the next "
                        "owner",
                        p->id, open);

        if (cooperative) {
                rd_kafka_error_t *error =
                    rd_kafka_incremental_unassign(p->consumer, parts);
                if (error)
                        rd_kafka_error_destroy(error);
        } else {
                rd_kafka_assign(p->consumer, NULL);
        }
        log_partitions(p, "revoked", parts);
}

static void rebalance_cb(rd_kafka_t *rk,
                         rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
        pmw_pipeline_t *p = opaque;
        bool cooperative =
            !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
                on_assign(p, parts, cooperative);
        else
                on_revoke(p, parts, cooperative);
}

static void
consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
        pmw_pipeline_t *p = opaque;
        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                atomic_store(&p->reachable, false);
        pmw_log(PMW_LOG_WARN, "kafka", "pipeline=%d: consumer: %s: %s", p->id,
                rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void commit_cb(rd_kafka_t *rk,
                      rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets,
                      void *opaque) {
        pmw_pipeline_t *p = opaque;
        (void)rk;
        (void)offsets;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                atomic_store(&p->reachable, true);
        else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                pmw_metrics_add(&p->metrics->commit_failures, 1);
        /* Log changes, not repeats: commits go out every 100 ms, and a
         * rebalance makes each of them fail the same way for seconds. */
        if (err == p->last_commit_err || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        p->last_commit_err = err;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                pmw_log(PMW_LOG_NOTICE, "kafka",
                        "pipeline=%d: offset commits succeed again", p->id);
        else
                pmw_log(PMW_LOG_WARN, "kafka", "pipeline=%d: offset commit: %s",
                        p->id, rd_kafka_err2str(err));
}

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        (void)rk;
        (void)level;
        pmw_log(PMW_LOG_DEBUG, "kafka", "%s: %s", fac, buf);
}

/* Consumer lag for /metrics: per assigned partition, the high watermark
 * (cached from fetches, no request) minus the commit point, i.e. jobs
 * read but not finished plus jobs not read yet. */
static void update_lag(pmw_pipeline_t *p) {
        int64_t now = pmw_clock_mono_us();
        if (now - p->last_lag_us < LAG_INTERVAL_US)
                return;
        p->last_lag_us                         = now;
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (rd_kafka_assignment(p->consumer, &parts))
                return;
        int64_t lag = 0;
        bool known  = true;
        for (int i = 0; i < parts->cnt; i++) {
                int64_t low, high;
                const rd_kafka_topic_partition_t *tp = &parts->elems[i];
                if (rd_kafka_get_watermark_offsets(
                        p->consumer, tp->topic, tp->partition, &low, &high) ||
                    high < 0) {
                        known = false;
                        continue;
                }
                int64_t from = pmw_tracker_commit_offset(
                    &part_get(p, tp->partition)->tracker);
                if (from < 0) {
                        rd_kafka_topic_partition_list_t *pos =
                            rd_kafka_topic_partition_list_new(1);
                        rd_kafka_topic_partition_list_add(pos, tp->topic,
                                                          tp->partition);
                        rd_kafka_position(p->consumer, pos);
                        from = pos->elems[0].offset;
                        rd_kafka_topic_partition_list_destroy(pos);
                }
                if (from < 0)
                        from = low;
                lag += PMW_MAX(high - from, (int64_t)0);
        }
        rd_kafka_topic_partition_list_destroy(parts);
        atomic_store(&p->lag, known || lag > 0 ? lag : -1);
}

/*
 * librdkafka 2.0.2 (Debian bookworm's) stops fetching once its queue holds
 * queued.max.messages.kbytes and looks again only when its broker thread
 * wakes: at the latest after a second, as nothing in that version wakes it
 * when the application empties the queue (2.1 added that, with
 * fetch.queue.backoff.ms). With a backlog, a worker that drained its queue
 * in 0.2 s then idled for 0.8 s: each consumer took about one queue's worth
 * of records per second. A seek wakes the broker thread. So when the queue
 * has been empty for stall_us while the cached high watermark of a
 * partition is past the loop's position in it, that partition is sought to
 * that position: the queue is empty, so nothing the loop has not seen is
 * dropped and nothing is skipped; the fetch restarts there.
 *
 * A seek also cancels that partition's fetch in flight, so stall_us adapts
 * to the time the fetch after a seek takes to deliver (twice that, 20 ms
 * to 1 s): against a distant broker the worker must not cancel every
 * fetch before it answers.
 */
static void wake_fetcher(pmw_pipeline_t *p, bool queue_empty) {
        int64_t now = pmw_clock_mono_us();
        if (!queue_empty || p->consume_paused || memory_full(p)) {
                p->behind = false;
                return;
        }
        if (now - p->last_behind_check_us < FETCH_STALL_MIN_US)
                return;
        p->last_behind_check_us = now;
        rd_kafka_topic_partition_list_t *stalled =
            rd_kafka_topic_partition_list_new(8);
        for (size_t i = 0; i < p->part_cnt; i++) {
                /* The position is the loop's own: after the last record it
                 * took in this assignment. librdkafka's (rd_kafka_position)
                 * can still be the previous assignment's right after a
                 * rebalance; seeking there would skip the records between
                 * the committed offset and it. A partition that gave no
                 * record yet is left to its fetch start. */
                const part_t *part = &p->parts[i];
                int64_t low, high;
                if (!part->assigned || part->revoking ||
                    part->next_offset < 0 ||
                    rd_kafka_get_watermark_offsets(p->consumer,
                                                   p->cfg->kafka.jobs_topic,
                                                   (int32_t)i, &low, &high) ||
                    high <= part->next_offset)
                        continue;
                rd_kafka_topic_partition_list_add(
                    stalled, p->cfg->kafka.jobs_topic, (int32_t)i)
                    ->offset = part->next_offset;
        }
        p->behind = stalled->cnt > 0;
        if (p->behind && now - p->last_record_us >= p->stall_us) {
                if (p->seek_at_us) /* the last seek brought nothing yet */
                        p->stall_us = PMW_MIN(p->stall_us * 2,
                                              (int64_t)FETCH_STALL_MAX_US);
                rd_kafka_error_t *kerr =
                    rd_kafka_seek_partitions(p->consumer, stalled, 0);
                if (kerr) {
                        pmw_log(PMW_LOG_DEBUG, "kafka",
                                "pipeline=%d: seek to wake the fetcher: %s",
                                p->id, rd_kafka_error_string(kerr));
                        rd_kafka_error_destroy(kerr);
                }
                p->seek_at_us     = now;
                p->last_record_us = now;
        }
        rd_kafka_topic_partition_list_destroy(stalled);
}

/* While Kafka is unreachable, ask for metadata now and then, so readiness
 * comes back even when nothing else happens (an idle standby). */
static void check_reachable(pmw_pipeline_t *p) {
        int64_t now = pmw_clock_mono_us();
        if (atomic_load(&p->reachable) ||
            now - p->last_reach_check_us < REACH_CHECK_US)
                return;
        p->last_reach_check_us             = now;
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(p->consumer, 0, NULL, &md, 200) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
                atomic_store(&p->reachable, true);
                rd_kafka_metadata_destroy(md);
        }
}

/*
 * Life cycle.
 */

static pmw_error_t *consumer_new(pmw_pipeline_t *p) {
        rd_kafka_conf_t *conf = NULL;
        char errstr[512];
        pmw_error_t *err =
            pmw_kafka_conf_new(p->cfg, PMW_KAFKA_CONSUMER, &conf);
        if (err)
                return err;
        if (rd_kafka_conf_set(conf, "bootstrap.servers", p->bootstrap, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                rd_kafka_conf_destroy(conf);
                return pmw_error_new(PMW_ERR_KAFKA,
                                     "consumer: bootstrap.servers: %s", errstr);
        }
        rd_kafka_conf_set_opaque(conf, p);
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
        rd_kafka_conf_set_log_cb(conf, log_cb);

        p->consumer =
            rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!p->consumer) {
                rd_kafka_conf_destroy(conf);
                return pmw_error_new(PMW_ERR_KAFKA, "consumer: %s", errstr);
        }
        rd_kafka_poll_set_consumer(p->consumer);

        if (pipe(p->evfd) == -1)
                return pmw_error_new(PMW_ERR_IO, "pipe: %s", strerror(errno));
        for (int i = 0; i < 2; i++)
                fcntl(p->evfd[i], F_SETFL,
                      fcntl(p->evfd[i], F_GETFL) | O_NONBLOCK);
        p->cq = rd_kafka_queue_get_consumer(p->consumer);
        rd_kafka_queue_io_event_enable(p->cq, p->evfd[1], "1", 1);

        rd_kafka_topic_partition_list_t *topics =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, p->cfg->kafka.jobs_topic,
                                          RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t rerr = rd_kafka_subscribe(p->consumer, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (rerr)
                return pmw_error_new(PMW_ERR_KAFKA, "subscribe %s: %s",
                                     p->cfg->kafka.jobs_topic,
                                     rd_kafka_err2str(rerr));
        return NULL;
}

pmw_error_t *pmw_pipeline_new(const pmw_pipeline_opts_t *opts,
                              pmw_pipeline_t **pp) {
        const pmw_config_t *cfg = opts->cfg;
        *pp                     = NULL;
        pmw_pipeline_t *p       = pmw_calloc(1, sizeof(*p));
        p->cfg                  = cfg;
        p->id                   = opts->id;
        p->bootstrap            = pmw_strdup(opts->bootstrap);
        p->pub                  = opts->pub;
        p->servers              = opts->servers;
        p->slots                = opts->slots;
        p->mem                  = opts->mem;
        p->metrics              = opts->metrics;
        atomic_store(&p->lag, -1);
        p->stall_us = FETCH_STALL_MIN_US;
        p->rng      = opts->seed;
        p->evfd[0] = p->evfd[1] = -1;
        p->acked_tail           = &p->acked_head;
        pthread_mutex_init(&p->lock, NULL);
        p->held =
            pmw_calloc(pmw_servers_count(p->servers) + 1, sizeof(*p->held));
        p->batcher = pmw_batcher_new(
            pmw_servers_count(p->servers), (size_t)cfg->batch.max_messages,
            (size_t)cfg->batch.max_bytes, cfg->batch.linger_ms * 1000);
        /* For the whole process: enough jobs to keep every request slot
         * busy with full batches and half as many again filling the next
         * ones (at 150 ms per request, 1x gave ~35k jobs/s, 1.5x ~40k; 2x
         * no more, for ~10 MB more RSS: README "Performance"), and at most
         * 32 MiB of job data. */
        p->max_jobs  = (size_t)(3 * cfg->postmark.max_in_flight *
                               cfg->batch.max_messages / 2);
        p->max_bytes = 32 * 1024 * 1024;

        pmw_client_opts_t copts = {
            .base_url           = cfg->postmark.base_url,
            .timeout_ms         = cfg->postmark.timeout_ms,
            .connect_timeout_ms = cfg->postmark.connect_timeout_ms,
            .tls_verify         = cfg->postmark.tls_verify,
            .max_connections    = (unsigned)cfg->postmark.max_in_flight,
        };
        pmw_error_t *err = pmw_client_new(&copts, &p->client);
        if (!err)
                err = consumer_new(p);
        if (err) {
                pmw_pipeline_destroy(p);
                return err;
        }
        *pp = p;
        return NULL;
}

void pmw_pipeline_stop(pmw_pipeline_t *p) {
        atomic_store(&p->stop, true);
        pmw_client_wakeup(p->client);
}

static void shutdown_drain(pmw_pipeline_t *p) {
        int64_t deadline =
            pmw_clock_mono_us() + p->cfg->workers.shutdown_timeout_ms * 1000;
        p->drain_deadline_us = deadline;
        pmw_log(PMW_LOG_NOTICE, "pipeline",
                "pipeline=%d: stopping: %zu jobs in hand, %zu requests in "
                "flight; draining for up to %" PRId64 " ms",
                p->id, p->jobs, p->in_flight,
                p->cfg->workers.shutdown_timeout_ms);
        set_paused(p, true, "shutting down");
        drain(p, jobs_in_memory, deadline);
        take_acked(p);
        commit_sync(p, NULL);

        p->left_open = p->jobs;
        if (p->jobs)
                pmw_log(PMW_LOG_WARN, "pipeline",
                        "pipeline=%d: %zu jobs not finished within "
                        "workers.shutdown_timeout_ms; left uncommitted for "
                        "the next owner",
                        p->id, p->jobs);
        /* The revoke that closing triggers must not drain again. */
        p->closing = true;
        rd_kafka_consumer_close(p->consumer);
}

pmw_error_t *pmw_pipeline_run(pmw_pipeline_t *p) {
        pmw_log(PMW_LOG_NOTICE, "pipeline",
                "pipeline=%d: consuming %s in group %s", p->id,
                p->cfg->kafka.jobs_topic, p->cfg->kafka.group_id);
        while (!atomic_load(&p->stop) && !p->fatal) {
                /* Records may be waiting in librdkafka's queue whenever
                 * the budget ran out or the memory bound kept the loop
                 * from taking them: then the loop must not sleep once
                 * there is room again (the queue's fd will not fire). */
                bool taken = may_consume(p);
                p->backlog = !taken || consume(p);
                wake_fetcher(p, !p->backlog);
                update_pause(p);
                check_reachable(p);
                update_lag(p);
                atomic_store(&p->jobs_gauge, p->jobs);
                turn(p, false, p->behind ? FETCH_STALL_MIN_US / 1000 : 1000);
        }
        shutdown_drain(p);
        pmw_error_t *err = p->fatal;
        p->fatal         = NULL;
        return err;
}

bool pmw_pipeline_ready(pmw_pipeline_t *p, pmw_buf_t *reason) {
        if (!atomic_load(&p->joined)) {
                pmw_buf_appendf(reason,
                                "pipeline %d has not joined consumer group "
                                "%s yet",
                                p->id, p->cfg->kafka.group_id);
                return false;
        }
        if (!atomic_load(&p->reachable)) {
                pmw_buf_appendf(reason, "pipeline=%d: Kafka is unreachable",
                                p->id);
                return false;
        }
        return true;
}

size_t pmw_pipeline_jobs(const pmw_pipeline_t *p) {
        return atomic_load(&((pmw_pipeline_t *)p)->jobs_gauge);
}

int64_t pmw_pipeline_lag(const pmw_pipeline_t *p) {
        return atomic_load(&((pmw_pipeline_t *)p)->lag);
}

size_t pmw_pipeline_left_open(const pmw_pipeline_t *p) {
        return p->left_open;
}

static void destroy_queue(pmw_pipeline_t *p, queue_t *q) {
        pmw_batch_t *b;
        while ((b = queue_pop(q))) {
                for (size_t i = 0; i < b->cnt; i++)
                        forget_job(p, b->jobs[i]);
                pmw_batch_destroy(b);
        }
}

static bool drop_all(void *opaque, pmw_job_t *job) {
        forget_job(opaque, job);
        return true;
}

void pmw_pipeline_destroy(pmw_pipeline_t *p) {
        if (!p)
                return;
        /* In-flight requests end as DROPPED; their jobs come back through
         * on_done() as stale (every partition is unassigned by now). */
        for (size_t i = 0; i < p->part_cnt; i++) {
                p->parts[i].assigned = false;
                p->parts[i].generation++;
        }
        pmw_client_destroy(p->client);
        destroy_queue(p, &p->ready);
        destroy_queue(p, &p->waiting);
        if (p->held) {
                for (size_t s = 0; s < pmw_servers_count(p->servers); s++)
                        destroy_queue(p, &p->held[s]);
                free(p->held);
        }
        if (p->batcher) {
                pmw_batcher_filter(p->batcher, drop_all, p);
                pmw_batcher_destroy(p->batcher);
        }
        take_acked(p);
        if (p->cq)
                rd_kafka_queue_destroy(p->cq);
        if (p->consumer)
                rd_kafka_destroy(p->consumer);
        for (int i = 0; i < 2; i++)
                if (p->evfd[i] >= 0)
                        close(p->evfd[i]);
        for (size_t i = 0; i < p->part_cnt; i++)
                pmw_tracker_cleanup(&p->parts[i].tracker);
        free(p->parts);
        pthread_mutex_destroy(&p->lock);
        free(p->bootstrap);
        free(p);
}
