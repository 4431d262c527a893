/*
 * common/ratectl.c: see ratectl.h.
 */
#include "common/ratectl.h"

#include "common/defs.h"

void pmw_ratectl_init(pmw_ratectl_t *c,
                      double configured,
                      double floor,
                      int64_t now_us) {
        c->configured      = configured > 0 ? configured : 0;
        c->floor           = floor;
        c->rate            = c->configured;
        c->reference       = c->configured;
        c->last_change_us  = now_us;
        c->window_count    = 0;
        c->window_start_us = now_us;
        c->measured        = 0;
}

/* Closes the measurement window once it is a second old. */
static void measure(pmw_ratectl_t *c, int64_t now_us) {
        int64_t elapsed = now_us - c->window_start_us;
        if (elapsed < 1000000)
                return;
        c->measured        = c->window_count * 1e6 / (double)elapsed;
        c->window_count    = 0;
        c->window_start_us = now_us;
}

void pmw_ratectl_accepted(pmw_ratectl_t *c, double n, int64_t now_us) {
        measure(c, now_us);
        c->window_count += n;
}

/* The rate accepted lately: the last full window, or the current one if
 * it says more; a window is never taken as shorter than a second. */
static double recent_rate(const pmw_ratectl_t *c, int64_t now_us) {
        double elapsed = (double)(now_us - c->window_start_us) / 1e6;
        double current = c->window_count / PMW_MAX(elapsed, 1.0);
        return PMW_MAX(c->measured, current);
}

bool pmw_ratectl_throttled(pmw_ratectl_t *c, int64_t now_us) {
        measure(c, now_us);
        if (c->rate > 0 && now_us - c->last_change_us < PMW_RATECTL_COOLDOWN_US)
                return false;
        double base = c->rate > 0 ? c->rate : recent_rate(c, now_us);
        double rate = PMW_MAX(c->floor, base * PMW_RATECTL_DECREASE);
        if (c->configured > 0)
                rate = PMW_MIN(rate, c->configured);
        c->rate = rate;
        c->reference =
            c->configured > 0 ? c->configured : PMW_MAX(base, c->floor);
        c->last_change_us = now_us;
        return true;
}

bool pmw_ratectl_success(pmw_ratectl_t *c, int64_t now_us) {
        if (c->rate <= 0 || (c->configured > 0 && c->rate >= c->configured))
                return false;
        if (now_us - c->last_change_us < PMW_RATECTL_COOLDOWN_US)
                return false;
        c->rate += PMW_MAX(c->floor, c->reference * PMW_RATECTL_STEP);
        c->last_change_us = now_us;
        if (c->configured > 0)
                c->rate = PMW_MIN(c->rate, c->configured);
        else if (c->rate >= 2 * c->reference)
                c->rate = 0; /* well past where Postmark said stop */
        return true;
}

double pmw_ratectl_rate(const pmw_ratectl_t *c) {
        return c->rate;
}
