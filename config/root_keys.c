/*
 * The top level of the config file and its small objects: kafka, redis,
 * metrics, log. The base of every table here is the kf_config.
 */
#include "config/config.h"
#include "config/schema.h"
#include "config/validate.h"

#include <stddef.h>

static const kf_cfg_props_arg KAFKA_PROPS = {.kind = KF_PROPS_CONSUMER,
                                             .self = "mappings[].group_id"};

static const kf_cfg_key KAFKA_KEYS[] = {
    {.name = "brokers",
     .kind = KF_CFG_STRING,
     .flags = KF_CFG_REQUIRED,
     .at = offsetof(kf_config, brokers),
     .doc = "bootstrap servers"},
    {.name = "properties",
     .kind = KF_CFG_CUSTOM,
     .read = kf_cfg_read_props,
     .free = kf_cfg_free_props,
     .arg = &KAFKA_PROPS,
     .at = offsetof(kf_config, kafka),
     .type_doc = "object",
     .default_doc = "`{}`",
     .doc = "librdkafka properties for every client (SASL/SSL, tuning); kfleet owns "
            "`group.id` and the offset commits"},
};

static const kf_cfg_table KAFKA = {
    .doc = "the Kafka cluster",
    .keys = KAFKA_KEYS,
    .count = KF_CFG_COUNT(KAFKA_KEYS),
};

static const kf_cfg_key REDIS_KEYS[] = {
    {.name = "url",
     .kind = KF_CFG_STRING,
     .at = offsetof(kf_config, redis_url),
     .def_str = "redis://127.0.0.1:6379/0",
     .valid = kf_cfg_valid_redis_url,
     .expected = KF_CFG_REDIS_URL_EXPECTED,
     .range_doc = "`redis://[:password@]host:port/db`",
     .doc = "the exactly-once state, and Redis sinks without their own `url`"},
    {.name = "key_prefix",
     .kind = KF_CFG_STRING,
     .at = offsetof(kf_config, redis_key_prefix),
     .def_str = "kfleet",
     .doc = "prefix of kfleet's own Redis keys"},
};

static const kf_cfg_table REDIS = {
    .doc = "the Redis of the exactly-once state",
    .keys = REDIS_KEYS,
    .count = KF_CFG_COUNT(REDIS_KEYS),
};

static const kf_cfg_key METRICS_KEYS[] = {
    {.name = "listen",
     .kind = KF_CFG_STRING,
     .at = offsetof(kf_config, metrics_listen),
     .valid = kf_cfg_valid_listen,
     .expected = KF_CFG_LISTEN_EXPECTED,
     .default_doc = "none",
     .range_doc = "`host:port`",
     .doc = "serves `/metrics` (Prometheus), `/healthz` and `/readyz`; none when absent"},
};

static const kf_cfg_table METRICS = {
    .doc = "the metrics and health endpoint",
    .keys = METRICS_KEYS,
    .count = KF_CFG_COUNT(METRICS_KEYS),
};

static const char *const LOG_LEVELS[] = {"debug", "info", "warn", "error", NULL};

static const kf_cfg_key LOG_KEYS[] = {
    {.name = "level",
     .kind = KF_CFG_ENUM,
     .flags = KF_CFG_ENUM_NAME,
     .at = offsetof(kf_config, log_level),
     .names = LOG_LEVELS,
     .def = 1,
     .doc = "the least severe message logged (JSON lines on stderr)"},
};

static const kf_cfg_table LOG = {
    .doc = "logging",
    .keys = LOG_KEYS,
    .count = KF_CFG_COUNT(LOG_KEYS),
};

static const kf_cfg_key ROOT_KEYS[] = {
    {.name = "kafka", .kind = KF_CFG_OBJECT, .sub = &KAFKA},
    {.name = "redis", .kind = KF_CFG_OBJECT, .sub = &REDIS},
    {.name = "metrics", .kind = KF_CFG_OBJECT, .sub = &METRICS},
    {.name = "log", .kind = KF_CFG_OBJECT, .sub = &LOG},
    {.name = "shutdown_timeout_ms",
     .kind = KF_CFG_INT,
     .at = offsetof(kf_config, shutdown_timeout_ms),
     .min = 0,
     .max = 3600000,
     .def = 30000,
     .doc = "how long a graceful shutdown waits for in-flight records"},
    {.name = "mappings",
     .kind = KF_CFG_CUSTOM,
     .flags = KF_CFG_REQUIRED,
     .read = kf_cfg_read_mappings,
     .free = kf_cfg_free_mappings,
     .sub = &kf_cfg_mapping,
     .type_doc = "array of objects",
     .range_doc = "non-empty",
     .doc = "one per consumer group; several per process"},
};

const kf_cfg_table kf_cfg_root = {
    .doc = "the config file",
    .keys = ROOT_KEYS,
    .count = KF_CFG_COUNT(ROOT_KEYS),
};
