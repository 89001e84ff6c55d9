/*
 * What eos/state.c lends the other files of eos/ (the parked store,
 * eos/park.c): its argument builder, its EVALSHA with script reload, and a
 * plain command on the same connection. Not for use outside eos/.
 *
 * Threads: as kf_eos_state: one thread at a time per state.
 */
#ifndef KF_EOS_STATE_PRIV_H
#define KF_EOS_STATE_PRIV_H

#include "eos/state.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The scripts state.c loads on each connection (eos/lua/<name>.lua). */
enum {
    KF_EOS_SCRIPT_ASSIGN = 0, /* then complete, uniform complete, trim, claim */
    KF_EOS_SCRIPT_PARK = 5,
    KF_EOS_SCRIPT_PARK_TAKE = 6,
    KF_EOS_SCRIPT_COUNT = 7
};

/* A growing argument vector. Arguments are either the caller's bytes (kept
 * by pointer, never copied: values may be 1 MiB) or formatted into `arena`;
 * arena arguments are stored as offsets until the call because the arena
 * moves when it grows. Zero-initialised; kf_eos_args_free releases it. */
typedef struct kf_eos_args {
    const char **argv;
    size_t *len;
    size_t *aoff; /* SIZE_MAX: argv[i] is the caller's */
    size_t n, cap;
    char *arena;
    size_t alen, acap;
    bool oom;
} kf_eos_args;

void kf_eos_args_free(kf_eos_args *a);
/* A copy of n bytes as one argument. */
void kf_eos_arg_bytes(kf_eos_args *a, const void *p, size_t n);
void kf_eos_arg_i64(kf_eos_args *a, int64_t v);
/* The key "{prefix:group:topic:partition}:<suffix><tail>" (tail: raw bytes). */
void kf_eos_arg_key(kf_eos_args *a, const kf_eos_state *c, const char *topic, int32_t partition,
                    const char *suffix, const void *tail, size_t tail_len);

/* EVALSHA of a KF_EOS_SCRIPT_*; *out (the caller frees it) is a reply that
 * is not an error on KF_STATUS_OK; else KF_STATUS_RETRY / FAIL with err. */
int kf_eos_eval(kf_eos_state *c, int script, kf_eos_args *keys, kf_eos_args *av, redisReply **out,
                char *err, size_t errlen);
int kf_eos_bad_reply(kf_eos_state *c, const char *what, char *err, size_t errlen);

/* One plain command (binary-safe), on the state's connection. */
int kf_eos_command(kf_eos_state *c, const char *what, int argc, const char **argv,
                   const size_t *lens, redisReply **out, char *err, size_t errlen);

/* n plain commands (binary-safe) in ONE round trip: command i has argc[i]
 * arguments argv[i] of lengths lens[i]. On KF_STATUS_OK out[i] holds the
 * reply of command i, an error reply included (the caller judges it), each
 * the caller's to free; else KF_STATUS_RETRY with err and no reply kept. */
int kf_eos_pipeline(kf_eos_state *c, const char *what, size_t n, const int *argc,
                    const char *const *const *argv, const size_t *const *lens, redisReply **out,
                    char *err, size_t errlen);

const char *kf_eos_state_prefix(const kf_eos_state *c);
const char *kf_eos_state_group(const kf_eos_state *c);

#endif
