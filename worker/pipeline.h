/*
 * worker/pipeline.h: one worker thread's event loop (DESIGN.md).
 *
 * A pipeline owns a Kafka consumer in kafka.group_id subscribed to
 * kafka.jobs_topic, a Postmark client (one curl multi handle), a batcher and
 * the queues of batches waiting, in flight and held. Its loop:
 *
 *   consume (unless paused) -> job: validate once -> rejected at once, or
 *   into the batch of its (server, endpoint) -> closed batches (size,
 *   bytes, linger) -> expired jobs out -> send (at most
 *   postmark.max_in_flight) -> per-message results, or retry with backoff,
 *   split, hold -> final jobs to the publisher -> acknowledged jobs mark
 *   their offsets done -> the partition's commit point is stored
 *   (enable.auto.offset.store=false) and librdkafka commits it.
 *
 * It waits in one place (pmw_client_wait) on the consumer queue's event fd,
 * libcurl's sockets and timers, and wakeups from the publisher's thread.
 *
 * Rebalances: assigned partitions get a fresh offset tracker; revoked ones
 * are drained first (their jobs sent, published and committed, bounded by
 * workers.shutdown_timeout_ms); jobs still open then are dropped
 * uncommitted for the next owner. Shutdown (pmw_pipeline_stop) is the same
 * drain for every partition.
 *
 * Ownership: the pipeline borrows the config, publisher and servers; it
 * owns its consumer, client, batches and jobs.
 * Thread safety: pmw_pipeline_run() runs in the pipeline's thread;
 * pmw_pipeline_stop(), pmw_pipeline_acked() and pmw_pipeline_ready() may be
 * called from any thread.
 */
#ifndef PMW_WORKER_PIPELINE_H
#define PMW_WORKER_PIPELINE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/buf.h"
#include "common/error.h"
#include "config/config.h"
#include "worker/job.h"
#include "worker/metrics.h"
#include "worker/publisher.h"
#include "worker/servers.h"

typedef struct pmw_pipeline_s pmw_pipeline_t;

/* Jobs and bytes held by all pipelines of the process. */
typedef struct pmw_pipeline_memory_s {
        atomic_long jobs;
        atomic_long bytes;
} pmw_pipeline_memory_t;

typedef struct pmw_pipeline_opts_s {
        const pmw_config_t *cfg;    /* borrows */
        const char *bootstrap;      /* borrows (copied into the consumer) */
        pmw_publisher_t *pub;       /* borrows */
        pmw_servers_t *servers;     /* borrows */
        pmw_metrics_t *metrics;     /* borrows */
        pmw_pipeline_memory_t *mem; /* borrows: shared memory accounting */
        atomic_long *slots;         /* borrows: free request slots of the
                                     * process (postmark.max_in_flight) */
        int id;                     /* for logs: "pipeline 0" */
        uint64_t seed;              /* backoff jitter */
} pmw_pipeline_opts_t;

pmw_error_t *pmw_pipeline_new(const pmw_pipeline_opts_t *opts,
                              pmw_pipeline_t **pp) PMW_WARN_UNUSED;

/**
 * @brief Runs the loop until pmw_pipeline_stop(), then drains: stops
 *        consuming, sends what it holds, waits for requests and records,
 *        commits, and closes the consumer, within
 *        workers.shutdown_timeout_ms.
 * @returns NULL, or a fatal error (the consumer could not be created, the
 *          publisher failed).
 */
pmw_error_t *pmw_pipeline_run(pmw_pipeline_t *p) PMW_WARN_UNUSED;

/** @brief Asks the loop to stop and drain. Thread-safe, async-safe-free:
 *         call it from the thread that handles signals. */
void pmw_pipeline_stop(pmw_pipeline_t *p);

/** @brief Frees the pipeline and the jobs it still holds. */
void pmw_pipeline_destroy(pmw_pipeline_t *p);

/** @brief The publisher's acked callback: hands job back to its owner. */
void pmw_pipeline_acked(pmw_job_t *job);

/**
 * @returns true when the consumer has joined the group (with or without
 *          partitions) and Kafka is reachable; else false with a reason
 *          appended. Thread-safe.
 */
bool pmw_pipeline_ready(pmw_pipeline_t *p, pmw_buf_t *reason);

/** @returns jobs in memory and the consumer lag (-1 while unknown), for
 *          /metrics. Thread-safe. */
size_t pmw_pipeline_jobs(const pmw_pipeline_t *p);
int64_t pmw_pipeline_lag(const pmw_pipeline_t *p);

/** @returns jobs left open (uncommitted) when the shutdown drain ended
 *           (those of revoked or lost partitions are logged when it
 *           happens, not counted here). */
size_t pmw_pipeline_left_open(const pmw_pipeline_t *p);

#endif /* PMW_WORKER_PIPELINE_H */
