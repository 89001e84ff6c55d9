/*
 * A point in time on the command line (`kfleet redrive --since/--until`):
 *   1796570612206            milliseconds since the epoch
 *   2026-12-06T10:00:00Z     ISO 8601 in UTC (seconds and fraction optional;
 *   2026-12-06T10:00Z        a "+HH:MM" or "-HH:MM" offset instead of Z;
 *   2026-12-06               no zone means UTC)
 *   90s, 15m, 2h, 7d         that long before `now_ms`
 */
#ifndef KF_TIME_ARG_H
#define KF_TIME_ARG_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0 with *out in milliseconds since the epoch, or -1 with err
 * saying what a time looks like. */
int kf_time_arg_parse(const char *s, int64_t now_ms, int64_t *out, char *err, size_t errlen);

#endif
