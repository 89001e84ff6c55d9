/*
 * Internals shared by sink implementations and their tests; not for the
 * dispatcher. The daemon reaches sinks only through sink.h.
 */
#ifndef KF_SINK_PRIV_H
#define KF_SINK_PRIV_H

#include "sinks/sink.h"

/* The implementation state `ops->open` returned, and the ops themselves. */
void *kf_sink_self(const kf_sink *s);
const kf_sink_ops *kf_sink_ops_of(const kf_sink *s);

/* Test hook (kafka_sink.c): raises a fabricated fatal error in a Kafka sink's
 * producer so that tests can exercise the recreate path. Returns 0, or -1
 * when s is not a Kafka sink. */
int kf_sink_kafka_test_fatal(kf_sink *s, const char *reason);

/* Formats one message as the stdout sink prints it: one JSON object and a
 * '\n' (stdout_sink.c, see there for the escaping rules). Returns a heap
 * string the caller frees, its length in *len; NULL when out of memory. */
char *kf_sink_stdout_format(const char *sink_name, const kf_sink_msg *msg, size_t *len);

#endif /* KF_SINK_PRIV_H */
