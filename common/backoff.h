/*
 * common/backoff.h: retry delays and the Retry-After header.
 *
 * Delays are exponential with full jitter (the "Full Jitter" of AWS's
 * "Exponential Backoff and Jitter"): attempt k waits a uniformly random time
 * in [0, min(max, initial * 2^(k-1))]. Full jitter spreads the retries of
 * many workers that failed together (an outage, a 429) so they do not come
 * back in lockstep.
 *
 * Retry-After (RFC 9110 section 10.2.3) is honoured up to
 * retry.max_backoff_ms: the delay is at least what the server asked, but
 * never above the configured maximum, so a broken or hostile header cannot
 * park a worker for hours. Everything here is bounded and overflow-free for
 * any input.
 *
 * Randomness comes from a small generator whose state the caller owns and
 * seeds (from the clock and thread in production, a constant in tests), so
 * tests are deterministic and threads share nothing. It is not for secrets.
 *
 * Thread safety: no shared state; a generator state belongs to one thread
 * at a time.
 */
#ifndef PMW_COMMON_BACKOFF_H
#define PMW_COMMON_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

/* Larger Retry-After values are clamped to this: 2^31 seconds, the value
 * RFC 9111 section 1.2.2 gives for a delta-seconds that overflows. */
#define PMW_RETRY_AFTER_MAX_MS (INT64_C(2147483648) * 1000)

/**
 * @brief splitmix64: the next pseudo-random number from *state.
 * @param state borrows: any 64-bit seed, advanced on each call.
 */
uint64_t pmw_rand_next(uint64_t *state);

/**
 * @brief The delay before retry number `attempt`.
 *
 * cap = min(max_ms, initial_ms * 2^(attempt-1)), computed without overflow
 * for any attempt (attempt 0 is taken as 1); the delay is uniform in
 * [0, cap]. When retry_after_ms >= 0 the delay is
 * max(retry_after_ms, jittered delay), but never above max_ms.
 *
 * @param initial_ms retry.initial_backoff_ms (negative is taken as 0).
 * @param max_ms retry.max_backoff_ms (negative is taken as 0).
 * @param retry_after_ms what the server asked for, -1 for nothing.
 * @param rng borrows: the caller's generator state (pmw_rand_next()).
 * @returns milliseconds, in [0, max(max_ms, 0)].
 */
int64_t pmw_backoff_delay_ms(int64_t initial_ms,
                             int64_t max_ms,
                             unsigned attempt,
                             int64_t retry_after_ms,
                             uint64_t *rng);

/**
 * @brief Parses a Retry-After header value into a delay from now.
 *
 * Accepts delta-seconds ("120") and HTTP-date in all three forms RFC 9110
 * section 5.6.7 requires a recipient to accept: IMF-fixdate ("Wed, 21 Oct
 * 2015 07:28:00 GMT"), and the obsolete rfc850-date ("Wednesday, 21-Oct-15
 * 07:28:00 GMT", two-digit years read as the RFC says) and asctime-date
 * ("Wed Oct 21 07:28:00 2015"). Surrounding spaces and tabs are ignored;
 * names are matched case-insensitively; the weekday is not checked against
 * the date.
 *
 * @param value borrows: the header value, NUL-terminated.
 * @param now_wall_ms wall-clock now, ms since the epoch (pmw_clock_wall_ms).
 * @param ms receives the delay in ms: 0 for a date in the past, at most
 *        PMW_RETRY_AFTER_MAX_MS; untouched when false is returned.
 * @returns false for anything else (the caller then ignores the header).
 */
bool pmw_backoff_parse_retry_after(const char *value,
                                   int64_t now_wall_ms,
                                   int64_t *ms);

#endif /* PMW_COMMON_BACKOFF_H */
