/*
 * common/postmark_classify.h: the one place that decides what a Postmark
 * answer means for the jobs that a request carried.
 *
 * The pipeline asks twice: pmw_classify_request() on the whole response
 * (common/postmark_result.h), and, when that says PER_MESSAGE,
 * pmw_classify_message() on each element of the batch answer. Every retry,
 * split and hold decision of the worker comes from these two functions, so
 * that CONTRACT.md sections 2.3 and 3.3 to 3.5 are implemented once, as data
 * tables in postmark_classify.c, and tested as tables.
 *
 * The verdict says what to do, not how: backoff, attempt counting, the
 * outage counter (retry.hold_after_failures) and the rate controller belong
 * to the caller, which reads the flags.
 *
 * Thread safety: pure functions, no state; callable from any thread.
 */
#ifndef PMW_COMMON_POSTMARK_CLASSIFY_H
#define PMW_COMMON_POSTMARK_CLASSIFY_H

#include <stdbool.h>

#include "common/postmark_result.h"

typedef enum pmw_outcome_e {
        /* The whole request is fine: classify each message. */
        PMW_OUTCOME_PER_MESSAGE,
        /* This message: accepted (status "sent"). */
        PMW_OUTCOME_SENT,
        /* This message: rejected permanently (status "failed"). */
        PMW_OUTCOME_FAILED,
        /* Send again after backoff: the whole request, or this message
         * alone. */
        PMW_OUTCOME_RETRY,
        /* The whole request was rejected for its content: split it in
         * halves; a message that is alone when this comes back is failed. */
        PMW_OUTCOME_SPLIT,
        /* An account or configuration problem: hold the server, don't fail
         * the jobs (CONTRACT 3.5). */
        PMW_OUTCOME_HOLD,
} pmw_outcome_t;

typedef enum pmw_hold_reason_e {
        PMW_HOLD_NONE,
        PMW_HOLD_TOKEN,    /* HTTP 401 / ErrorCode 10: re-read token_file */
        PMW_HOLD_ACCOUNT,  /* ErrorCode 405, 413, 422, 1480 */
        PMW_HOLD_ENDPOINT, /* 3xx, 404, 405, 415, other 4xx: wrong base URL */
        PMW_HOLD_BLOCKED,  /* a 403 that is not Postmark's (network layer) */
        PMW_HOLD_OUTAGE,   /* set by the caller after hold_after_failures */
} pmw_hold_reason_t;

typedef struct pmw_verdict_s {
        pmw_outcome_t outcome;
        pmw_hold_reason_t hold_reason; /* PMW_HOLD_NONE unless HOLD */
        /* Postmark may have processed the request: a retry may send twice
         * (CONTRACT 3.2). */
        bool unknown_outcome;
        /* 429: the rate controller lowers the rate. */
        bool rate_limited;
        /* A whole-request failure that counts toward
         * retry.hold_after_failures (an outage); 429 does not, nor does any
         * per-message verdict. */
        bool counts_as_failure;
} pmw_verdict_t;

/**
 * @brief Decides what a whole response means.
 * @param resp borrows.
 * @returns PER_MESSAGE only when resp->per_message; otherwise RETRY, SPLIT or
 *          HOLD (never SENT or FAILED: a whole request is never final by
 *          itself; a lone message that SPLIT returns for becomes failed).
 */
pmw_verdict_t pmw_classify_request(const pmw_response_t *resp);

/**
 * @brief Decides one element of a per-message (HTTP 2xx) batch answer.
 * @param error_code its ErrorCode.
 * @param message borrows, NULL allowed: its Message (the partial-inactive 406
 *        is recognised by its text).
 * @returns SENT, FAILED, RETRY (this message alone) or HOLD.
 */
pmw_verdict_t pmw_classify_message(int error_code, const char *message);

/** @returns "per_message", "sent", "failed", "retry", "split" or "hold". */
const char *pmw_outcome_name(pmw_outcome_t o);

/** @returns "none", "token", "account", "endpoint", "blocked" or "outage". */
const char *pmw_hold_reason_name(pmw_hold_reason_t r);

#endif /* PMW_COMMON_POSTMARK_CLASSIFY_H */
