/*
 * Filter criteria, evaluated before the handler (Lambda ESM's FilterCriteria).
 * A record passes when ANY pattern of the list matches. A pattern is a JSON
 * object whose top-level keys are "key", "value" and "headers":
 *   {"value": {"type": ["order", "refund"], "amount": [{"numeric": [">", 100]}]}}
 *   {"key": [{"prefix": "vip-"}]}
 *   {"headers": {"source": [{"exists": true}]}}
 * "value" (and "key") patterns match the record parsed as JSON when they are
 * objects, or the raw bytes as a string when they are arrays. Leaf arrays list
 * alternatives: literal strings/numbers/booleans/null, {"prefix": s},
 * {"suffix": s}, {"exists": bool}, {"anything-but": [..]} and
 * {"numeric": [op, n, (op, n)]} with op one of = < <= > >=.
 * Records that do not pass are done without being handled, and committed.
 */
#ifndef KF_FILTER_H
#define KF_FILTER_H

#include "kfleet/handler.h"

#include <stddef.h>

typedef struct kf_filter kf_filter;

/* Parses and validates `filters_json` (an array of patterns). `where` names the
 * config path for errors. NULL with err on a bad pattern. */
kf_filter *kf_filter_new(const char *filters_json, const char *where, char *err, size_t errlen);

/* 1 when the record passes (should be handled), 0 when it is filtered out.
 * Thread-safe: the filter is read-only after kf_filter_new. */
int kf_filter_match(const kf_filter *f, const kf_record *r);

void kf_filter_destroy(kf_filter *f);

#endif
