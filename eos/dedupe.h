/*
 * A record's business key for dedupe (config `idempotency.key`): a header
 * ("header:<name>") or a JSON field of the value ("json:<a.b.c>"; strings as
 * they are, numbers and booleans as their JSON text).
 */
#ifndef KF_BUSINESS_KEY_H
#define KF_BUSINESS_KEY_H

#include "config/config.h"
#include "kfleet/handler.h"

#include <stddef.h>

/* A heap copy of the key (the caller frees it) and its length, or NULL when
 * the record has none. */
char *kf_business_key(const kf_mapping_config *m, const kf_record *r, size_t *len);

#endif
