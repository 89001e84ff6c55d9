/*
 * Inputs of kf_eos_state_complete for the exactly-once state suites, and
 * checks of its per-item statuses:
 *   - batch: up to BATCH_MAX items of one part, each with at most one write
 *     "<cmd> <key> <value>" (values copied);
 *   - mbatch: up to 64 items with any number of writes of any shape
 *     (arguments are string literals, kept by pointer).
 * All writes go to topic "t" (see eos_fixture.h). Batches are large: make
 * them static.
 */
#ifndef KF_TEST_EOS_BATCH_H
#define KF_TEST_EOS_BATCH_H

#include "eos/state.h"

#include <stddef.h>
#include <stdint.h>

#define BATCH_MAX 1200

typedef struct batch {
    kf_eos_item items[BATCH_MAX];
    kf_eos_write writes[BATCH_MAX];
    const char *argv[BATCH_MAX][3];
    size_t len[BATCH_MAX][3];
    char val[BATCH_MAX][32];
    size_t n;
} batch;

/* Adds an item at `offset` writing "<cmd> <key> <val>"; a mark only (no
 * write) when cmd is NULL. */
void add(batch *b, int64_t offset, const char *cmd, const char *key, const char *val);

/* Adds n items at offsets first, first + 1, ... each writing
 * "<cmd> <key> <vprefix><i>" (i from 0). */
void add_n(batch *b, int64_t first, int n, const char *cmd, const char *key, const char *vprefix);

kf_eos_part part_at(const kf_eos_item *items, size_t n, int32_t partition, int64_t epoch,
                    int64_t trim);
kf_eos_part part_of(const batch *b, int32_t partition, int64_t epoch, int64_t trim);

/* complete() of one part; asserts KF_STATUS_OK and fills status. */
void complete1(kf_eos_state *c, const char *sink, const batch *b, int32_t partition, int64_t epoch,
               int64_t trim, int *status);

/* complete() for `sink` on partition 0 of one item at `offset` writing
 * "RPUSH key val" (a mark only when key is NULL); returns its status. */
int complete_rpush(kf_eos_state *c, const char *sink, int64_t epoch, int64_t offset,
                   const char *key, const char *val);

/* Marks offsets first .. first + n - 1 done for sink "a" on partition 0
 * (marks only, no writes); each must be APPLIED. */
void complete_marks(kf_eos_state *c, int64_t epoch, int64_t first, int n);

/* Asserts list `key` holds exactly the values of b's writes, in order. */
void assert_list_of(const char *key, const batch *b);

typedef struct mbatch {
    kf_eos_item items[64];
    kf_eos_write writes[128];
    const char *argv[128][8];
    size_t nitems, nwrites;
} mbatch;

void mclear(mbatch *b);

/* Starts an item at `offset` (a mark only until wr() adds writes). */
void item(mbatch *b, int64_t offset);

/* Adds a write to the last item: wr(b, argc, argv0, argv1, ...). */
void wr(mbatch *b, int argc, ...);

/* An item at `offset` with the one write "RPUSH key val". */
void item_rpush(mbatch *b, int64_t offset, const char *key, const char *val);

kf_eos_part mpart_of(const mbatch *b, int32_t partition, int64_t epoch, int64_t trim);

/* Asserts st[i] == want[i] for the n items, naming the first that is off. */
void assert_st_(const int *st, const int *want, size_t n);

/* ASSERT_ST(st, status of item 0, status of item 1, ...) */
#define ASSERT_ST(st, ...)                                                                         \
    do {                                                                                           \
        const int want_[] = {__VA_ARGS__};                                                         \
        assert_st_((st), want_, sizeof want_ / sizeof *want_);                                     \
    } while (0)

/* Asserts st[from..to) all equal want; `what` names them in the message. */
void assert_st_all(const int *st, size_t from, size_t to, int want, const char *what);

#endif
