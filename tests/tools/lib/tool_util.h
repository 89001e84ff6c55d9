/*
 * What the test and bench tools (the programs in tests/tools and bench) share: a
 * monotonic clock, librdkafka property setting with a clear error, a topic's
 * partition list, and the raw record value pattern kf_produce writes and
 * kf_verify checks (one function, so the two cannot drift apart).
 *
 * Errors are printed on stderr prefixed with the program's name.
 */
#ifndef KF_TOOL_UTIL_H
#define KF_TOOL_UTIL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC. */
double tool_now_s(void);

/* rd_kafka_conf_set; 0, or -1 after printing "<prog>: property N=V: why". */
int tool_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value);

/* Every partition of `topic`, each with `offset`, from the metadata (retried
 * until timeout_s passes); NULL, after printing why, when it never came. */
rd_kafka_topic_partition_list_t *tool_partitions(rd_kafka_t *rk, const char *topic, int64_t offset,
                                                 double timeout_s);

/* The raw value of record `id`, n bytes: "#<id>#" (when it fits) then a byte
 * pattern derived from the id. */
void tool_raw_fill(unsigned char *buf, size_t n, long long id);

#endif
