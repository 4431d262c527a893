/*
 * tests/integration/kafka_util.h: Kafka from integration tests, in the
 * test process: produce jobs (with keys and headers) and read back
 * everything a topic holds (status and dead-letter records), with
 * librdkafka, against any bootstrap address: the embedded cluster
 * (worker/embedded.h), the mock-broker binary, or a real Kafka.
 *
 * Why: a test's verdict is "exactly these records, no more": the consumer
 * here reads every partition from the beginning without a group (no
 * rebalance, no 3 s join, no committed offsets disturbed) and keeps
 * reading until the topic has been quiet for a while, so a duplicate that
 * arrives late is still caught. The same two halves make pmw-kafka
 * (tests/kafka-tool), the command-line tool, so this library is built in
 * every build, also with PMW_TESTS=OFF.
 *
 * Settings (for the mock; harmless against a real Kafka):
 *  - producer: enable.idempotence=true, acks=all (as the worker's own
 *    producer), linger.ms=5, reconnect.backoff.max.ms=1000 (after a mock
 *    broker comes back "up", the producer reconnects within a second, not
 *    ten), log.connection.close=false (the mock closes connections when a
 *    broker goes down; that is the test's doing, not news).
 *  - consumer: fetch.wait.max.ms=20 (the mock holds an empty fetch for the
 *    whole wait: with the default 500 ms the quiet period could not be
 *    shorter than half a second), enable.partition.eof=false,
 *    enable.auto.commit=false, reconnect.backoff.max.ms=1000, and
 *    group.id=pmw-ktest-reader (librdkafka 2.0.2 refuses rd_kafka_assign()
 *    without one; the group is never joined and nothing is committed).
 * Callers may add or override properties (e.g. message.timeout.ms).
 *
 * Ownership: each object is owned by the caller and freed by its
 * _destroy() / pmw_ktest_records_free() (NULL allowed).
 * Thread safety: a producer, and a records set, belong to one thread.
 */
#ifndef PMW_TESTS_KAFKA_UTIL_H
#define PMW_TESTS_KAFKA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct pmw_ktest_producer_s pmw_ktest_producer_t;

/**
 * @brief Creates an idempotent acks=all producer.
 * @param bootstrap borrows: "host:port[,...]".
 * @param props borrows; NULL, or librdkafka properties as name, value
 *        pairs ending with NULL: {"message.timeout.ms", "2000", NULL}.
 * @returns NULL, or an error naming a property librdkafka refused.
 */
pmw_error_t *
pmw_ktest_producer_new(const char *bootstrap,
                       const char *const *props,
                       pmw_ktest_producer_t **producerp) PMW_WARN_UNUSED;

/**
 * @brief Queues one record (sent in the background; see
 *        pmw_ktest_flush()).
 * @param topic borrows.
 * @param partition a partition, or -1 for librdkafka's partitioner (by key,
 *        random without one).
 * @param key borrows; NULL for a record without key (keylen ignored).
 * @param value borrows; NULL for a null value.
 * @param headers borrows; NULL, or name, value pairs (NUL-terminated
 *        strings) ending with NULL: {"job-id", "j1", "expires-at", "...",
 *        NULL}. Header values are stored without the NUL; a NULL value
 *        makes a header with a null value.
 * @returns NULL, or an error if librdkafka refused the record (unknown
 *          partition, too large). A full queue is waited out (up to 10 s).
 */
pmw_error_t *pmw_ktest_produce(pmw_ktest_producer_t *producer,
                               const char *topic,
                               int32_t partition,
                               const void *key,
                               size_t keylen,
                               const void *value,
                               size_t len,
                               const char *const *headers) PMW_WARN_UNUSED;

typedef struct pmw_ktest_record_s pmw_ktest_record_t;

/**
 * @brief As pmw_ktest_produce(), with the partition, key, value and
 *        headers of a record: one read back by pmw_ktest_consume_all()
 *        (copying records between topics), or one built by the caller.
 *        Binary-safe: header values may contain NUL bytes.
 * @param record borrows; its partition (-1 for librdkafka's partitioner),
 *        key (has_key, key, key_len), value (NULL for null, len) and
 *        headers are used; offset and timestamp are ignored (Kafka assigns
 *        them).
 */
pmw_error_t *
pmw_ktest_produce_record(pmw_ktest_producer_t *producer,
                         const char *topic,
                         const pmw_ktest_record_t *record) PMW_WARN_UNUSED;

/**
 * @brief Waits until every queued record is delivered or failed.
 * @param timeout_ms at most this long; -1 waits until each record is
 *        delivered or failed (bounded by message.timeout.ms).
 * @returns NULL if all records produced since the last flush were
 *          delivered; else an error with the number not delivered (failed,
 *          or still queued at the timeout) and the first failure's reason.
 *          The counts start again from zero after each flush.
 */
