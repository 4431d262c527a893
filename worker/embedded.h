/*
 * worker/embedded.h: an in-process Kafka cluster for kafka.brokers =
 * "embedded" or "embedded:N" (librdkafka's mock cluster, rdkafka_mock.h).
 *
 * Why: there is no Kafka server on a developer machine or in CI, and the
 * demo and the integration tests must run the real pipeline (consumer
 * group, idempotent producer, offset commits) anyway. librdkafka 2.0.2's
 * mock cluster speaks the real protocol on loopback TCP, so every
 * rd_kafka_t of the process (and of other processes: the pipeline logs the
 * bootstrap address at NOTICE) connects to it as to a real cluster.
 *
 * What the mock does differently from Kafka (2.0.2; the tuning below
 * exists because of these):
 *  - A fetch that finds no data is answered only after the consumer's
 *    whole fetch.wait.max.ms, even when records arrive meanwhile.
 *  - A group's first join is answered after a fixed 3 s (the broker's
 *    group.initial.rebalance.delay.ms, not configurable); members that join
 *    within those 3 s share the first generation. Every later rebalance (a
 *    member joins or leaves) waits session.timeout.ms - 1 s before the new
 *    generation, even when all members are back at once.
 *  - It keeps about 5 MB (and 100,000 message sets) per partition, dropping
 *    the oldest: a consumer that falls further behind loses records
 *    (offset out of range). Use more partitions for bulk tests.
 *  - A Metadata request for an unknown topic creates it (4 partitions),
 *    whatever allow.auto.create.topics says (librdkafka logs a WARN that
 *    the broker does not support that property when it is set to false):
 *    a misspelt topic name is not an error here. Create every topic the
 *    worker uses at start.
 *  - No record is refused for its size (only the client's
 *    message.max.bytes limits); to test a broker's refusal, inject it:
 *    rd_kafka_mock_push_request_errors(mock, 0 (Produce), 1,
 *    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE).
 *  - It does not deduplicate an idempotent (non-transactional) producer's
 *    retries: a Produce stored but whose answer was lost (a timeout) is
 *    stored twice when the producer re-sends it. Kafka would store it once.
 *  - Transactions are imitated: offsets sent in a transaction are not
 *    stored, aborts are ignored.
 *  - Nothing is persisted: the data dies with the process.
 *
 * Ownership: pmw_embedded_start() gives the caller the cluster; stop it
 * with pmw_embedded_stop() after every rd_kafka_t connected to it is
 * destroyed (clients of a vanished cluster log connection errors and
 * retry until destroyed).
 *
 * Thread safety: start and stop from one thread (main). The cluster runs
 * on its own librdkafka thread; pmw_embedded_bootstrap() and
 * pmw_embedded_mock() may be read from any thread while it runs, and the
 * rd_kafka_mock_*() functions are thread-safe. pmw_embedded_tune_conf() has
 * no shared state.
 */
#ifndef PMW_WORKER_EMBEDDED_H
#define PMW_WORKER_EMBEDDED_H

#include <stdbool.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/error.h"

typedef struct pmw_embedded_s pmw_embedded_t;

/**
 * @brief Starts a mock cluster and creates the topics.
 *
 * @param spec "embedded" (1 broker) or "embedded:N" (N brokers, 1..16, as
 *        config/ validates kafka.brokers); borrows.
 * @param topics topic names, borrows; NULL when topic_cnt is 0. Each gets
 *        `partitions` partitions and replication factor min(3, N) (the
 *        mock does not copy data between brokers; the factor only shows in
 *        metadata).
 * @param partitions 1..10000.
 * @param embp receives the cluster (caller owns it); NULL on error.
 * @returns NULL, or PMW_ERR_INVALID for a bad spec or partition count,
 *          PMW_ERR_KAFKA if librdkafka could not create the cluster or a
 *          topic (e.g. two equal names).
 * @locality main thread.
 */
