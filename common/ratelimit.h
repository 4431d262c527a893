/*
 * common/ratelimit.h: a token bucket for messages/s and requests/s.
 *
 * Tokens refill at rate_per_s up to burst. A take of n tokens is allowed
 * once min(n, burst) tokens are there, and then subtracts all n, so the
 * count may go negative (a debt that the next refills repay). That lets a
 * 500-message batch through a bucket whose burst is smaller, and keeps the
 * long-run rate exact for any n: at 1000 messages/s, with any burst, 500-
 * message batches leave every 0.5 s once the first burst is spent. A bucket
 * that only allowed takes of n <= tokens would block forever when n > burst.
 *
 * Example: rate 1000/s, burst 1000. Two batches of 500 leave at t=0 (tokens
 * 1000 -> 0); the next take of 500 is told to wait 500000 us; at t=0.5 s
 * it is allowed (tokens 500 -> 0).
 *
 * Time is an argument (monotonic microseconds, pmw_clock_mono_us()), so
 * tests simulate minutes without sleeping. Time that goes backwards refills
 * nothing and is taken as the new reference.
 *
 * The struct is exposed so it can be embedded; its fields are private.
 *
 * Thread safety: none by itself. The process's threads share one bucket per
 * server and direction; the caller holds its lock around every call.
 */
#ifndef PMW_COMMON_RATELIMIT_H
#define PMW_COMMON_RATELIMIT_H

#include <stdint.h>

typedef struct pmw_bucket_s {
        double rate;     /* private: tokens per second; 0 = unlimited */
        double burst;    /* private: most tokens held */
        double tokens;   /* private: may be negative (debt) */
        int64_t last_us; /* private: time of the last refill */
} pmw_bucket_t;

/**
 * @brief Initialises a bucket, full (burst tokens at now_us).
 * @param rate_per_s tokens per second, >= 0; 0 means unlimited.
 * @param burst most tokens held, >= 0 (0 allows one take at a time, each
 *        repaid before the next).
 * @param now_us monotonic time in microseconds.
 */
void pmw_bucket_init(pmw_bucket_t *b,
                     double rate_per_s,
                     double burst,
                     int64_t now_us);

/**
 * @brief How long until a take of n tokens would be allowed, without
 *        taking anything (for taking from two buckets at once).
 * @returns 0 if allowed now, else microseconds (>= 1).
 * @locks the caller's lock for this bucket MUST be held.
 */
int64_t pmw_bucket_wait(pmw_bucket_t *b, double n, int64_t now_us);

/**
 * @brief Takes n tokens if the bucket allows it now.

 * @param n tokens wanted, > 0 (a batch's message count, or 1 request).
 * @returns 0 if taken; otherwise the microseconds (>= 1) after which the same
 *          take would be allowed at the current rate, and nothing is taken.
 * @locks the caller's lock for this bucket MUST be held.
 */
int64_t pmw_bucket_take(pmw_bucket_t *b, double n, int64_t now_us);

/**
 * @brief Changes the rate (the 429 controller lowers and raises it). Tokens
 *        earned up to now_us are credited at the old rate; a debt stays and
 *        is repaid at the new rate. Going from unlimited to limited starts
 *        full.
 * @param rate_per_s >= 0; 0 means unlimited.
 * @locks the caller's lock for this bucket MUST be held.
 */
void pmw_bucket_set_rate(pmw_bucket_t *b, double rate_per_s, int64_t now_us);

/** @returns the current rate; 0 means unlimited.
 *  @locks the caller's lock for this bucket MUST be held. */
double pmw_bucket_rate(const pmw_bucket_t *b);

#endif /* PMW_COMMON_RATELIMIT_H */
