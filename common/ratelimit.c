/*
 * common/ratelimit.c: token bucket (see the header).
 */
#include "common/ratelimit.h"

#include <math.h>

#include "common/defs.h"

/* Tokens are doubles, and a refill over exactly the advertised wait can land
 * a rounding error short of the goal. So a take is allowed when it is less
 * than a nanosecond's refill away, and a wait aims half a nanosecond early:
 * waiting the advertised time always suffices, and is never a microsecond
 * longer than needed, at any rate. */
#define SLACK_US 0.001

static void refill(pmw_bucket_t *b, int64_t now_us) {
        if (now_us > b->last_us) {
                /* Unsigned: the difference of any two int64_t fits. */
                uint64_t elapsed = (uint64_t)now_us - (uint64_t)b->last_us;
                b->tokens += (double)elapsed * b->rate / 1e6;
                if (b->tokens > b->burst)
                        b->tokens = b->burst;
        }
        /* Backwards time: nothing earned, and the earlier instant becomes
         * the reference, so nothing is earned twice either. */
        b->last_us = now_us;
}

void pmw_bucket_init(pmw_bucket_t *b,
                     double rate_per_s,
                     double burst,
                     int64_t now_us) {
        b->rate    = rate_per_s;
        b->burst   = burst;
        b->tokens  = burst;
        b->last_us = now_us;
}

int64_t pmw_bucket_wait(pmw_bucket_t *b, double n, int64_t now_us) {
        double deficit_us, wait_us;

        if (b->rate <= 0)
                return 0;
        refill(b, now_us);
        /* Time until the bucket holds min(n, burst): a take larger than the
         * burst needs a full bucket, not n tokens (see the header). */
        deficit_us = (PMW_MIN(n, b->burst) - b->tokens) * 1e6 / b->rate;
        if (deficit_us <= SLACK_US)
                return 0;
        wait_us = ceil(deficit_us - SLACK_US / 2);
        if (wait_us < 1)
                return 1;
        /* A tiny rate could ask for more than int64_t holds. */
        if (wait_us >= 9.2e18)
                return INT64_MAX;
        return (int64_t)wait_us;
}

int64_t pmw_bucket_take(pmw_bucket_t *b, double n, int64_t now_us) {
        int64_t wait = pmw_bucket_wait(b, n, now_us);
        if (wait == 0 && b->rate > 0)
                b->tokens -= n;
        return wait;
}

void pmw_bucket_set_rate(pmw_bucket_t *b, double rate_per_s, int64_t now_us) {
        if (b->rate > 0) {
                refill(b, now_us);
        } else {
                /* Unlimited until now: nothing was counted, start full. */
                b->tokens  = b->burst;
                b->last_us = now_us;
        }
        b->rate = rate_per_s;
}

double pmw_bucket_rate(const pmw_bucket_t *b) {
        return b->rate;
}
