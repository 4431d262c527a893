/*
 * common/error.h: the one error type of postmark-worker.
 *
 * A fallible function returns a pmw_error_t * (NULL means success) and
 * delivers its results through out-parameters. The error carries a code, a
 * complete human-readable message written where the context was known
 * ("postmark.timeout_ms: 0 is out of range 1..600000"), and a retriable
 * flag. Modelled on librdkafka's rd_kafka_error_t.
 *
 * Ownership: the caller owns the returned error and frees it with
 * pmw_error_destroy(), or passes it on (takes) to its own caller. An error is
 * either handled (logged once, counted, turned into a status record) or
 * returned, never both.
 *
 * Thread safety: an error object belongs to one thread at a time; the
 * functions have no shared state.
 */
#ifndef PMW_COMMON_ERROR_H
#define PMW_COMMON_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

#include "common/defs.h"

typedef enum pmw_errcode_e {
        PMW_ERR_INVALID = 1, /* a bad value from a user: CLI, config, job */
        PMW_ERR_PARSE,       /* malformed input: JSON, time, header */
        PMW_ERR_IO,          /* a file, pipe or socket failed */
        PMW_ERR_LIMIT,       /* a bound would be exceeded */
        PMW_ERR_TRANSPORT,   /* an HTTP request failed */
        PMW_ERR_KAFKA,       /* librdkafka reported an error */
        PMW_ERR_STATE,       /* the operation is not possible now */
} pmw_errcode_t;

typedef struct pmw_error_s pmw_error_t;

/**
 * @brief Creates a non-retriable error whose message is the printf-style
 *        formatted text. Never returns NULL (allocation failure aborts).
 */
pmw_error_t *pmw_error_new(pmw_errcode_t code, const char *fmt, ...)
    PMW_PRINTF(2, 3) PMW_WARN_UNUSED;

/** @brief As pmw_error_new(), marked retriable. */
pmw_error_t *pmw_error_new_retriable(pmw_errcode_t code, const char *fmt, ...)
    PMW_PRINTF(2, 3) PMW_WARN_UNUSED;

/**
 * @brief Adds context in front of an error's message: "<context>: <message>".
 * @param err takes: the error to wrap; the same object is returned.
 */
pmw_error_t *pmw_error_prefix(pmw_error_t *err, const char *fmt, ...)
    PMW_PRINTF(2, 3) PMW_WARN_UNUSED;

pmw_errcode_t pmw_error_code(const pmw_error_t *err);

/** @returns the message, borrowed: valid until the error is destroyed. */
const char *pmw_error_string(const pmw_error_t *err);

bool pmw_error_is_retriable(const pmw_error_t *err);

/** @brief Frees the error. NULL is allowed. */
void pmw_error_destroy(pmw_error_t *err);

#endif /* PMW_COMMON_ERROR_H */
