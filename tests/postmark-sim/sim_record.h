/*
 * tests/postmark-sim/sim_record.h: the --record file, one JSON line per
 * accepted message.
 *
 * Lines are appended to a memory buffer under one lock and written to the
 * file when the buffer passes 1 MB, when pmw_sim_record_flush() is called
 * (main() does every second) and at close, so a benchmark's 100,000
 * messages/s cost a memcpy each rather than a write(2). A request's lines
 * are appended at once, so they are never interleaved with another's.
 *
 * Ownership: the record owns its FILE and buffer.
 * Thread safety: every function may be called from any thread.
 */
#ifndef PMW_SIM_RECORD_H
#define PMW_SIM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct pmw_sim_record_s pmw_sim_record_t;

/**
 * @brief Opens path for appending (created if missing).
 * @param recordp receives the record.
 * @returns NULL, or a PMW_ERR_IO error naming the file and errno's text.
 */
pmw_error_t *pmw_sim_record_open(const char *path,
                                 pmw_sim_record_t **recordp) PMW_WARN_UNUSED;

/** @brief Appends complete lines (each ending in '\n'). */
void pmw_sim_record_append(pmw_sim_record_t *record,
                           const char *lines,
                           size_t len,
                           size_t n_lines);

/** @brief Writes buffered lines to the file and flushes it. */
void pmw_sim_record_flush(pmw_sim_record_t *record);

/** @returns the number of lines appended so far. */
uint64_t pmw_sim_record_lines(pmw_sim_record_t *record);

/** @brief Flushes and closes; NULL is allowed. */
void pmw_sim_record_close(pmw_sim_record_t *record);

#endif /* PMW_SIM_RECORD_H */
