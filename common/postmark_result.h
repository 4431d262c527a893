/*
 * common/postmark_result.h: what Postmark answered to a batch request.
 *
 * Turns an HTTP response (status, Content-Type, body) or a transport failure
 * into one plain struct that the classifier (common/postmark_classify.h)
 * decides on. It only describes what came back; it never decides what to do.
 *
 * The shapes (postmark-api.md sections 4, 6, 7, 13):
 * - HTTP 2xx with a JSON array of exactly `expected` objects, each with an
 *   integer ErrorCode: one result per message, in request order
 *   (per_message). Anything else at 2xx (wrong length, an element without
 *   ErrorCode, an object, a non-JSON body) is described, never guessed at:
 *   results are correlated by index, so a short array cannot be matched.
 * - A JSON object at any status: the whole request's ErrorCode and Message.
 * - A non-JSON body (an HTML 403 from Postmark's network security layer, a
 *   proxy's 502 page, an empty 405): json is false, error_code -1, and the
 *   message quotes the start of the body, made safe to log.
 * Whether a body is JSON is decided by parsing it, not by its Content-Type:
 * a JSON error mislabelled as text/plain still carries its ErrorCode, and an
 * HTML page never parses. The Content-Type only appears in descriptions.
 *
 * The body is read with common/jsontok.h (with jansson's default
 * refusals: "\u0000", numbers that do not fit 64 bits), so a 500-result
 * answer costs one pass over the text and no allocation per message.
 *
 * Memory: per-message strings are decoded, NUL-terminated, into one buffer
 * that the response owns; they live until pmw_response_cleanup(). The
 * whole-request message is owned.
 *
 * Thread safety: a response belongs to one thread at a time; the functions
 * keep no shared state. A finished response may be read by several threads
 * at once.
 */
#ifndef PMW_COMMON_POSTMARK_RESULT_H
#define PMW_COMMON_POSTMARK_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum pmw_transport_e {
        /* An HTTP response was received. */
        PMW_TRANSPORT_OK,
        /* The request was never sent: DNS, connect or TLS handshake failed. */
        PMW_TRANSPORT_CONNECT,
        /* Timed out after the request may have been written: outcome unknown.
         */
        PMW_TRANSPORT_TIMEOUT,
        /* The connection was lost after the request was written, or libcurl
         * wanted to re-send it (CURLE_SEND_FAIL_REWIND): outcome unknown. */
        PMW_TRANSPORT_DROPPED,
} pmw_transport_t;

/* One element of a batch answer. The strings are borrowed from the
 * response (its strings buffer). */
typedef struct pmw_msg_result_s {
        int error_code;           /* ErrorCode, 0..INT_MAX */
        const char *message;      /* Postmark's Message; "" if absent */
        const char *message_id;   /* MessageID; NULL if absent */
        const char *submitted_at; /* SubmittedAt; NULL if absent */
        const char *to;           /* To; NULL if absent */
} pmw_msg_result_t;

typedef struct pmw_response_s {
        pmw_transport_t transport;
        int http_status; /* 0 when no response arrived */
        /* results[] holds exactly `expected` entries, in request order. */
        bool per_message;
        pmw_msg_result_t *results; /* owned array; NULL unless per_message */
        size_t result_cnt;
        /* The whole request's ErrorCode (0..INT_MAX), or -1 when no Postmark
         * answer carried one (transport error, non-JSON body, no ErrorCode,
         * a per-message answer). */
        int error_code;
        /* Owned, never NULL, valid UTF-8: Postmark's Message for a
         * whole-request error, otherwise the worker's description of what
         * came back ("HTTP 200: 499 results for 500 messages"). */
        char *message;
        bool json;              /* the body parsed as JSON */
        int64_t retry_after_ms; /* -1 unless the caller set it from a
                                 * Retry-After header (common/backoff.h) */
        char *strings; /* private: what the borrowed strings point into;
                        * NULL unless per_message with results */
} pmw_response_t;

/**
 * @brief Parses Postmark's answer to a request that carried `expected`
 *        messages, and initialises *resp with it.
 *
 * @param resp receives the result; its previous contents are overwritten
 *        (clean up a used response first). Free with pmw_response_cleanup().
 * @param http_status the response status (100..999).
 * @param content_type borrows: the Content-Type header value, NULL if none;
 *        only used in descriptions.
 * @param body borrows: len bytes, need not be NUL-terminated; never read
 *        past len. Not referenced after the call (the response holds
 *        copies).
 *        The caller bounds len.
 * @param expected messages in the request.
 *
 * @remark Infallible: every body gives a described response.
 * @locality any thread.
 */
void pmw_response_parse(pmw_response_t *resp,
                        int http_status,
                        const char *content_type,
                        const char *body,
                        size_t len,
                        size_t expected);

/**
 * @brief Initialises *resp for a request that got no HTTP response.
 *
 * http_status 0, error_code -1, message "<what happened>: <detail>".
 *
 * @param t the failure kind; not PMW_TRANSPORT_OK.
 * @param detail borrows, NULL allowed: what the transport said (libcurl's
 *        error buffer); copied, and made safe to log.
 */
void pmw_response_set_transport_error(pmw_response_t *resp,
                                      pmw_transport_t t,
                                      const char *detail);

/**
 * @brief Frees what the response owns, ending the life of every borrowed
 *        per-message string. The struct may be initialised again.
 */
void pmw_response_cleanup(pmw_response_t *resp);

/** @returns a short name for logs and metrics: "ok", "connect", "timeout",
 *           "dropped". */
const char *pmw_transport_name(pmw_transport_t t);

#endif /* PMW_COMMON_POSTMARK_RESULT_H */
