/*
 * librdkafka property lists (kafka.properties, consumer, producer) and HTTP
 * header lists: JSON objects whose values become name=value strings.
 */
#include "config/config_props.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kf_config_props_free(kf_props *p)
{
    for (size_t i = 0; i < p->count; i++) {
        free(p->names[i]);
        free(p->values[i]);
    }
    free(p->names);
    free(p->values);
    memset(p, 0, sizeof(*p));
}

/* The shortest text that reads back as the same double: 0.1 stays "0.1". */
static const char *shortest_double(double d, char *buf, size_t n)
{
    snprintf(buf, n, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, n, "%.17g", d);
    return buf;
}

/* librdkafka reads only these as false; anything else is true or invalid. */
static bool rdk_false(const char *v)
{
    return strcmp(v, "false") == 0 || strcmp(v, "f") == 0 || strcmp(v, "0") == 0;
}

/* Refuses what would fight kfleet's own offset management. `self` names
 * where the consumer's group id belongs, for the message. */
static int check_consumer_prop(kf_jpath *jp, const char *name, const char *value, const cJSON *v,
                               const char *self)
{
    if ((strcmp(name, "enable.auto.commit") == 0 ||
         strcmp(name, "enable.auto.offset.store") == 0) &&
        !rdk_false(value))
        return kf_jpath_fail_got(jp, v,
                                 "kfleet commits offsets itself after the sinks acknowledge; "
                                 "expected false or no %s at all",
                                 name);
    if (strcmp(name, "group.id") == 0)
        return kf_jpath_fail_got(jp, v, "expected no group.id here (set %s instead)", self);
    return 0;
}

int kf_config_parse_props(kf_jpath *jp, const cJSON *parent, const char *key, kf_props_kind kind,
                          const char *self, kf_props *p)
{
    const cJSON *obj;
    if (kf_jpath_object(jp, parent, key, false, &obj) < 0) return -1;
    if (!obj) return 0;
    size_t mark = kf_jpath_push_key(jp, key), n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    if (n == 0) goto done;
    p->names = calloc(n, sizeof(char *));
    p->values = calloc(n, sizeof(char *));
    if (!p->names || !p->values) return kf_jpath_fail(jp, "out of memory");
    for (const cJSON *c = obj->child; c; c = c->next) {
        size_t m = kf_jpath_push_key(jp, c->string);
        char num[64];
        const char *val = NULL;
        int64_t i;
        if (!c->string[0]) return kf_jpath_fail(jp, "expected a non-empty property name");
        for (size_t j = 0; j < p->count; j++)
            if (strcmp(p->names[j], c->string) == 0)
                return kf_jpath_fail(jp, "duplicate key (each key may appear once)");
        if (cJSON_IsString(c))
            val = c->valuestring;
        else if (kind == KF_PROPS_STRINGS)
            return kf_jpath_fail_got(jp, c, "expected a string");
        else if (kf_jpath_is_integer(c, &i))
            snprintf(num, sizeof(num), "%lld", (long long)i), val = num;
        else if (cJSON_IsNumber(c))
            val = shortest_double(c->valuedouble, num, sizeof(num));
        else if (cJSON_IsBool(c))
            val = cJSON_IsTrue(c) ? "true" : "false";
        else
            return kf_jpath_fail_got(jp, c, "expected a string, number or boolean");
        if (kind == KF_PROPS_CONSUMER && check_consumer_prop(jp, c->string, val, c, self) < 0)
            return -1;
        p->names[p->count] = strdup(c->string);
        p->values[p->count] = strdup(val);
        p->count++; /* counted even when a copy failed, so kf_config_props_free frees both */
        if (!p->names[p->count - 1] || !p->values[p->count - 1])
            return kf_jpath_fail(jp, "out of memory");
        kf_jpath_pop(jp, m);
    }
done:
    kf_jpath_pop(jp, mark);
    return 0;
}
