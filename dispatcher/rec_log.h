/*
 * Log lines about one record in flight (common/log.h, kf_log_rec): each
 * carries its mapping, its own topic, partition and offset, the trace id of
 * its W3C `traceparent` header when it has a valid one, and for a record
 * that runs as another (a redriven dead letter, dispatcher/origin.h) the
 * record it was, as source_topic, source_partition and source_offset. The
 * message text stays a sentence of its own.
 *
 * Any thread that holds the record; nothing is built when the level is off.
 */
#ifndef KF_REC_LOG_H
#define KF_REC_LOG_H

#include "common/log.h"
#include "dispatcher/record.h"

void kf_rec_log(kf_log_level lvl, const char *component, const char *mapping, const kf_rec *r,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A line about a partition's records as a whole (a Redis call for a chunk
 * of them failed): mapping, topic and partition, no offset. */
void kf_part_log(kf_log_level lvl, const char *component, const char *mapping,
                 const kf_partition *p, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
