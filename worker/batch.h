/*
 * worker/batch.h: batches of jobs for one Postmark request, and the
 * batcher that fills them.
 *
 * A batch holds jobs for one (server, endpoint) pair: Postmark takes one
 * token per request, and /email/batch and /email/batchWithTemplates take
 * different message shapes. The batcher keeps one open batch per pair and
 * closes it when it reaches batch.max_messages, when the next job would
 * take its body past batch.max_bytes, or when batch.linger_ms has passed
 * since its first job. Closed batches go to the pipeline, which sends,
 * retries, splits or holds them; a batch keeps its jobs (and their order:
 * Postmark answers in request order) until its request completes.
 *
 * Ownership: a batch holds pointers to jobs it does not own (the pipeline
 * owns jobs); pmw_batch_destroy() frees only the batch and its body. While
 * a batch has a body, its jobs' normalised messages live in it (their
 * msg.body is NULL, msg.body_len kept): one copy per message while its
 * request is in flight and until the batch changes. pmw_batch_give_back()
 * gives one back (a job moving to another batch), pmw_batch_drop_body()
 * all of them; every function that changes the batch's jobs (push,
 * filter, split, build) gives them all back first, and
 * pmw_batch_destroy() frees the body with the messages of the jobs that
 * did not move (they are finished).
 * Thread safety: batches and batchers belong to one worker thread.
 */
#ifndef PMW_WORKER_BATCH_H
#define PMW_WORKER_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/postmark_message.h"
#include "worker/job.h"

typedef struct pmw_batch_s {
        int server_idx;
        pmw_endpoint_t endpoint;
        pmw_job_t **jobs; /* in request order; not owned */
        size_t cnt;
        size_t cap;
        size_t body_bytes;     /* the request body's size once built */
        int64_t opened_us;     /* first job added (linger) */
        int64_t not_before_us; /* backoff: not sent before this */
        unsigned retries;      /* whole-request retries so far */
        bool probe;            /* sent as its held server's probe */
        void *owner;           /* the pipeline that sends it */
        char *body;            /* built by pmw_batch_build_body() */
        size_t body_len;
        size_t *body_at;          /* each job's message offset in body */
        struct pmw_batch_s *next; /* queue link */
} pmw_batch_t;

pmw_batch_t *
pmw_batch_new(int server_idx, pmw_endpoint_t endpoint, int64_t now_us);

/** @brief Frees the batch and its body, not its jobs. NULL is allowed. */
void pmw_batch_destroy(pmw_batch_t *batch);

/** @brief Appends a job (borrowed). */
void pmw_batch_push(pmw_batch_t *batch, pmw_job_t *job);

/**
 * @returns true if job fits: fewer than max_messages jobs and a body of at
 *          most max_bytes with it. An empty batch takes any job.
 */
bool pmw_batch_fits(const pmw_batch_t *batch,
                    const pmw_job_t *job,
                    size_t max_messages,
                    size_t max_bytes);

/** @brief Removes the jobs for which drop() returns true (it may take
 *         them), keeping the others' order. */
void pmw_batch_filter(pmw_batch_t *batch,
                      bool (*drop)(void *opaque, pmw_job_t *job),
                      void *opaque);

/**
 * @brief Builds the request body from the jobs' normalised messages (no
 *        parsing: the bytes are spliced), replacing any earlier body. The
 *        messages move into the body: each job's msg.body is NULL until
 *        pmw_batch_drop_body() gives it back.
 */
void pmw_batch_build_body(pmw_batch_t *batch);

/**
 * @brief Gives job i its normalised message back from the body, so that it
 *        can go into another batch. No-op if the batch has no body.
 */
void pmw_batch_give_back(pmw_batch_t *batch, size_t i);

/** @brief Gives every job its message back and frees the body. No-op
 *         without a body. */
void pmw_batch_drop_body(pmw_batch_t *batch);

/**
 * @brief Moves the second half of the jobs (cnt / 2 of them) into a new
 *        batch for the same server and endpoint, for CONTRACT 3.3 splits.
 *        The batch must hold at least 2 jobs.
 * @returns the new batch, owned by the caller.
 */
pmw_batch_t *pmw_batch_split(pmw_batch_t *batch, int64_t now_us);

typedef struct pmw_batcher_s pmw_batcher_t;

/**
 * @param server_cnt configured servers (batches are per server).
 * @param linger_us batch.linger_ms in microseconds.
 */
pmw_batcher_t *pmw_batcher_new(size_t server_cnt,
                               size_t max_messages,
                               size_t max_bytes,
                               int64_t linger_us);
void pmw_batcher_destroy(pmw_batcher_t *bt);

/**
 * @brief Adds a valid job to the open batch of its server and endpoint.
 * @returns a batch that closed because the job did not fit in it (the job
 *          then opens the next batch), or that the job filled; owned by
 *          the caller. NULL otherwise.
 */
pmw_batch_t *pmw_batcher_add(pmw_batcher_t *bt, pmw_job_t *job, int64_t now_us);

/**
 * @brief Closes the open batches whose linger has passed (all of them when
 *        flush is true).
 * @returns the closed batches as a list linked by next, owned by the
 *          caller, or NULL.
 */
pmw_batch_t *
pmw_batcher_take_due(pmw_batcher_t *bt, int64_t now_us, bool flush);

/** @returns when the next open batch's linger passes; INT64_MAX if none. */
int64_t pmw_batcher_next_due(const pmw_batcher_t *bt);

/** @returns jobs in open batches. */
size_t pmw_batcher_jobs(const pmw_batcher_t *bt);

/** @brief Removes from the open batches the jobs for which drop() returns
 *         true (revoked partitions); emptied batches are freed. */
void pmw_batcher_filter(pmw_batcher_t *bt,
                        bool (*drop)(void *opaque, pmw_job_t *job),
                        void *opaque);

#endif /* PMW_WORKER_BATCH_H */
