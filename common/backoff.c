/*
 * common/backoff.c: retry delays and Retry-After (see the header).
 */
#include "common/backoff.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/defs.h"

uint64_t pmw_rand_next(uint64_t *state) {
        /* splitmix64 (Steele, Lea, Flood 2014): one add and two multiplies,
         * every seed (0 included) gives a full-period sequence. */
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
        z          = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z          = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1, without modulo bias: draws below 2^64 mod n are
 * redrawn (fewer than one in 2^33 for any n a delay can have). */
static uint64_t uniform(uint64_t *rng, uint64_t n) {
        uint64_t threshold = (0 - n) % n;
        uint64_t r;

        do {
                r = pmw_rand_next(rng);
        } while (r < threshold);
        return r % n;
}

int64_t pmw_backoff_delay_ms(int64_t initial_ms,
                             int64_t max_ms,
                             unsigned attempt,
                             int64_t retry_after_ms,
                             uint64_t *rng) {
        unsigned shift = attempt > 0 ? attempt - 1 : 0;
        int64_t cap;
        int64_t delay;

        if (max_ms < 0)
                max_ms = 0;
        if (initial_ms <= 0)
                cap = 0;
        else if (shift >= 62 || initial_ms > (max_ms >> shift))
                /* initial_ms * 2^shift > max_ms: no need to compute it. */
                cap = max_ms;
        else
                cap = initial_ms << shift;

        delay = (int64_t)uniform(rng, (uint64_t)cap + 1);
        if (retry_after_ms > delay)
                delay = PMW_MIN(retry_after_ms, max_ms);
        return delay;
}

/* A cursor over the trimmed header value. */
typedef struct scan_s {
        const char *p, *end;
} scan_t;

static bool scan_char(scan_t *sc, char c) {
        if (sc->p < sc->end && *sc->p == c) {
                sc->p++;
                return true;
        }
        return false;
}

/* Exactly n digits. */
static bool scan_digits(scan_t *sc, int n, unsigned *v) {
        unsigned acc = 0;

        if (sc->end - sc->p < n)
                return false;
        for (int i = 0; i < n; i++) {
                char c = sc->p[i];
                if (c < '0' || c > '9')
                        return false;
                acc = acc * 10 + (unsigned)(c - '0');
        }
        sc->p += n;
        *v = acc;
        return true;
}

/* A run of letters equal (ignoring case) to one of names[]; *idx gets its
 * index. */
static bool
scan_name(scan_t *sc, const char *const *names, size_t cnt, unsigned *idx) {
        size_t len = 0;

        while (sc->p + len < sc->end &&
               ((sc->p[len] >= 'a' && sc->p[len] <= 'z') ||
                (sc->p[len] >= 'A' && sc->p[len] <= 'Z')))
                len++;
        for (size_t i = 0; i < cnt; i++) {
                if (strlen(names[i]) == len &&
                    strncasecmp(sc->p, names[i], len) == 0) {
                        sc->p += len;
                        *idx = (unsigned)i;
                        return true;
                }
        }
        return false;
}

static const char *const day_names[] = {
    "Mon",      "Tue",    "Wed",      "Thu",     "Fri",
    "Sat",      "Sun",    "Monday",   "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday",
};
static const char *const month_names[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* "HH:MM:SS" into seconds of the day; 60 is a leap second. */
static bool scan_time(scan_t *sc, int64_t *secs) {
        unsigned h, m, s;

        if (!scan_digits(sc, 2, &h) || !scan_char(sc, ':') ||
            !scan_digits(sc, 2, &m) || !scan_char(sc, ':') ||
            !scan_digits(sc, 2, &s) || h > 23 || m > 59 || s > 60)
                return false;
        *secs = (int64_t)h * 3600 + m * 60 + s;
        return true;
}

static bool scan_gmt(scan_t *sc) {
        if (sc->end - sc->p < 3 || strncasecmp(sc->p, "GMT", 3) != 0)
                return false;
        sc->p += 3;
        return true;
}

/* The year of a wall-clock time. */
static int64_t year_of(int64_t now_ms) {
        int64_t days = now_ms / 86400000 - (now_ms % 86400000 < 0);
        /* 146097 days make 400 Gregorian years, so this is off by at most
         * one year; the loops correct it. */
        int64_t y = 1970 + days * 400 / 146097;

        while (pmw_days_from_civil(y + 1, 1, 1) <= days)
                y++;
        while (pmw_days_from_civil(y, 1, 1) > days)
                y--;
        return y;
}

/* HTTP-date (RFC 9110 5.6.7) into ms since the epoch. */
static bool parse_http_date(scan_t *sc, int64_t now_ms, int64_t *date_ms) {
        unsigned wday, day, month, year;
        int64_t secs;

        if (!scan_name(sc, day_names, PMW_ARRAY_LEN(day_names), &wday))
                return false;
        if (scan_char(sc, ',')) {
                /* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" or
                 * rfc850-date "Sunday, 06-Nov-94 08:49:37 GMT". */
                if (!scan_char(sc, ' ') || !scan_digits(sc, 2, &day))
                        return false;
                if (scan_char(sc, ' ')) {
                        if (!scan_name(sc, month_names,
                                       PMW_ARRAY_LEN(month_names), &month) ||
                            !scan_char(sc, ' ') || !scan_digits(sc, 4, &year))
                                return false;
                } else {
                        unsigned yy;
                        int64_t now_year, y;
                        if (!scan_char(sc, '-') ||
                            !scan_name(sc, month_names,
                                       PMW_ARRAY_LEN(month_names), &month) ||
                            !scan_char(sc, '-') || !scan_digits(sc, 2, &yy))
                                return false;
                        /* RFC 9110: a two-digit year more than 50 years in
                         * the future is the most recent past year with
                         * those digits. So the century puts the year in
                         * (now - 50, now + 50]: "00" read in 1999 is 2000. */
                        now_year = year_of(now_ms);
                        y        = now_year - now_year % 100 + yy;
                        if (y > now_year + 50)
                                y -= 100;
                        else if (y <= now_year - 50)
                                y += 100;
                        if (y < 0 || y > 9999)
                                return false;
                        year = (unsigned)y;
                }
                if (!scan_char(sc, ' ') || !scan_time(sc, &secs) ||
                    !scan_char(sc, ' ') || !scan_gmt(sc))
                        return false;
        } else {
                /* asctime-date "Sun Nov  6 08:49:37 1994". */
                if (!scan_char(sc, ' ') ||
                    !scan_name(sc, month_names, PMW_ARRAY_LEN(month_names),
                               &month) ||
                    !scan_char(sc, ' '))
                        return false;
                if (scan_char(sc, ' ')) {
                        if (!scan_digits(sc, 1, &day))
                                return false;
                } else if (!scan_digits(sc, 2, &day)) {
                        return false;
                }
                if (!scan_char(sc, ' ') || !scan_time(sc, &secs) ||
                    !scan_char(sc, ' ') || !scan_digits(sc, 4, &year))
                        return false;
        }
        if (sc->p != sc->end)
                return false;
        month++; /* index to 1..12 */
        if (day < 1 || day > pmw_days_in_month(year, month))
                return false;
        *date_ms =
            (pmw_days_from_civil(year, month, day) * 86400 + secs) * 1000;
        return true;
}

bool pmw_backoff_parse_retry_after(const char *value,
                                   int64_t now_wall_ms,
                                   int64_t *ms) {
        scan_t sc = {value, value + strlen(value)};
        int64_t date_ms;

        while (sc.p < sc.end && (*sc.p == ' ' || *sc.p == '\t'))
                sc.p++;
        while (sc.end > sc.p && (sc.end[-1] == ' ' || sc.end[-1] == '\t'))
                sc.end--;
        if (sc.p == sc.end)
                return false;

        if (*sc.p >= '0' && *sc.p <= '9') {
                /* delta-seconds = 1*DIGIT, saturating at the clamp. */
                const int64_t max_secs = PMW_RETRY_AFTER_MAX_MS / 1000;
                int64_t secs           = 0;
                for (; sc.p < sc.end; sc.p++) {
                        if (*sc.p < '0' || *sc.p > '9')
                                return false;
                        if (secs < max_secs)
                                secs = secs * 10 + (*sc.p - '0');
                }
                *ms = PMW_MIN(secs, max_secs) * 1000;
                return true;
        }

        if (!parse_http_date(&sc, now_wall_ms, &date_ms))
                return false;
        /* Dates are within years 0..9999, so only a far-off now_wall_ms
         * could overflow the subtraction: compare first. */
        if (now_wall_ms >= date_ms)
                *ms = 0;
        else if (now_wall_ms < date_ms - PMW_RETRY_AFTER_MAX_MS)
                *ms = PMW_RETRY_AFTER_MAX_MS;
        else
                *ms = date_ms - now_wall_ms;
        return true;
}
