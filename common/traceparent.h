/*
 * The trace id of a W3C Trace Context `traceparent` header
 * (https://www.w3.org/TR/trace-context/#traceparent-header), for log lines
 * about a record: "<version>-<trace-id>-<parent-id>-<flags>", each field
 * lowercase hex, 2-32-16-2 digits. A value that breaks the format yields no
 * trace id, as a tracer would ignore it:
 *   - version "ff" is invalid; version 00 is exactly 55 characters; a later
 *     version may go on after the flags, but only after a '-';
 *   - a trace id or parent id of all zeros is invalid.
 */
#ifndef KF_TRACEPARENT_H
#define KF_TRACEPARENT_H

#include "kfleet/handler.h"

#include <stdbool.h>
#include <stddef.h>

#define KF_TRACE_ID_LEN 32

/* Writes the trace id of value[0..len) and a NUL into out; false (out "")
 * when the value is not a valid traceparent. */
bool kf_traceparent_trace_id(const char *value, size_t len, char out[KF_TRACE_ID_LEN + 1]);

/* The same for the first header named "traceparent" (in any case) among
 * h[0..n): false when there is none or it is not valid. */
bool kf_trace_id_of(const kf_header *h, size_t n, char out[KF_TRACE_ID_LEN + 1]);

#endif
