/*
 * worker/publisher.h: the status producer (CONTRACT 2.3, 2.4, 3.1).
 *
 * One idempotent producer (acks=all) per process writes, for every final
 * job, its status record to kafka.status_topic (key: the job id) and, for
 * failed, rejected and expired jobs, a dead-letter record to
 * kafka.dead_letter_topic (the original key, value and headers plus the
 * pmw-* headers). A job is "acknowledged" when Kafka acknowledged all of its
 * records; only then may its offset be committed.
 *
 * Delivery failures never drop a record: a dead-letter record refused for
 * its size is produced again with the first 64 KiB of the value and a
 * pmw-truncated header (CONTRACT 2.4); any other failure (after
 * librdkafka's own retries, i.e. message.timeout.ms) is logged as an ERROR
 * and the record is produced again, so the job's offset stays uncommitted
 * until Kafka takes it. A record librdkafka refuses to queue at all (a fatal
 * idempotence error) makes pmw_publisher_failed() true: the worker stops
 * with exit status 1 and the job stays uncommitted.
 *
 * Delivery reports are served by the publisher's own thread; for each job
 * whose records are all settled the acked callback runs in that thread and
 * hands the job back to its owner (job->owner), which must then take it
 * under its own lock. Settled means acknowledged, except after
 * pmw_publisher_close() has given up on records: then job->ack_failed is
 * set and the owner must not commit the job's offset.
 *
 * Ownership: the publisher borrows jobs between pmw_publisher_publish() and
 * the acked callback; the callback's receiver owns them again.
 * Thread safety: all functions may be called from any thread (librdkafka's
 * producer is thread-safe); the acked callback runs in the publisher's
 * thread.
 */
#ifndef PMW_WORKER_PUBLISHER_H
#define PMW_WORKER_PUBLISHER_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "common/error.h"
#include "config/config.h"
#include "worker/job.h"
#include "worker/metrics.h"

typedef struct pmw_publisher_s pmw_publisher_t;

/** Runs for each job whose records Kafka acknowledged. */
typedef void(pmw_publisher_acked_fn)(pmw_job_t *job);

/**
 * @param bootstrap borrows: the brokers (the embedded cluster's address
 *        when kafka.brokers is "embedded...").
 */
pmw_error_t *pmw_publisher_new(const pmw_config_t *cfg,
                               const char *bootstrap,
                               pmw_publisher_acked_fn *acked,
                               pmw_metrics_t *metrics,
                               pmw_publisher_t **pubp) PMW_WARN_UNUSED;

/**
 * @brief Waits up to timeout_ms for outstanding records, then gives up on
 *        the rest: their jobs are handed back with ack_failed set (their
 *        offsets must stay uncommitted), and the thread stops.
 * @returns the number of records given up on.
 */
int pmw_publisher_close(pmw_publisher_t *pub, int timeout_ms);

/** @brief Frees the publisher (after pmw_publisher_close()). NULL is
 *         allowed. */
void pmw_publisher_destroy(pmw_publisher_t *pub);

/**
 * @brief Produces the final job's records. Blocks (serving delivery
 *        reports) while librdkafka's queue is full: that is the worker's
 *        backpressure when Kafka is slow.
 * @param job borrows until the acked callback.
 */
void pmw_publisher_publish(pmw_publisher_t *pub, pmw_job_t *job);

/** @returns records produced and not yet acknowledged or failed. */
int pmw_publisher_outstanding(pmw_publisher_t *pub);

/**
 * @returns true when librdkafka refused to queue a record (a fatal
 *          idempotence error): the worker must stop; the job stays
 *          uncommitted and a restart delivers it.
 */
bool pmw_publisher_failed(pmw_publisher_t *pub);



#endif /* PMW_WORKER_PUBLISHER_H */