pmw_error_t *pmw_ktest_flush(pmw_ktest_producer_t *producer,
                             int timeout_ms) PMW_WARN_UNUSED;

/** @returns records delivered (acknowledged) since the producer started. */
size_t pmw_ktest_delivered(const pmw_ktest_producer_t *producer);

/** @brief Destroys the producer without waiting (purges its queue). */
void pmw_ktest_producer_destroy(pmw_ktest_producer_t *producer);

typedef struct pmw_ktest_header_s {
        char *name;  /* owned, NUL-terminated */
        char *value; /* owned, NUL-terminated copy; NULL for a null value */
        size_t len;  /* value's length without the NUL */
} pmw_ktest_header_t;

struct pmw_ktest_record_s {
        int32_t partition;
        int64_t offset;
        int64_t timestamp; /* ms since the epoch, -1 if none */
        bool has_key;
        char *key; /* owned, NUL-terminated copy; NULL without key */
        size_t key_len;
        char *value; /* owned, NUL-terminated copy; NULL for a null value */
        size_t len;
        pmw_ktest_header_t *headers; /* owned, in record order */
        size_t header_cnt;
};

/** @brief Frees what the record owns (not the record) and zeroes it. */
void pmw_ktest_record_cleanup(pmw_ktest_record_t *record);

typedef struct pmw_ktest_records_s {
        pmw_ktest_record_t *v; /* sorted by partition, then offset */
        size_t cnt;
} pmw_ktest_records_t;

/**
 * @brief Reads a topic from the beginning of every partition, without a
 *        consumer group.
 *
 * Stops when at least `expect` records arrived and none came for quiet_ms
 * (extra records, duplicates, are collected too: compare cnt with what
 * you expect), or at timeout_ms whatever arrived.
 *
 * @param bootstrap, topic borrow.
 * @param recordsp receives the records (caller owns; also on timeout:
 *        the caller checks cnt; and with a consumer error, the records
 *        read before it; NULL when the topic's metadata was not read).
 * @returns NULL, or an error if the topic's metadata could not be read
 *          (unknown topic) within timeout_ms, or the consumer failed.
 * @remark The mock cluster creates an unknown topic (4 partitions) on the
 *         metadata request, so there an unknown topic reads as empty.
 */
pmw_error_t *
pmw_ktest_consume_all(const char *bootstrap,
                      const char *topic,
                      size_t expect,
                      int quiet_ms,
                      int timeout_ms,
                      pmw_ktest_records_t **recordsp) PMW_WARN_UNUSED;

/**
 * @brief As pmw_ktest_consume_all(), with librdkafka properties added to
 *        (or overriding) the reader's own.
 * @param props borrows; NULL, or name, value pairs ending with NULL, as
 *        for pmw_ktest_producer_new().
 * @returns also an error (PMW_ERR_INVALID) naming a property librdkafka
 *          refused, and (PMW_ERR_KAFKA) when the consumer reports a fatal
 *          error or is not authorised to read the topic; other consumer
 *          errors are transient (librdkafka retries), printed to stderr,
 *          and reading goes on.
 */
pmw_error_t *
pmw_ktest_consume_all_props(const char *bootstrap,
                            const char *const *props,
                            const char *topic,
                            size_t expect,
                            int quiet_ms,
                            int timeout_ms,
                            pmw_ktest_records_t **recordsp) PMW_WARN_UNUSED;

/** @brief Frees the records. NULL is allowed. */
void pmw_ktest_records_free(pmw_ktest_records_t *records);

/**
 * @returns the value of the record's last header named name (the one a
 *          Kafka consumer's "last header" accessor returns), borrowed:
 *          NUL-terminated, valid until the records are freed; NULL if the
 *          record has no such header or its value is null.
 */
const char *pmw_ktest_header(const pmw_ktest_record_t *record,
                             const char *name);

/**
 * @brief Reads the committed offsets of a consumer group for a topic's
 *        partitions 0..cnt-1 (joins nothing: OffsetFetch only).
 * @param offsets receives cnt offsets; -1001 (RD_KAFKA_OFFSET_INVALID)
 *        where nothing is committed.
 */
pmw_error_t *pmw_ktest_committed(const char *bootstrap,
                                 const char *group_id,
                                 const char *topic,
                                 int64_t *offsets,
                                 size_t cnt,
                                 int timeout_ms) PMW_WARN_UNUSED;

#endif /* PMW_TESTS_KAFKA_UTIL_H */
