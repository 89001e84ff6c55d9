/*
 * The UTC timestamps of `starting_position`: "YYYY-MM-DDTHH:MM:SS[.fff]Z"
 * (or "+00:00" instead of "Z"). Only UTC: a local offset would make the start
 * point depend on the reader.
 */
#ifndef KF_CONFIG_UTC_TIME_H
#define KF_CONFIG_UTC_TIME_H

#include <stdbool.h>
#include <stdint.h>

/* Milliseconds since the epoch into *ms; false when s is not such a time
 * (digits beyond the third of the fraction are ignored). */
bool kf_cfg_parse_utc_ms(const char *s, int64_t *ms);

#endif /* KF_CONFIG_UTC_TIME_H */
