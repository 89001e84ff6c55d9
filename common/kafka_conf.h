/*
 * Applying kfleet's librdkafka property lists to an rd_kafka_conf_t, with
 * errors that name the property and where it came from, and routing
 * librdkafka's own log lines into kfleet's JSON log.
 *
 * Used by the consumer, the Kafka sink, the transactional producer and
 * `kfleet check`. Nothing here keeps a pointer to its arguments.
 */
#ifndef KF_KAFKA_CONF_H
#define KF_KAFKA_CONF_H

#include "common/props.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Sets one property. `where` names its origin for the message (e.g.
 * "kafka.properties" or "mappings[0].producer"; NULL for a built-in default).
 * Returns 0, or -1 with e.g.
 *   kafka.properties.linger.ms: Invalid value "soon" for configuration property "linger.ms"
 */
int kf_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *where,
                      char *err, size_t errlen);

/* Sets every property of p in order (later entries override earlier ones).
 * p may be NULL. Returns 0, or -1 with the first failure as above. */
int kf_kafka_conf_apply(rd_kafka_conf_t *conf, const kf_props *p, const char *where, char *err,
                        size_t errlen);

/* Routes librdkafka's log lines to kf_log (component "kafka"), with the
 * client name and facility in the message. Call before rd_kafka_new. */
void kf_kafka_conf_forward_logs(rd_kafka_conf_t *conf);

#endif /* KF_KAFKA_CONF_H */
