/*
 * What each worker runs, for a handler that crashes the process.
 *
 * A handler is native code in the process: a SIGSEGV, SIGBUS, SIGFPE, SIGILL
 * or SIGABRT in it takes kfleet down. Before it goes, the fatal-signal
 * handler installed by kf_crash_install writes one JSON log line per worker
 * that was inside a handler call (mapping, handler, and the records of the
 * call: topic, partition, offsets), the faulting thread's first. With a
 * state Redis (kf_crash_install_redis) it also notes the faulting call in the
 * partitions' crash ledgers (eos/crash_ledger.h): the record itself when it
 * ran alone, else each partition's range of offsets in the batch call. Then
 * it dies of the same signal (default action: exit status 128 + signal, a
 * core where enabled), and the partitions' next owner reads the ledger.
 *
 * Async-signal safety: slots live in a fixed array written with relaxed
 * atomics and read by the signal handler without locks; the handler formats
 * with its own integer conversion and calls only write(2), socket calls on
 * an address resolved at install time, poll, sigaction and raise. Each worker
 * thread gets an alternate signal stack with its slot, so a stack overflow in
 * a handler is reported too.
 *
 * Threads: a worker takes a slot when it starts and gives it back when it
 * ends (kf_crash_slot_take / _give, on its own thread); kf_crash_running and
 * kf_crash_idle are called by that worker only. The install functions run
 * once, before the workers start.
 */
#ifndef KF_CRASH_REPORT_H
#define KF_CRASH_REPORT_H

#include "kfleet/handler.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kf_crash_slot kf_crash_slot;

/* Installs the fatal-signal handler for the process. Idempotent. */
void kf_crash_install(void);

/* Where the handler notes crashes: the state Redis (redis.url). Resolves the
 * host now (a signal handler cannot). Returns 0, or -1 with err (then crashes
 * are logged only). */
int kf_crash_install_redis(const char *url, char *err, size_t errlen);

/* A slot for the calling worker thread, with its alternate signal stack;
 * NULL when every slot is taken (that worker is then not named in a
 * report). `mapping`, `handler` and `tag_prefix` ("{<key prefix>:<group>:",
 * the start of the partitions' hash tags; NULL: crashes of this mapping are
 * not noted) must outlive the slot's use. */
kf_crash_slot *kf_crash_slot_take(const char *mapping, const char *handler, const char *tag_prefix);
void kf_crash_slot_give(kf_crash_slot *s);

/* The worker calls the handler on records[0..n) (one, or a batch call).
 * Their topics must stay valid until kf_crash_idle. Accepts NULL slots. */
void kf_crash_running(kf_crash_slot *s, const kf_record *const *records, size_t n);
void kf_crash_idle(kf_crash_slot *s);

/* The report for a signal, written to fd (for tests: the signal handler
 * writes it to stderr), and the crash noted in Redis when `note` is set and
 * kf_crash_install_redis succeeded. `fault_addr` is the faulting address or
 * NULL. */
void kf_crash_write_report(int fd, int sig, const void *fault_addr, int note);

#endif
