/*
 * A loopback HTTP server for the unit suites (libmicrohttpd, a thread per
 * connection): it collects each request's body and hands the whole request
 * to the suite's callback, which records what it wants and picks the reply.
 *
 * Threads: the callback runs on the server's connection threads, one call
 * per request; it guards the suite's own state.
 */
#ifndef KF_TEST_HTTP_SERVER_H
#define KF_TEST_HTTP_SERVER_H

#include <microhttpd.h>
#include <stddef.h>

/* The most body bytes a request keeps (the rest is read and dropped). */
#define KF_TEST_BODY_MAX 4096

/* Called once per complete request: `body` holds its first `len` bytes
 * (NUL-terminated). Returns the HTTP status; *reply may be set to the
 * response body (a string that outlives the call), "" by default. */
typedef unsigned (*kf_test_http_fn)(struct MHD_Connection *c, const char *url, const char *body,
                                    size_t len, const char **reply);

/* Starts a server on a free loopback port (*port); aborts the test when it
 * cannot. */
struct MHD_Daemon *kf_test_http_start(kf_test_http_fn fn, int *port);

#endif
