/*
 * common/postmark_message.h: one email job (a Kafka record value) turned
 * into a Postmark message: parsed, validated and normalised once.
 *
 * A job is a JSON object in the shape of Postmark's POST /email or
 * /email/withTemplate body, with the snake_case aliases of the Python client
 * also accepted (CONTRACT.md 2.1). pmw_message_parse() tokenizes it once
 * (common/jsontok.h), checks everything Postmark would reject the message
 * for (CONTRACT 2.2: the job would never succeed, so it is never sent), and
 * writes the normalised message: compact JSON with Postmark's field names,
 * the job's field order, null fields dropped, Metadata.pmw_job_id added
 * when CONTRACT 3.2 allows, and every value exactly as the job wrote it
 * (escapes, number text). Those bytes are later copied into batch bodies
 * (postmark_batch.h) without being parsed again.
 *
 * Rejection codes follow Postmark's: 402 the value is not JSON (as jansson
 * defines it by default: no "\u0000", no repeated key, numbers that fit 64
 * bits) or not an object, the reason naming the byte offset; 403 an unknown
 * field or a field of the wrong type; 300 every other problem. When a job
 * has several problems, a 403 is reported before a 300.
 *
 * Thread safety: no shared state; each message belongs to one thread at a
 * time.
 */
#ifndef PMW_COMMON_POSTMARK_MESSAGE_H
#define PMW_COMMON_POSTMARK_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

/* Postmark's limit for one message, attachments included; also the largest
 * job value accepted (CONTRACT 2.2). */
#define PMW_MESSAGE_MAX_BYTES 10485760
/* HtmlBody and TextBody, each. */
#define PMW_MESSAGE_MAX_BODY_BYTES 5242880
/* To, Cc and Bcc together. */
#define PMW_MESSAGE_MAX_RECIPIENTS 50
/* In UTF-16 code units, as Postmark counts them. */
#define PMW_MESSAGE_MAX_FROM    255
#define PMW_MESSAGE_MAX_SUBJECT 2000
#define PMW_MESSAGE_MAX_TAG     1000
/* Metadata.pmw_job_id is added only below these (CONTRACT 3.2). */
#define PMW_MESSAGE_MAX_JOB_ID_BYTES 80
#define PMW_MESSAGE_MAX_METADATA     10

/* Rejection codes, Postmark's ErrorCodes for the same faults. */
#define PMW_REJECT_INVALID      300 /* invalid email request */
#define PMW_REJECT_INVALID_JSON 402 /* not JSON, or not a JSON object */
#define PMW_REJECT_FIELD        403 /* unknown or mistyped field */

typedef enum pmw_endpoint_e {
        PMW_ENDPOINT_BATCH,           /* Message objects */
        PMW_ENDPOINT_BATCH_TEMPLATES, /* TemplatedMessage objects */
} pmw_endpoint_t;

/** @returns "/email/batch" or "/email/batchWithTemplates" (static). */
const char *pmw_endpoint_path(pmw_endpoint_t ep);

/* A parsed job. Fields are public and read-only for the caller. */
typedef struct pmw_message_s {
        /* Set for every job, valid or not (the status record needs them): */
        char *to;        /* owns: the job's To as given; "" when unreadable */
        char *stream;    /* owns: MessageStream; "outbound" when absent, empty
                            or unreadable */
        int reject_code; /* 0 valid; else 300, 402 or 403 */
        char reject_reason[256]; /* names the field and the limit; "" if
                                    valid */
        /* Set when valid (reject_code == 0): */
        pmw_endpoint_t endpoint;
        char *body; /* owns: the normalised message, compact JSON; NULL
                       when rejected */
        size_t body_len;
        bool job_id_added; /* Metadata.pmw_job_id was added */
} pmw_message_t;

/**
 * @brief Parses, validates and normalises one job.
 *
 * Always fills msg (no error return: an invalid job is a result, with
 * reject_code and reject_reason set). Free with pmw_message_cleanup().
 *
 * @param msg out: uninitialised or cleaned-up storage, filled here; the
 *        caller owns what it then holds and frees it with
 *        pmw_message_cleanup().
 * @param value borrows: the Kafka record value; need not be NUL-terminated;
 *        may be NULL when len is 0.
 * @param job_id borrows: NUL-terminated job id to put in
 *        Metadata.pmw_job_id, or NULL to add nothing. It is added only when
 *        it is at most 80 bytes of valid UTF-8 and the job's Metadata has
 *        fewer than 10 fields and no key equal to "pmw_job_id" ignoring case
 *        (Metadata is created when the job has none).
 * @locality any thread.
 */
void pmw_message_parse(pmw_message_t *msg,
                       const char *value,
                       size_t len,
                       const char *job_id);

/** @brief Frees what msg owns and leaves it empty (safe to call twice). */
void pmw_message_cleanup(pmw_message_t *msg);

#endif /* PMW_COMMON_POSTMARK_MESSAGE_H */
