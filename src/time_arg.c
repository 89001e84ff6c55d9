#include "src/time_arg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Exactly n digits at *p, advancing it. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int iso(const char *s, int64_t *out)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return -1;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi)) return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec)) return -1;
            if (*p == '.') {
                p++;
                int scale = 100, n = 0;
                while (isdigit((unsigned char)*p)) {
                    if (n++ < 3) ms += (*p - '0') * scale, scale /= 10;
                    p++;
                }
                if (!n) return -1;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return -1;
    }
    int64_t offset_min = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    }
    if (*p) return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - offset_min * 60;
    *out = secs * 1000 + ms;
    return 0;
}

int kf_time_arg_parse(const char *s, int64_t now_ms, int64_t *out, char *err, size_t errlen)
{
    size_t n = s ? strlen(s) : 0;
    if (n && strspn(s, "0123456789") == n) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (!errno) {
            *out = v;
            return 0;
        }
    } else if (n >= 2 && strspn(s, "0123456789") == n - 1 && strchr("smhd", s[n - 1])) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        long long unit = s[n - 1] == 's'   ? 1000LL
                         : s[n - 1] == 'm' ? 60000LL
                         : s[n - 1] == 'h' ? 3600000LL
                                           : 86400000LL;
        if (!errno && v <= INT64_MAX / unit) {
            *out = now_ms - v * unit;
            return 0;
        }
    } else if (n && iso(s, out) == 0) {
        return 0;
    }
    snprintf(err, errlen,
             "\"%s\" is not a time: give milliseconds since the epoch, an ISO 8601 time such as "
             "2026-12-06T10:00:00Z, or a duration before now such as 90s, 15m, 2h or 7d",
             s ? s : "");
    return -1;
}
