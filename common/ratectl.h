/*
 * common/ratectl.h: the rate controller behind a token bucket, for 429s
 * (CONTRACT 3.7).
 *
 * Postmark publishes no rate limit; it answers 429 when a client is too
 * fast. The controller turns 429s into a rate: additive increase,
 * multiplicative decrease (as TCP does with loss):
 *
 *   - On a 429 the rate drops to PMW_RATECTL_DECREASE times its base: the
 *     current limit, or, while there is none (rate_limit.* = 0), the rate
 *     Postmark accepted lately: the last full second, or what was accepted
 *     so far in the current one (never divided by less than a second: the
 *     first 429 often comes a few milliseconds after start, when a rate
 *     measured over that instant would mean nothing). Requests already in
 *     flight when the rate dropped come back 429 too; 429s within
 *     PMW_RATECTL_COOLDOWN_US of a decrease do not lower it again.
 *   - Each PMW_RATECTL_COOLDOWN_US without a 429 raises the limit by
 *     PMW_RATECTL_STEP of the reference rate (the configured rate, or, when
 *     unlimited, the rate the last decrease started from).
 *   - It never goes above the configured rate. When unlimited, the limit is
 *     lifted again once it reaches twice the rate the last decrease started
 *     from with no 429 in between: Postmark's limit, whatever it was, lies
 *     behind.
 *   - It never goes below its floor (set at init: a few messages, or one
 *     request, per second), so a burst of 429s cannot stop sending.
 *
 * Example, configured 1000 messages/s: 429 -> 750; a second later without
 * 429 -> 850, then 950, then 1000. Unlimited, Postmark accepting 4000/s:
 * 429 -> 3000, then 3400, 3800, ... and unlimited again from 8000.
 *
 * Time is an argument (monotonic microseconds): tests never sleep.
 * Thread safety: none; the caller's lock protects it with its bucket.
 */
#ifndef PMW_COMMON_RATECTL_H
#define PMW_COMMON_RATECTL_H

#include <stdbool.h>
#include <stdint.h>

#define PMW_RATECTL_DECREASE    0.75
#define PMW_RATECTL_STEP        0.10
#define PMW_RATECTL_COOLDOWN_US INT64_C(1000000)

typedef struct pmw_ratectl_s {
        double configured;      /* private: 0 = unlimited */
        double rate;            /* private: current limit; 0 = none */
        double reference;       /* private: what the steps are a share of */
        double floor;           /* private: the lowest limit */
        int64_t last_change_us; /* private: last decrease or increase */
        /* private: the measured rate, over windows of one second */
        double window_count;
        int64_t window_start_us;
        double measured;
} pmw_ratectl_t;

/**
 * @param configured the configured rate; 0 = unlimited.
 * @param floor the lowest limit a 429 may bring it to (> 0).
 */
void pmw_ratectl_init(pmw_ratectl_t *c,
                      double configured,
                      double floor,
                      int64_t now_us);

/** @brief Counts n units Postmark accepted (for the measured rate). */
void pmw_ratectl_accepted(pmw_ratectl_t *c, double n, int64_t now_us);

/** @brief A 429. @returns true if the limit changed. */
bool pmw_ratectl_throttled(pmw_ratectl_t *c, int64_t now_us);

/** @brief A successful request: recovery may step the limit up.
 *  @returns true if the limit changed. */
bool pmw_ratectl_success(pmw_ratectl_t *c, int64_t now_us);

/** @returns the limit to apply; 0 means none. */
double pmw_ratectl_rate(const pmw_ratectl_t *c);

#endif /* PMW_COMMON_RATECTL_H */
