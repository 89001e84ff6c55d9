/*
 * A real redis-server for the unit suites: on a free loopback port, in a
 * temporary directory of its own (its log is redis.log there), without
 * persistence (no RDB snapshots, no AOF), so every start is empty.
 *
 * Ownership: the thread that starts a server owns it. The server is killed
 * when that thread exits (PR_SET_PDEATHSIG), so neither a failed test nor a
 * killed runner leaks a process; kill, restart and stop work only in the
 * owning process, which reaps it. With Check's fork mode that means:
 *   - a server the tests of a TCase share is started by an unchecked fixture
 *     (those run in the runner process) and tests only connect to it;
 *   - a test that kills or restarts a server starts one of its own.
 *
 * Every wait is a poll of a condition with a deadline.
 */
#ifndef KF_TEST_REDIS_SERVER_H
#define KF_TEST_REDIS_SERVER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct kf_test_redis {
    pid_t pid;     /* 0 while it is not running */
    int port;      /* kept across kill and restart */
    char dir[64];  /* its working directory, removed by stop */
    char url[64];  /* "redis://127.0.0.1:<port>/0" */
    char why[768]; /* why the last start or restart failed, with the log's tail */
} kf_test_redis;

/* Starts a server on a free port (trying another port when the one picked
 * was taken meanwhile) and returns true once it answers PING; false, with a
 * sentence in r->why (e.g. redis-server is not installed), when it does not
 * within 10 s. Safe to call in an unchecked fixture: it asserts nothing. */
bool kf_test_redis_start(kf_test_redis *r);

/* SIGKILL, as a crash: returns once the process is reaped, so its port is
 * closed. Keeps the port and the directory for kf_test_redis_restart. */
void kf_test_redis_kill(kf_test_redis *r);

/* Starts the server again on the same port, empty (scripts, keys and
 * clients gone); kills it first if it still runs. Like kf_test_redis_start
 * otherwise, but without trying another port. */
bool kf_test_redis_restart(kf_test_redis *r);

/* SIGTERM (SIGKILL after 5 s), reaps it and removes its directory. Safe on
 * a server that failed to start, was killed, or was stopped already. */
void kf_test_redis_stop(kf_test_redis *r);

/* A new connection to the server (5 s timeouts); aborts the test when it
 * cannot connect. The caller frees it with redisFree. */
redisContext *kf_test_redis_connect(const kf_test_redis *r);

/* A loopback port nothing listens on right now (bound, then closed): for
 * "the server is down" without starting one. -1 when no socket could be
 * bound. */
int kf_test_free_port(void);

#endif
