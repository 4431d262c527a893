/*
 * worker/record.h: the records a final job produces (CONTRACT 2.3, 2.4).
 *
 * Status record (every final job): key = the job id, value = one JSON object
 * with every field of CONTRACT 2.3, in the contract's order. It is written
 * straight into a buffer, without a JSON tree: the pipeline writes one per
 * job, 40,000 per second.
 *
 * Dead-letter record (failed, rejected, expired): the original key, value
 * and headers, with the worker's pmw-* headers describing the failure. Any
 * pmw-* header the original carried is dropped first (a replayed DLQ record
 * that fails again must not carry two pmw-status headers). The pmw- prefix
 * is matched ignoring ASCII case ("PMW-Status" is dropped too): the pmw-
 * namespace belongs to the worker (CONTRACT 2.1), and a consumer of the DLQ
 * looking for pmw-status must never find a stale twin that differs only in
 * case. Other headers keep their order, duplicates and null values.
 *
 * Thread safety: no shared state; the functions only read the job, which
 * belongs to the calling thread.
 */
#ifndef PMW_WORKER_RECORD_H
#define PMW_WORKER_RECORD_H

#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "common/buf.h"
#include "worker/job.h"

/* CONTRACT 2.4: when the dead-letter topic refuses a record for its size,
 * the record carries this many bytes of the value (64 KiB) and a
 * pmw-truncated header with the original size. */
#define PMW_DLQ_TRUNCATE_BYTES 65536

/**
 * @brief Appends the status record value of a final job to out.
 *
 * {"job_id":..,"status":..,"error_code":..,"http_status":..,"message":..,
 * "message_id":..,"to":..,"submitted_at":..,"server":..,"stream":..,
 * "attempts":..,"key":..,"topic":..,"partition":..,"offset":..,
 * "enqueued_at":..,"completed_at":..}
 *
 * Strings are JSON-escaped; bytes that are not valid UTF-8 (a Kafka key is
 * arbitrary bytes) become U+FFFD, so the value is always valid JSON.
 * http_status is null when job->http_status < 0; message_id, submitted_at
 * and key are null when NULL. to is job->msg.to ("" when NULL), stream
 * job->msg.stream ("outbound" when NULL), server job->server ("default"
 * when NULL), message job->message ("" when NULL). enqueued_at and
 * completed_at are RFC 3339 UTC with milliseconds, from job->enqueued_ms
 * and job->completed_ms (clamped to 1970..9999).
 *
 * @param out borrows: appended to; check pmw_buf_failed() for its limit.
 * @param job borrows: a final job (pmw_job_finish() was called).
 */
void pmw_record_status(pmw_buf_t *out, const pmw_job_t *job);

/**
 * @brief Builds the headers of the job's dead-letter record.
 *
 * The original headers (job->headers, may be NULL) minus every pmw-* header,
 * in order, then: pmw-error-code (decimal job->error_code), pmw-error
 * (job->message), pmw-status (pmw_status_name()), pmw-source
 * ("topic:partition:offset"), pmw-attempts (decimal job->attempts), and when
 * truncated, pmw-truncated (decimal job->value_len, the original size).
 * The record's value is then the first PMW_DLQ_TRUNCATE_BYTES bytes of
 * job->value.
 *
 * @param job borrows: a final job.
 * @param truncated whether the record carries a truncated value.
 * @returns new headers; the caller owns them (rd_kafka_producev()
 *          RD_KAFKA_V_HEADERS takes them on success, else
 *          rd_kafka_headers_destroy()). Never NULL.
 */
rd_kafka_headers_t *pmw_record_dlq_headers(const pmw_job_t *job,
                                           bool truncated);

#endif /* PMW_WORKER_RECORD_H */
