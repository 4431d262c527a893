/*
 * common/buf.h: a growable byte buffer with a hard size limit.
 *
 * Used to build request bodies, status records and log lines. Appends do not
 * return errors: the first append that would take the buffer past its limit
 * marks it failed, and every later append is ignored, so a writer checks
 * pmw_buf_failed() once at the end (as open_memstream users check ferror).
 * The contents are always NUL-terminated (the NUL is not counted in len).
 *
 * The struct is exposed so it can be embedded; its fields are private: use
 * the functions (as curl's dynbuf asks).
 *
 * Ownership: the buffer owns its memory until pmw_buf_take() hands it over.
 * Thread safety: none; one buffer belongs to one thread at a time.
 */
#ifndef PMW_COMMON_BUF_H
#define PMW_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/defs.h"

typedef struct pmw_buf_s {
        char *data;  /* private */
        size_t len;  /* private */
        size_t cap;  /* private */
        size_t max;  /* private: largest len allowed */
        bool failed; /* private: an append went past max */
} pmw_buf_t;

/** @brief Initialises an empty buffer that may grow to max bytes. */
void pmw_buf_init(pmw_buf_t *buf, size_t max);

/** @brief Frees the memory. The buffer may be initialised again. */
void pmw_buf_cleanup(pmw_buf_t *buf);

/** @brief Empties the buffer and clears the failed mark, keeping memory. */
void pmw_buf_reset(pmw_buf_t *buf);

/** @brief Shortens the contents to len bytes (len <= current length). */
void pmw_buf_truncate(pmw_buf_t *buf, size_t len);

/** @brief Makes room for at least extra more bytes without a later realloc.
 *         Marks the buffer failed if that would pass its limit. */
void pmw_buf_reserve(pmw_buf_t *buf, size_t extra);

void pmw_buf_append(pmw_buf_t *buf, const void *data, size_t len);
void pmw_buf_append_str(pmw_buf_t *buf, const char *s);
void pmw_buf_append_char(pmw_buf_t *buf, char c);
void pmw_buf_appendf(pmw_buf_t *buf, const char *fmt, ...) PMW_PRINTF(2, 3);
void pmw_buf_append_int(pmw_buf_t *buf, int64_t v);

/**
 * @brief Appends s[0..len) as a quoted JSON string.
 *
 * Escapes '"', '\\' and control characters. Bytes that are not valid UTF-8
 * (Kafka keys are arbitrary bytes) become U+FFFD, so the output is always
 * valid JSON; valid UTF-8 is copied unchanged.
 */
void pmw_buf_append_json_str(pmw_buf_t *buf, const char *s, size_t len);

/**
 * @brief As pmw_buf_append_json_str() for text already known to be valid
 *        UTF-8 (a jansson string): non-ASCII bytes are copied unchecked,
 *        which is faster on the hot path of normalising jobs.
 */
void pmw_buf_append_json_utf8(pmw_buf_t *buf, const char *s, size_t len);

/** @returns true if an append was refused because of the limit. */
bool pmw_buf_failed(const pmw_buf_t *buf);

/** @returns the contents, borrowed (never NULL; "" when empty). */
const char *pmw_buf_ptr(const pmw_buf_t *buf);
size_t pmw_buf_len(const pmw_buf_t *buf);

/**
 * @brief Hands the contents to the caller, who frees them with free(), and
 *        leaves the buffer empty. Never returns NULL.
 * @param lenp optional: receives the length.
 */
char *pmw_buf_take(pmw_buf_t *buf, size_t *lenp);

/**
 * @brief Length of the longest prefix of s[0..len) that is valid UTF-8.
 */
size_t pmw_utf8_valid_prefix(const char *s, size_t len);

#endif /* PMW_COMMON_BUF_H */
