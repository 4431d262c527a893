/*
 * common/log.h: the one logger.
 *
 * pmw_log(level, fac, fmt, ...) writes one line per event to stderr, in text
 * ("2026-11-27T19:30:00.123Z NOTICE config: message") or JSON (one object
 * per line: time, level, event (the facility), the key=value context words
 * that open the message, msg). The macro tests the level before any
 * argument is evaluated or formatted, so DEBUG lines cost nothing when off.
 *
 * Levels follow syslog (as librdkafka and redis do):
 *   ERROR  work lost or a human needed       WARN  degraded but handled
 *   NOTICE start, stop, rebalance (default)  INFO  one line per batch
 *   DEBUG  per message or request
 *
 * Secrets: every string registered with pmw_log_add_secret() (Postmark
 * tokens, secret Kafka properties) is replaced by "****" in every line before
 * it is written, as a last line of defence; callers must still not log
 * secrets or email bodies.
 *
 * Thread safety: pmw_log() may be called from any thread; lines never
 * interleave. pmw_log_setup() and pmw_log_set_sink() are for main() before
 * threads start (and for tests).
 */
#ifndef PMW_COMMON_LOG_H
#define PMW_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/defs.h"

typedef enum pmw_log_level_e {
        PMW_LOG_ERROR  = 3,
        PMW_LOG_WARN   = 4,
        PMW_LOG_NOTICE = 5,
        PMW_LOG_INFO   = 6,
        PMW_LOG_DEBUG  = 7,
} pmw_log_level_t;

typedef enum pmw_log_format_e {
        PMW_LOG_FORMAT_TEXT,
        PMW_LOG_FORMAT_JSON,
} pmw_log_format_t;

/** A sink receives each complete line (with its '\n'); for tests. */
typedef void(pmw_log_sink_t)(void *opaque, const char *line, size_t len);

#define pmw_log(level, fac, ...)                                               \
        do {                                                                   \
                if (pmw_log_enabled(level))                                    \
                        pmw_log_write(level, fac, __VA_ARGS__);                \
        } while (0)

/** @brief Sets the level and format. Default: NOTICE, text. */
void pmw_log_setup(pmw_log_level_t level, pmw_log_format_t format);

/** @returns true if lines at this level are written. */
bool pmw_log_enabled(pmw_log_level_t level);

/** @brief Formats and writes one line; use the pmw_log() macro instead. */
void pmw_log_write(pmw_log_level_t level, const char *fac, const char *fmt, ...)
    PMW_PRINTF(3, 4);

/**
 * @brief Registers a secret to be masked in every later line.
 * @param secret borrows: copied. Strings shorter than 4 bytes are ignored
 *        (masking them would garble ordinary words).
 */
void pmw_log_add_secret(const char *secret);

/** @brief Forgets every registered secret (tests). */
void pmw_log_clear_secrets(void);

/**
 * @brief Replaces every registered secret in text by "****", for text that
 *        leaves the process another way than a log line (/ready's reason,
 *        which may quote Postmark's answer or a proxy's page).
 */
void pmw_log_mask(pmw_buf_t *text);

/**
 * @brief Sends lines to sink instead of stderr; NULL restores stderr.
 * @param opaque borrows: passed to the sink.
 */
void pmw_log_set_sink(pmw_log_sink_t *sink, void *opaque);

/** @returns "error", "warn", "notice", "info" or "debug" ("unknown" for
 *           anything else). config/ keeps the names it accepts in its own
 *           key table. */
const char *pmw_log_level_name(pmw_log_level_t level);

#endif /* PMW_COMMON_LOG_H */
