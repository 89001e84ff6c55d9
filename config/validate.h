/*
 * What a config string must look like beyond being a non-empty string: the
 * `valid` functions of table rows (table.h), each with the message its row
 * gives when it refuses. Shared by config/ and by the sink tables in sinks/.
 */
#ifndef KF_CONFIG_VALIDATE_H
#define KF_CONFIG_VALIDATE_H

#include <stdbool.h>

#define KF_CFG_NAME_EXPECTED      "expected a name of 1..128 characters [A-Za-z0-9._-]"
#define KF_CFG_TOPIC_EXPECTED     "expected a topic name (1..249 characters of [A-Za-z0-9._-])"
#define KF_CFG_REDIS_URL_EXPECTED "expected a redis://host:port/db URL"
#define KF_CFG_HTTP_URL_EXPECTED  "expected an http:// or https:// URL"
#define KF_CFG_LISTEN_EXPECTED    "expected \"host:port\" with a port 1..65535"

/* Mapping and sink names end up in group ids, Redis keys and metric labels:
 * 1..128 characters of [A-Za-z0-9._-]. */
bool kf_cfg_valid_name(const char *s);

/* A Kafka topic name: 1..249 characters of [A-Za-z0-9._-], not "." or "..". */
bool kf_cfg_valid_topic(const char *s);

/* A topic name, or a librdkafka regex subscription ("^..."). */
bool kf_cfg_valid_subscription(const char *s);

/* "redis://" followed by something. */
bool kf_cfg_valid_redis_url(const char *s);

/* "http://" or "https://" followed by something. */
bool kf_cfg_valid_http_url(const char *s);

/* "host:port": a non-empty host (IPv6 in brackets) and a port 1..65535. */
bool kf_cfg_valid_listen(const char *s);

/* True when s starts with prefix and has more after it. */
bool kf_cfg_has_prefix(const char *s, const char *prefix);

#endif /* KF_CONFIG_VALIDATE_H */
