/*
 * See kafka_conf.h. Property values are never echoed by kfleet itself
 * (they may hold secrets); librdkafka's own message is passed through.
 */
#include "common/kafka_conf.h"

#include "common/log.h"

#include <stdio.h>

int kf_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *where,
                      char *err, size_t errlen)
{
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) == RD_KAFKA_CONF_OK) return 0;
    if (where)
        snprintf(err, errlen, "%s.%s: %s", where, name, why);
    else
        snprintf(err, errlen, "%s (kfleet default): %s", name, why);
    return -1;
}

int kf_kafka_conf_apply(rd_kafka_conf_t *conf, const kf_props *p, const char *where, char *err,
                        size_t errlen)
{
    if (!p) return 0;
    for (size_t i = 0; i < p->count; i++) {
        if (kf_kafka_conf_set(conf, p->names[i], p->values[i], where, err, errlen) != 0) return -1;
    }
    return 0;
}

/* syslog levels (0 emerg .. 7 debug) to kfleet's four. */
static kf_log_level level_of(int level)
{
    if (level <= 3) return KF_LOG_ERROR;
    if (level == 4) return KF_LOG_WARN;
    if (level <= 6) return KF_LOG_INFO;
    return KF_LOG_DEBUG;
}

/* Called from librdkafka's internal threads; kf_log is thread-safe. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kf_log(level_of(level), "kafka", "%s: %s: %s", rk ? rd_kafka_name(rk) : "rdkafka", fac, buf);
}

void kf_kafka_conf_forward_logs(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
}
