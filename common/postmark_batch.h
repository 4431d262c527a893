/*
 * common/postmark_batch.h: the request body of one Postmark batch call.
 *
 * /email/batch takes a JSON array of messages, [m1,m2,...];
 * /email/batchWithTemplates takes an object, {"Messages":[m1,m2,...]}. The
 * messages are already normalised JSON (postmark_message.h), so the builder
 * only copies bytes, never parses, and keeps the body within the batch
 * limits: at most max_messages (Postmark allows 500) and max_bytes for the
 * whole body (Postmark allows 50 MB). A message that would pass either limit
 * is refused and goes into the next batch, except that an empty batch
 * always takes one message: a message larger than max_bytes then goes
 * alone, since it cannot go any other way (the message layer has already
 * checked Postmark's 10 MB per message).
 *
 * Use: init, then (fits/add)* and finish (or take); reset for the next
 * batch keeps the memory. The struct is exposed so it can be embedded; its
 * fields are private.
 *
 * Thread safety: none; a builder belongs to one thread at a time.
 */
#ifndef PMW_COMMON_POSTMARK_BATCH_H
#define PMW_COMMON_POSTMARK_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/defs.h"
#include "common/postmark_message.h"

/* Postmark's limit of messages per batch call. */
#define PMW_BATCH_MAX_MESSAGES 500

typedef struct pmw_batch_body_s {
        pmw_buf_t buf;           /* private */
        pmw_endpoint_t endpoint; /* private */
        size_t max_messages;     /* private */
        size_t max_bytes;        /* private */
        size_t count;            /* private */
        bool finished;           /* private */
} pmw_batch_body_t;

/**
 * @brief Initialises an empty builder. Allocates nothing until the first
 *        message is added.
 * @param max_messages 1..PMW_BATCH_MAX_MESSAGES.
 * @param max_bytes the largest body, brackets and commas included.
 */
void pmw_batch_body_init(pmw_batch_body_t *bb,
                         pmw_endpoint_t endpoint,
                         size_t max_messages,
                         size_t max_bytes);

/** @brief Frees the memory. The builder may be initialised again. */
void pmw_batch_body_cleanup(pmw_batch_body_t *bb);

/**
 * @brief Empties the builder for a new batch to endpoint, keeping its
 *        memory and limits. Also allowed after finish or take.
 */
void pmw_batch_body_reset(pmw_batch_body_t *bb, pmw_endpoint_t endpoint);

/** @returns the bytes of an endpoint's body around its messages: "[]" or
 *          {"Messages":[]}; n messages add their lengths and n - 1 commas. */
size_t pmw_batch_frame_len(pmw_endpoint_t endpoint);

/** @returns true if a message of len bytes would be accepted by add. */
bool pmw_batch_body_fits(const pmw_batch_body_t *bb, size_t len);

/**
 * @brief Appends one normalised message (a JSON object), unless it does not
 *        fit (see pmw_batch_body_fits()).
 * @param msg borrows: len bytes, copied.
 * @returns true if added; false, with the body unchanged, if it does not
 *          fit. Must not be called after finish or take (reset first).
 */
bool pmw_batch_body_add(pmw_batch_body_t *bb, const char *msg, size_t len);

/** @brief pmw_batch_body_add() that also gives where the message starts
 *         in the finished body (atp, when added). */
bool pmw_batch_body_add_at(pmw_batch_body_t *bb,
                           const char *msg,
                           size_t len,
                           size_t *atp);

/** @returns the number of messages added since the last reset. */
size_t pmw_batch_body_count(const pmw_batch_body_t *bb);

/** @returns the length the body has once finished. */
size_t pmw_batch_body_len(const pmw_batch_body_t *bb);

pmw_endpoint_t pmw_batch_body_endpoint(const pmw_batch_body_t *bb);

/**
 * @brief Closes the body. An empty batch gives "[]" or {"Messages":[]}
 *        (valid JSON; the worker never sends one).
 * @param lenp receives the body's length.
 * @returns the body, borrowed: valid until the next reset or cleanup;
 *          NUL-terminated. Calling finish again returns the same body.
 */
const char *pmw_batch_body_finish(pmw_batch_body_t *bb, size_t *lenp);

/**
 * @brief Finishes the body and hands it over, so the builder can start the
 *        next batch while this one is in flight.
 * @param lenp receives the body's length.
 * @returns the body; the caller owns it and frees it with free(). The
 *          builder is left empty (as after reset, without its memory).
 */
char *pmw_batch_body_take(pmw_batch_body_t *bb, size_t *lenp) PMW_WARN_UNUSED;

#endif /* PMW_COMMON_POSTMARK_BATCH_H */
