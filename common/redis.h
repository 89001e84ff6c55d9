/*
 * Redis URLs, connections and what their errors mean, for every part that
 * talks to Redis (the exactly-once state, the Redis sink).
 *
 *   redis://[[user]:password@]host[:port][/db]     (port 6379, db 0 by default)
 *   redis://password@host                          (no ':' means a password)
 *   unix://[[user]:password@]/path/to/socket[?db=N]
 *
 * User and password are percent-decoded; an IPv6 host goes in brackets.
 * TLS (rediss://) is refused: hiredis 0.14 has no TLS.
 *
 * Ownership: kf_redis_url_parse fills strings the caller frees with
 * kf_redis_url_free. A redisContext is not thread-safe: one per thread.
 */
#ifndef KF_REDIS_H
#define KF_REDIS_H

#include "common/status.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct kf_redis_url {
    char *host; /* NULL for a unix socket */
    int port;
    char *path;     /* the unix socket, or NULL */
    char *user;     /* NULL: AUTH <password> */
    char *password; /* NULL: no AUTH */
    int db;
    char *display; /* the URL with the password masked, for messages */
} kf_redis_url;

/* Returns 0, or -1 with a sentence in err (never containing the password). */
int kf_redis_url_parse(const char *url, kf_redis_url *out, char *err, size_t errlen);
void kf_redis_url_free(kf_redis_url *u);

/*
 * Connects, sets the command timeout (socket read/write timeout), enables TCP
 * keepalive, then AUTH and SELECT as the URL says. Blocks at most about
 * connect_timeout_ms + 2 * cmd_timeout_ms. Returns the context, or NULL with
 * a sentence in err.
 */
redisContext *kf_redis_connect(const kf_redis_url *u, int connect_timeout_ms, int cmd_timeout_ms,
                               char *err, size_t errlen);

/*
 * What an error reply means, for every Redis caller: KF_STATUS_RETRY when it
 * goes away by itself (the server is loading, busy with a script, failing
 * over, out of memory, refusing writes it cannot persist, or lost our AUTH),
 * KF_STATUS_FAIL when the same command will fail again (WRONGTYPE, a script
 * error...). *reconnect (may be NULL) is set when only a new connection
 * fixes it (a failover, a lost AUTH), and left alone otherwise.
 */
kf_status kf_redis_classify(const char *msg, bool *reconnect);

/* True when c's last error is the command timeout (hiredis reports an
 * expired SO_RCVTIMEO as the text of EAGAIN), false for any other error. */
bool kf_redis_timed_out(const redisContext *c);

#endif /* KF_REDIS_H */
