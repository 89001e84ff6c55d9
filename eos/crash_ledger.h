/*
 * The crash ledger: which records crashed the process, per partition, in
 * Redis, so that whoever owns the partition next can tell a poison record
 * from bad luck (dispatcher/crash_report.h writes it as the process dies).
 *
 * One hash per partition, under the partition's hash tag (eos/state.h):
 *   T:crash   field "<offset>"      crashes in a call of that record alone
 *             field "<offset>+<n>"  crashes in a batch call of n records
 *                                   from that offset (the culprit is one of
 *                                   them)
 *             field "sig:<offset>"  the last signal's name, e.g. SIGSEGV
 * The key's TTL (KF_CRASH_LEDGER_TTL_S) is set again at every crash, so a
 * ledger nobody crashes into goes away by itself; the records it names are
 * below the committed offset by then.
 *
 * Threads: a kf_crash_ledger is one connection, used by one thread (the
 * consumer's, at assignment).
 */
#ifndef KF_CRASH_LEDGER_H
#define KF_CRASH_LEDGER_H

#include "common/status.h"

#include <stddef.h>
#include <stdint.h>

#define KF_CRASH_LEDGER_SUFFIX ":crash"
#define KF_CRASH_LEDGER_TTL_S  604800

/* What the ledger says of some offsets: a record alone (n == 1) or a batch
 * call of n records from `offset`. */
typedef struct kf_crash_entry {
    int64_t offset;
    int64_t n;
    int64_t count;
    char sig[16]; /* "" when not known */
} kf_crash_entry;

/* Parses HGETALL's pairs into entries sorted by offset (then n). Fields it
 * does not know are ignored. Returns the number of entries (*out owned by the
 * caller, NULL when 0), or -1 out of memory. */
long kf_crash_ledger_parse(const char *const *fields, const char *const *values, size_t npairs,
                           kf_crash_entry **out);

/* "{prefix:group:", the start of the hash tags of a group's partitions
 * (eos/state.h): the crash report, which cannot format in a signal handler,
 * completes it with "<topic>:<partition>}" KF_CRASH_LEDGER_SUFFIX. Malloc'd;
 * NULL when out of memory. */
char *kf_crash_ledger_tag_prefix(const char *prefix, const char *group);

/* "{prefix:group:topic:partition}:crash" into out (truncated to outlen). */
void kf_crash_ledger_key(char *out, size_t outlen, const char *prefix, const char *group,
                         const char *topic, int32_t partition);

typedef struct kf_crash_ledger kf_crash_ledger;

/* Connects lazily (never fails for a server that is down). NULL with err for
 * a bad URL or out of memory. */
kf_crash_ledger *kf_crash_ledger_new(const char *url, const char *prefix, const char *group,
                                     char *err, size_t errlen);
void kf_crash_ledger_destroy(kf_crash_ledger *l);

/* Reads a partition's ledger (one round trip, 2 s at most). KF_STATUS_OK with
 * *out / *n (possibly none), else KF_STATUS_RETRY or KF_STATUS_FAIL with err. */
int kf_crash_ledger_load(kf_crash_ledger *l, const char *topic, int32_t partition,
                         kf_crash_entry **out, size_t *n, char *err, size_t errlen);

/* Drops from e[0..*n) the entries the committed offset `floor` has passed
 * (their records are never delivered again; -1: nothing is known, nothing
 * goes), keeping the rest in order, and deletes them from the ledger. The
 * array is pruned whatever Redis answers; a stale field left behind goes
 * with the key's TTL. KF_STATUS_OK, or the delete's status with err. */
int kf_crash_ledger_prune(kf_crash_ledger *l, const char *topic, int32_t partition, int64_t floor,
                          kf_crash_entry *e, size_t *n, char *err, size_t errlen);

#endif
