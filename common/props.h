/*
 * A list of name=value properties (librdkafka properties, HTTP headers), in
 * the order the config gave them: later entries override earlier ones.
 * config/ fills and frees it; everything else only reads it.
 */
#ifndef KF_PROPS_H
#define KF_PROPS_H

#include <stddef.h>

typedef struct kf_props {
    char **names;
    char **values;
    size_t count;
} kf_props;

#endif /* KF_PROPS_H */
