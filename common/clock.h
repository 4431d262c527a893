/*
 * common/clock.h: time sources and RFC 3339 times.
 *
 * Code that makes decisions from time (backoff, token buckets, linger,
 * expiry) takes the current time as an argument, so unit tests pass any time
 * they like and never sleep; only the event loops call the clock functions.
 *
 * Units: monotonic time in microseconds (pmw_clock_mono_us), wall-clock time
 * in milliseconds since the Unix epoch, UTC (pmw_clock_wall_ms), because
 * Kafka timestamps and status records use milliseconds.
 *
 * Thread safety: all functions are thread-safe and keep no state.
 */
#ifndef PMW_COMMON_CLOCK_H
#define PMW_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* "2026-11-27T19:30:00.123Z" plus the NUL. */
#define PMW_RFC3339_MS_SIZE 25

/** @returns monotonic time in microseconds (CLOCK_MONOTONIC). */
int64_t pmw_clock_mono_us(void);

/** @returns wall-clock time in milliseconds since the epoch. */
int64_t pmw_clock_wall_ms(void);

/**
 * @brief Parses an RFC 3339 date-time ("2026-11-27T19:30:00Z",
 *        "2026-11-27T20:30:00.5+01:00"; 't', 'z' and a space separator are
 *        accepted as RFC 3339 section 5.6 allows).
 *
 * Fractions beyond milliseconds are truncated. A leap second (":60") counts
 * as the last millisecond of its minute.
 *
 * @param s borrows: the text, len bytes, need not be NUL-terminated.
 * @param msp receives milliseconds since the epoch (UTC).
 * @returns NULL, or a PMW_ERR_PARSE error naming what is wrong.
 */
pmw_error_t *
pmw_time_parse_rfc3339(const char *s, size_t len, int64_t *msp) PMW_WARN_UNUSED;

/**
 * @brief Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ",
 *        clamped to the years 1970..9999.
 * @param out at least PMW_RFC3339_MS_SIZE bytes.
 * @returns the length written (24), excluding the NUL.
 */
size_t pmw_time_format_rfc3339_ms(int64_t ms, char *out);

/** @brief Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t pmw_days_from_civil(int64_t y, unsigned m, unsigned d);

/** @returns the days of month m (1..12) of year y (Gregorian leap years). */
unsigned pmw_days_in_month(int64_t y, unsigned m);

#endif /* PMW_COMMON_CLOCK_H */
