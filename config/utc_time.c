/* See utc_time.h. */
#include "config/utc_time.h"

#include <ctype.h>
#include <string.h>

static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* ".fff..." into milliseconds; *p stays put when there is no fraction. */
static bool read_fraction(const char **p, int *frac)
{
    int n = 0;
    *frac = 0;
    if (**p != '.') return true;
    for ((*p)++; isdigit((unsigned char)**p); (*p)++, n++)
        if (n < 3) *frac = *frac * 10 + (**p - '0');
    if (n == 0) return false;
    for (; n < 3; n++)
        *frac *= 10;
    return true;
}

bool kf_cfg_parse_utc_ms(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, frac;
    const char *p = s;
    if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
        !read_digits(&p, 2, &d) || *p++ != 'T' || !read_digits(&p, 2, &h) || *p++ != ':' ||
        !read_digits(&p, 2, &mi) || *p++ != ':' || !read_digits(&p, 2, &sec) ||
        !read_fraction(&p, &frac))
        return false;
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 59)
        return false;
    int64_t days = d - 1;
    for (int yy = 1970; yy < y; yy++)
        days += leap(yy) ? 366 : 365;
    for (int mm = 1; mm < mo; mm++)
        days += days_in_month(y, mm);
    *ms = ((days * 24 + h) * 60 + mi) * 60 * INT64_C(1000) + sec * INT64_C(1000) + frac;
    return true;
}