pmw_error_t *pmw_embedded_start(const char *spec,
                                const char *const *topics,
                                size_t topic_cnt,
                                int partitions,
                                pmw_embedded_t **embp) PMW_WARN_UNUSED;

/**
 * @brief Creates one more topic while the cluster runs (replication factor
 *        min(3, N), as pmw_embedded_start()).
 * @param topic borrows. Kafka's rules apply: 1..249 characters of
 *        [A-Za-z0-9._-].
 * @returns NULL, or PMW_ERR_INVALID for a bad name or partition count,
 *          PMW_ERR_KAFKA from the mock (TOPIC_ALREADY_EXISTS).
 * @locality any thread.
 */
pmw_error_t *pmw_embedded_create_topic(pmw_embedded_t *emb,
                                       const char *topic,
                                       int partitions) PMW_WARN_UNUSED;

/**
 * @returns the bootstrap.servers list "127.0.0.1:PORT[,127.0.0.1:PORT...]",
 *          borrowed: valid until pmw_embedded_stop(). The ports are chosen
 *          by the kernel (listening on port 0), so parallel test runs
 *          never collide.
 */
const char *pmw_embedded_bootstrap(const pmw_embedded_t *emb);

/** @returns the number of brokers (1..16); their ids are 1..N. */
int pmw_embedded_broker_cnt(const pmw_embedded_t *emb);

/**
 * @returns the mock cluster, borrowed, for fault injection in tests
 *          (rd_kafka_mock_broker_set_down(), request errors, RTT).
 */
rd_kafka_mock_cluster_t *pmw_embedded_mock(pmw_embedded_t *emb);

/**
 * @brief Stops the cluster: closes its listeners and frees every record.
 *        NULL is allowed.
 * @param emb takes.
 * @locality main thread, after every client of the cluster is destroyed.
 */
void pmw_embedded_stop(pmw_embedded_t *emb);

/**
 * @brief Adjusts a consumer's or producer's configuration to the mock's
 *        quirks (see the file comment). A property is changed only while it
 *        still has librdkafka's default value, so whatever the user set in
 *        kafka.consumer / kafka.producer wins (setting exactly the default
 *        value cannot be told apart from not setting it, and is tuned).
 *
 * Consumer:
 *  - fetch.wait.max.ms=20 (default 500): the mock holds an empty fetch for
 *    the whole wait, so a job produced to an idle partition would wait up
 *    to 500 ms before the worker sees it. 20 ms costs about 50 small
 *    requests a second per broker while idle, which loopback absorbs.
 *  - session.timeout.ms=6000 (default 45000): the mock makes every
 *    rebalance after the first wait session.timeout.ms - 1 s; 6 s (5 s per
 *    rebalance) is Kafka's own lower bound (group.min.session.timeout.ms)
 *    so the same value also works against a real broker.
 *  - heartbeat.interval.ms=1000 (default 3000): a member learns of a
 *    rebalance from its next heartbeat; it must stay well below the
 *    session timeout (Kafka's rule: at most a third of it).
 *  - fetch.error.backoff.ms=100 (default 500): after a fetch error (e.g.
 *    an injected NOT_LEADER_FOR_PARTITION) a partition resumes sooner.
 *  - reconnect.backoff.max.ms=1000 (default 10000): loopback connects in
 *    microseconds; after a broker was down (a test), clients come back
 *    within a second instead of ten.
 * Producer:
 *  - reconnect.backoff.max.ms=1000, for the same reason.
 *  - retry.backoff.ms=50 (default 100): injected Produce errors are
 *    retried sooner; retries stay bounded by message.timeout.ms.
 *
 * @param conf borrows; modified in place.
 * @param consumer true for a consumer's configuration.
 * @locality any thread.
 */
void pmw_embedded_tune_conf(rd_kafka_conf_t *conf, bool consumer);

#endif /* PMW_WORKER_EMBEDDED_H */
