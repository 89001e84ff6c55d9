/*
 * The HTTP sink's request headers, built from bytes it does not control:
 * record keys and topics, the traceparent/tracestate headers an output
 * carries, and the configured `headers`. See http_sink.c for what each
 * header means.
 *
 * Every line built here is "Name: value" (or "Name;", curl's form of an
 * empty value) with an RFC 9110 token as the name and no control character
 * but TAB in the value, so no input can add or split a header line.
 *
 * Ownership: kf_http_pct_encode returns a heap string; the header list is
 * freed with curl_slist_free_all.
 */
#ifndef KF_HTTP_HEADERS_H
#define KF_HTTP_HEADERS_H

#include "config/config.h"
#include "sinks/sink.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

/* Percent-encodes every byte but RFC 3986 unreserved ones; NULL when out of
 * memory. */
char *kf_http_pct_encode(const void *data, size_t n);

/* An RFC 9110 token (a header name). */
bool kf_http_header_name_ok(const char *s);

/* A value passed through as is: visible ASCII, spaces and TABs. */
bool kf_http_header_value_ok(const void *v, size_t n);

/*
 * The headers of one request for `msg`: Expect, Content-Type (unless
 * own_content_type), X-Kfleet-Key, X-Kfleet-Source, Idempotency-Key
 * (group_enc and sink_enc are already percent-encoded), the message's
 * traceparent and tracestate, then `extra` (the configured headers, checked
 * with the two functions above when the sink opened). NULL when out of
 * memory.
 */
struct curl_slist *kf_http_request_headers(const char *group_enc, const char *sink_enc,
                                           const kf_props *extra, bool own_content_type,
                                           const kf_sink_msg *msg);

#endif /* KF_HTTP_HEADERS_H */
