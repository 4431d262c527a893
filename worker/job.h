/*
 * worker/job.h: one email job on its way through the pipeline.
 *
 * A job is created from one Kafka record of the jobs topic, lives in
 * exactly one place at a time (an open batch, a batch waiting or in flight,
 * or the status producer's queue), and is freed when its status record (and
 * dead-letter record, if any) is acknowledged by Kafka and its offset is
 * marked done in the partition's tracker.
 *
 * The job keeps copies of what the records it produces need: the original
 * value, key and headers (the dead-letter record carries them unchanged,
 * CONTRACT 2.4), and the normalised Postmark message (postmark_message.h).
 *
 * Ownership: the pipeline owns jobs (pmw_job_new / pmw_job_destroy); every
 * char * field is owned by the job unless marked borrowed.
 * Thread safety: a job belongs to the worker thread that read it.
 */
#ifndef PMW_WORKER_JOB_H
#define PMW_WORKER_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/postmark_message.h"

/* CONTRACT 2.1: a job-id header longer than this is refused. */
#define PMW_JOB_ID_MAX 256
/* The status record's message is cut to this many bytes (UTF-8 safe). */
#define PMW_JOB_MESSAGE_MAX 4096

typedef enum pmw_status_e {
        PMW_STATUS_NONE = 0, /* not final yet */
        PMW_STATUS_SENT,
        PMW_STATUS_FAILED,
        PMW_STATUS_REJECTED,
        PMW_STATUS_EXPIRED,
} pmw_status_t;

typedef struct pmw_job_s {
        /* Where the job was read (CONTRACT 2.3 topic, partition, offset). */
        const char *topic; /* borrowed: the pipeline's jobs topic name */
        int32_t partition;
        int64_t offset;
        int64_t enqueued_ms; /* the record's timestamp (ms since epoch) */

        char *job_id; /* the job-id header, or "topic:partition:offset" */
        char *key;    /* the record key, NULL when the record has none */
        size_t key_len;
        char *value; /* the original value, for the dead-letter record */
        size_t value_len;
        rd_kafka_headers_t *headers; /* copy of the record's headers, or
                                      * NULL when it had none */

        char *server;       /* the postmark-server header, or "default" */
        int server_idx;     /* index in cfg->postmark.servers; -1: unknown */
        int64_t expires_ms; /* expires-at (ms since epoch); 0: none */

        pmw_message_t msg; /* normalised message; msg.to, msg.stream for
                            * the status record, msg.reject_* if invalid */

        /* Progress (CONTRACT 2.3). */
        unsigned attempts; /* HTTP requests that carried this job */
        int http_status;   /* of the last such request; -1 when none */

        /* Outcome, set once by pmw_job_finish(). */
        pmw_status_t status;
        int error_code;     /* Postmark ErrorCode; 0 sent; -1 none */
        char *message;      /* Postmark's Message or the worker's reason */
        char *message_id;   /* MessageID when sent, else NULL */
        char *submitted_at; /* SubmittedAt when sent, else NULL */
        int64_t completed_ms;

        /* Pipeline bookkeeping (private to worker/pipeline.c and
         * worker/publisher.c). */
        void *owner;            /* the pipeline that read the job */
        uint32_t generation;    /* of its partition's assignment */
        unsigned acks_pending;  /* records produced and not yet acked */
        bool ack_failed;        /* the publisher gave up on a record */
        bool dlq_truncated;     /* the DLQ record was cut to 64 KB */
        struct pmw_job_s *next; /* intrusive list link */
} pmw_job_t;

/**
 * @brief Allocates a job with every field empty: http_status -1,
 *        error_code -1, server_idx -1.
 */
pmw_job_t *pmw_job_new(void);

/** @brief Frees the job and everything it owns. NULL is allowed. */
void pmw_job_destroy(pmw_job_t *job);

/**
 * @brief Records the job's outcome (once; later calls are ignored).
 * @param message borrows (copied): Postmark's Message or the worker's
 *        reason, cut to PMW_JOB_MESSAGE_MAX bytes; NULL is stored as "".
 * @param message_id, submitted_at borrow (copied), may be NULL.
 */
void pmw_job_finish(pmw_job_t *job,
                    pmw_status_t status,
                    int error_code,
                    const char *message,
                    const char *message_id,
                    const char *submitted_at,
                    int64_t now_ms);

/** @returns "sent", "failed", "rejected", "expired" (or "none"). */
const char *pmw_status_name(pmw_status_t status);

/** @returns true for the outcomes that also get a dead-letter record. */
bool pmw_status_is_dead_letter(pmw_status_t status);

#endif /* PMW_WORKER_JOB_H */
