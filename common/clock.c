/*
 * common/clock.c: see clock.h.
 *
 * Date arithmetic uses Howard Hinnant's days_from_civil/civil_from_days
 * algorithms rather than timegm()/gmtime_r(): they are exact for every year,
 * need no locale or TZ, and are easy to test.
 */
#include "common/clock.h"

#include <stdbool.h>
#include <time.h>

int64_t pmw_clock_mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pmw_clock_wall_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pmw_days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era  = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
        z += 719468;
        int64_t era  = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned)(z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp  = (5 * doy + 2) / 153;
        *d           = doy - (153 * mp + 2) / 5 + 1;
        *m           = mp < 10 ? mp + 3 : mp - 9;
        *y           = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned pmw_days_in_month(int64_t y, unsigned m) {
        static const unsigned dim[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
        return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Reads exactly n decimal digits at s[*pos]. */
static bool digits(const char *s, size_t len, size_t *pos, int n, unsigned *v) {
        unsigned r = 0;
        for (int i = 0; i < n; i++) {
                if (*pos >= len || s[*pos] < '0' || s[*pos] > '9')
                        return false;
                r = r * 10 + (unsigned)(s[*pos] - '0');
                (*pos)++;
        }
        *v = r;
        return true;
}

static bool expect(const char *s, size_t len, size_t *pos, const char *set) {
        if (*pos >= len)
                return false;
        for (; *set; set++) {
                if (s[*pos] == *set) {
                        (*pos)++;
                        return true;
                }
        }
        return false;
}

pmw_error_t *pmw_time_parse_rfc3339(const char *s, size_t len, int64_t *msp) {
        size_t pos = 0;
        unsigned year, mon, day, hour, min, sec, ms = 0;
        int64_t offset_min = 0;

        if (!digits(s, len, &pos, 4, &year) || !expect(s, len, &pos, "-") ||
            !digits(s, len, &pos, 2, &mon) || !expect(s, len, &pos, "-") ||
            !digits(s, len, &pos, 2, &day))
                goto bad_form;
        if (!expect(s, len, &pos, "Tt "))
                goto bad_form;
        if (!digits(s, len, &pos, 2, &hour) || !expect(s, len, &pos, ":") ||
            !digits(s, len, &pos, 2, &min) || !expect(s, len, &pos, ":") ||
            !digits(s, len, &pos, 2, &sec))
                goto bad_form;
        if (pos < len && s[pos] == '.') {
                unsigned scale = 100;
                pos++;
                if (pos >= len || s[pos] < '0' || s[pos] > '9')
                        goto bad_form;
                while (pos < len && s[pos] >= '0' && s[pos] <= '9') {
                        ms += (unsigned)(s[pos] - '0') * scale;
                        scale /= 10;
                        pos++;
                }
        }
        if (pos < len && (s[pos] == 'Z' || s[pos] == 'z')) {
                pos++;
        } else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
                int sign = s[pos] == '-' ? -1 : 1;
                unsigned oh, om;
                pos++;
                if (!digits(s, len, &pos, 2, &oh) ||
                    !expect(s, len, &pos, ":") || !digits(s, len, &pos, 2, &om))
                        goto bad_form;
                if (oh > 23 || om > 59)
                        return pmw_error_new(PMW_ERR_PARSE,
                                             "\"%.*s\": time zone offset out "
                                             "of range",
                                             (int)PMW_MIN(len, 64), s);
                offset_min = sign * (int64_t)(oh * 60 + om);
        } else {
                goto bad_form;
        }
        if (pos != len)
                goto bad_form;

        if (mon < 1 || mon > 12 || day < 1 ||
            day > pmw_days_in_month((int64_t)year, mon) || hour > 23 ||
            min > 59 || sec > 60)
                return pmw_error_new(PMW_ERR_PARSE,
                                     "\"%.*s\": date or time out of range",
                                     (int)PMW_MIN(len, 64), s);
        if (sec == 60) { /* leap second: the last instant of the minute */
                sec = 59;
                ms  = 999;
        }

        int64_t days = pmw_days_from_civil((int64_t)year, mon, day);
        int64_t secs = days * 86400 + (int64_t)hour * 3600 + (int64_t)min * 60 +
                       (int64_t)sec - offset_min * 60;
        *msp = secs * 1000 + (int64_t)ms;
        return NULL;

bad_form:
        return pmw_error_new(PMW_ERR_PARSE,
                             "\"%.*s\" is not an RFC 3339 date-time "
                             "(like 2026-11-27T19:30:00Z)",
                             (int)PMW_MIN(len, 64), s);
}

size_t pmw_time_format_rfc3339_ms(int64_t ms, char *out) {
        /* Four-digit years only: clamp to 1970..9999. */
        if (ms < 0)
                ms = 0;
        if (ms > INT64_C(253402300799999))
                ms = INT64_C(253402300799999);
        int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
        int64_t msec = ms - secs * 1000;
        int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
        int64_t sod  = secs - days * 86400;
        int64_t y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);

        /* Fixed-width digits by hand: this runs for every status record. */
        unsigned v[7] = {(unsigned)(y % 10000),
                         m,
                         d,
                         (unsigned)(sod / 3600),
                         (unsigned)(sod / 60 % 60),
                         (unsigned)(sod % 60),
                         (unsigned)msec};
        char *p       = out;
        p[0]          = (char)('0' + v[0] / 1000);
        p[1]          = (char)('0' + v[0] / 100 % 10);
        p[2]          = (char)('0' + v[0] / 10 % 10);
        p[3]          = (char)('0' + v[0] % 10);
        p[4]          = '-';
        p[5]          = (char)('0' + v[1] / 10);
        p[6]          = (char)('0' + v[1] % 10);
        p[7]          = '-';
        p[8]          = (char)('0' + v[2] / 10);
        p[9]          = (char)('0' + v[2] % 10);
        p[10]         = 'T';
        p[11]         = (char)('0' + v[3] / 10);
        p[12]         = (char)('0' + v[3] % 10);
        p[13]         = ':';
        p[14]         = (char)('0' + v[4] / 10);
        p[15]         = (char)('0' + v[4] % 10);
        p[16]         = ':';
        p[17]         = (char)('0' + v[5] / 10);
        p[18]         = (char)('0' + v[5] % 10);
        p[19]         = '.';
        p[20]         = (char)('0' + v[6] / 100);
        p[21]         = (char)('0' + v[6] / 10 % 10);
        p[22]         = (char)('0' + v[6] % 10);
        p[23]         = 'Z';
        p[24]         = '\0';
        return 24;
}
