/*
 * Internal to config/: reads a JSON object of properties into a kf_props.
 *
 * Ownership: the kf_props owns its arrays and strings; free them with
 * kf_config_props_free (which leaves the struct zeroed and accepts an empty
 * one). On error the kf_props holds what was read so far and must still be
 * freed.
 */
#ifndef KF_CONFIG_PROPS_H
#define KF_CONFIG_PROPS_H

#include "config/json_path.h"
#include "config/table.h"

/*
 * Reads the optional object `key` of `parent` into *p (left empty when
 * absent). `self` names where a group id belongs, for the group.id message.
 * Returns 0, or -1 with the error in jp.
 */
int kf_config_parse_props(kf_jpath *jp, const cJSON *parent, const char *key, kf_props_kind kind,
                          const char *self, kf_props *p);

void kf_config_props_free(kf_props *p);

#endif /* KF_CONFIG_PROPS_H */
