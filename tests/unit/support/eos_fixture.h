/*
 * The fixture of the exactly-once state suites (tests/unit/test_eos_*.c):
 * a real redis-server per TCase (support/redis_server.h), emptied with
 * FLUSHALL before each test, and an inspection connection, separate from
 * the kf_eos_state under test, on which a test reads what the state left.
 *
 * The handles (state_at, state_new) use group "g"; state_new also prefix
 * "kft", and the tests topic "t", so partition p's keys are
 * "{kft:g:t:<p>}:epoch", ":runs", ":base" (EPOCH(p), RUNS(p), BASE(p));
 * DONE(p) is the one-mark-per-record set of kfleet before runs (upgrade
 * tests write it).
 *
 * The inspection helpers abort the test on an error reply, naming it.
 */
#ifndef KF_TEST_EOS_FIXTURE_H
#define KF_TEST_EOS_FIXTURE_H

#include "eos/state.h"
#include "tests/unit/support/redis_server.h"

#include <check.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAG      "{kft:g:t:0}"
#define EPOCH(p) "{kft:g:t:" #p "}:epoch"
#define RUNS(p)  "{kft:g:t:" #p "}:runs"
#define DONE(p)  "{kft:g:t:" #p "}:done"
#define BASE(p)  "{kft:g:t:" #p "}:base"

/* Adds to tc a server for its tests (an unchecked fixture: started once in
 * the runner), an empty database and a fresh inspection connection for each
 * test (a checked fixture), and a 60 s timeout. A server that did not start
 * fails each test with the reason. */
void eos_fixture_add(TCase *tc);

/* The TCase's server. */
const kf_test_redis *eos_server(void);

/* Points the inspection connection at r: a test's own server, again after
 * each restart of it. The fixture closes it after the test. */
void eos_inspect(const kf_test_redis *r);

/* A check that records nothing when it holds: Check's ck_assert writes its
 * location to a file on every pass, and some tests make millions of
 * checks. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) ck_abort_msg(__VA_ARGS__);                                                    \
    } while (0)

/* An inspection command (hiredis format); its reply, never an error, is
 * the caller's to free. */
redisReply *rcmd(const char *fmt, ...);

/* The same for a command given as an argument vector (binary-safe). */
redisReply *rcmd_argv(int argc, const char **argv, const size_t *argvlen);

/* An inspection command whose reply must be an integer: that integer. */
long long rinteger(const char *fmt, ...);

/* GET as a number; -1 when the key is missing. */
long long rget_num(const char *key);

/* HGET as a string into out ("" when missing). */
void hget(const char *key, const char *field, char *out, size_t outlen);

/* True when a member of `sink` in partition's T:runs holds offset (prefix
 * "kft"). */
bool marked(int32_t partition, int64_t offset, const char *sink);

/* The marks in partition's T:runs: the offsets at or above T:base its
 * members hold, all sinks counted. */
long long nmarked(int32_t partition);

/* The members of partition's T:runs (ZCARD). */
long long nruns(int32_t partition);

/* Writes partition's T:runs members in order, space-separated, into out:
 * "<from>/<to>/<sink>" for a run, "<from>/<to>:<mask in hex>/<sink>" for a
 * masked run. */
void runs_str(int32_t partition, char *out, size_t outlen);

/* Asserts that list `key` holds exactly the n strings of want, in order. */
void assert_list(const char *key, const char *const *want, size_t n);

/* How many times a command ran since CONFIG RESETSTAT. */
typedef struct calls_want {
    const char *cmd; /* as INFO commandstats names it: "rpush", "script|load" */
    long long calls;
} calls_want;

/* Asserts every count from one INFO commandstats, naming the command that
 * is off. */
void assert_calls_(const calls_want *want, size_t n);

/* ASSERT_CALLS({"rpush", 3}, {"zadd", 1}, ...) */
#define ASSERT_CALLS(...)                                                                          \
    do {                                                                                           \
        const calls_want want_[] = {__VA_ARGS__};                                                  \
        assert_calls_(want_, sizeof want_ / sizeof *want_);                                        \
    } while (0)

/* A handle on the server at `port` with key prefix `prefix`, group "g". */
kf_eos_state *state_at(int port, const char *prefix);

/* A handle on the TCase's server, prefix "kft". */
kf_eos_state *state_new(void);

/* Assigns partition of topic "t" (asserting KF_STATUS_OK): the new epoch. */
int64_t assign(kf_eos_state *c, int32_t partition);

/* state_new() with partitions 0 .. nparts - 1 assigned (the usual start of
 * a test): their epochs in e[0 .. nparts - 1]. */
kf_eos_state *state_assigned(int nparts, int64_t *e);

/* state_assigned() with key S a string, so that list writes to S fail with
 * WRONGTYPE. */
kf_eos_state *state_assigned_bad_S(int nparts, int64_t *e);

#endif
