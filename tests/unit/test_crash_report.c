/*
 * The crash report (dispatcher/crash_report.h): a child process takes worker
 * slots, enters "handler calls" and dies of a real fault; the parent reads
 * what it wrote to stderr, how it died, and what it noted in a real Redis.
 * The faults are the fixture handler's (tests/unit/fixtures/crashing.c).
 * What must hold: the faulting worker's mapping, handler and records first,
 * the other busy workers after it, idle ones not at all; death by the same
 * signal (a stack overflow included, on the alternate stack); the faulting
 * call, and only it, counted in the crash ledger (eos/crash_ledger.h): the
 * record when it ran alone, each partition's offset range for a batch call.
 */
#include "dispatcher/crash_report.h"
#include "eos/crash_ledger.h"
#include "handlers/loader.h"
#include "tests/unit/support/redis_server.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static kf_test_redis redis;
#define TAG "{kt:g:"

static void redis_up(void)
{
    if (!kf_test_redis_start(&redis)) fprintf(stderr, "redis: %s\n", redis.why);
}

static void redis_down(void)
{
    kf_test_redis_stop(&redis);
}

/* Each test starts from an empty ledger. */
static void flush_redis(void)
{
    redisContext *c = kf_test_redis_connect(&redis);
    ck_assert_ptr_nonnull(c);
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    redisFree(c);
}

/* ---- the child's work ---- */

static pthread_barrier_t ready;

static kf_record rec_at(const char *topic, int32_t partition, int64_t offset)
{
    return (kf_record){
        .struct_size = sizeof(kf_record), .topic = topic, .partition = partition, .offset = offset};
}

static void *busy_worker(void *arg)
{
    (void)arg;
    kf_crash_slot *s = kf_crash_slot_take("other-mapping", "other.so", TAG);
    kf_record a = rec_at("in2", 7, 1000), b = rec_at("in2", 7, 1049);
    const kf_record *v[] = {&a, &b};
    kf_crash_running(s, v, 2);
    pthread_barrier_wait(&ready);
    for (;;)
        pause();
    return NULL;
}

static void *idle_worker(void *arg)
{
    (void)arg;
    kf_crash_slot *s = kf_crash_slot_take("idle-mapping", "idle.so", TAG);
    kf_record a = rec_at("in3", 1, 5);
    const kf_record *v[] = {&a};
    kf_crash_running(s, v, 1);
    kf_crash_idle(s);
    pthread_barrier_wait(&ready);
    for (;;)
        pause();
    return NULL;
}

enum how { SEGV, ABRT, OVERFLOW, OUTSIDE, BATCH };

/* The fixture handler that crashes on a marked value: the faults are its. */
static kf_loaded_handler *crashing;

static void crash_in_handler(const char *value)
{
    kf_record r = rec_at("in", 3, 42);
    r.value = value;
    r.value_len = strlen(value);
    kf_handler_call(crashing, &r, NULL);
}

static void *crasher(void *arg)
{
    enum how how = (enum how)(intptr_t)arg;
    kf_crash_slot *s = kf_crash_slot_take("orders", "crashing.so", TAG);
    kf_record one = rec_at("in", 3, 42);
    const kf_record *v1[] = {&one};
    /* A batch call: partition 3 offsets 40..44 and partition 5 offsets 7..9,
     * interleaved as key lanes leave them. */
    kf_record b[] = {rec_at("in", 3, 40), rec_at("in", 5, 7), rec_at("in", 3, 44),
                     rec_at("in", 5, 9), rec_at("in", 3, 41)};
    const kf_record *vb[] = {&b[0], &b[1], &b[2], &b[3], &b[4]};
    if (how == BATCH)
        kf_crash_running(s, vb, 5);
    else if (how != OUTSIDE)
        kf_crash_running(s, v1, 1);
    crash_in_handler(how == ABRT ? "ABORT" : how == OVERFLOW ? "OVERFLOW" : "SEGV");
    return NULL;
}

static void child(enum how how, const char *redis_url)
{
    kf_crash_install();
    char err[256];
    crashing = kf_handler_load(KF_BINARY_DIR "/fixtures/crashing.so", "{}", err, sizeof err);
    if (!crashing) _exit(4);
    if (redis_url && kf_crash_install_redis(redis_url, err, sizeof err) != 0) _exit(3);
    pthread_barrier_init(&ready, NULL, 3);
    pthread_t a, b, c;
    pthread_create(&a, NULL, busy_worker, NULL);
    pthread_create(&b, NULL, idle_worker, NULL);
    pthread_barrier_wait(&ready);
    pthread_create(&c, NULL, crasher, (void *)(intptr_t)how);
    pthread_join(c, NULL);
    _exit(0); /* not reached */
}

/* Runs child(how) in a fork; returns its stderr, sets *sig to the signal it
 * died of (0: it exited). */
static char *run(enum how how, const char *redis_url, int *sig)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        child(how, redis_url);
    }
    close(p[1]);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(1, cap);
    ssize_t r;
    while ((r = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    close(p[0]);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return out;
}

static void expect_report(const char *out, const char *first)
{
    const char *a = strstr(out, first);
    ck_assert_msg(a, "want \"%s\" in:\n%s", first, out);
    const char *b = strstr(out, "another worker was in a handler call: mapping other-mapping, "
                                "handler other.so: a batch call of 2 records: in2[7]@1000..1049");
    ck_assert_msg(b && b > a, "the busy worker's line, after the faulting one's:\n%s", out);
    ck_assert_msg(!strstr(out, "idle-mapping"), "an idle worker was reported:\n%s", out);
    ck_assert_msg(strstr(out, "\"component\":\"crash\""), "%s", out);
}

/* The ledger of in[partition] as "field=value;..." in field order. */
static void ledger(int32_t partition, char *out, size_t len)
{
    redisContext *c = kf_test_redis_connect(&redis);
    ck_assert_ptr_nonnull(c);
    char key[128];
    kf_crash_ledger_key(key, sizeof key, "kt", "g", "in", partition);
    redisReply *r = redisCommand(c, "HGETALL %s", key);
    ck_assert_ptr_nonnull(r);
    kf_crash_entry *e = NULL;
    const char *f[16], *v[16];
    size_t pairs = r->elements / 2;
    for (size_t i = 0; i < pairs && i < 16; i++) {
        f[i] = r->element[2 * i]->str;
        v[i] = r->element[2 * i + 1]->str;
    }
    long k = kf_crash_ledger_parse(f, v, pairs, &e);
    size_t o = 0;
    out[0] = '\0';
    for (long i = 0; i < k; i++)
        o += (size_t)snprintf(out + o, len - o, "%lld+%lld=%lld%s%s;", (long long)e[i].offset,
                              (long long)e[i].n, (long long)e[i].count, e[i].sig[0] ? "/" : "",
                              e[i].sig);
    free(e);
    freeReplyObject(r);
    redisReply *t = redisCommand(c, "TTL %s", key);
    if (k > 0) ck_assert_int_gt(t->integer, 0);
    freeReplyObject(t);
    redisFree(c);
}

START_TEST(test_segv_in_a_handler)
{
    ck_assert_msg(redis.pid, "%s", redis.why);
    flush_redis();
    int sig;
    for (int round = 1; round <= 2; round++) {
        char *out = run(SEGV, redis.url, &sig);
        ck_assert_int_eq(sig, SIGSEGV);
        expect_report(out, "kfleet: SIGSEGV at address 0x8 in a handler call: mapping orders, "
                           "handler crashing.so: in[3]@42 (1 record)");
        ck_assert_msg(strstr(out, "noted the crash in the crash ledger"), "%s", out);
        free(out);
        char l[256], want[64];
        ledger(3, l, sizeof l);
        snprintf(want, sizeof want, "42+1=%d/SIGSEGV;", round);
        ck_assert_str_eq(l, want);
    }
    char other[256];
    ledger(7, other, sizeof other);
    ck_assert_str_eq(other, ""); /* the busy worker did not crash */
}
END_TEST

START_TEST(test_batch_call_noted_per_partition)
{
    ck_assert_msg(redis.pid, "%s", redis.why);
    flush_redis();
    int sig;
    char *out = run(BATCH, redis.url, &sig);
    ck_assert_int_eq(sig, SIGSEGV);
    expect_report(out, "in a handler call: mapping orders, handler crashing.so: a batch call of 5 "
                       "records: in[3]@40..44, in[5]@7..9");
    free(out);
    char l3[256], l5[256];
    ledger(3, l3, sizeof l3);
    ledger(5, l5, sizeof l5);
    ck_assert_str_eq(l3, "40+5=1;");
    ck_assert_str_eq(l5, "7+3=1;");
}
END_TEST

START_TEST(test_abort_in_a_handler)
{
    int sig;
    char *out = run(ABRT, NULL, &sig);
    ck_assert_int_eq(sig, SIGABRT);
    expect_report(out, "kfleet: SIGABRT in a handler call: mapping orders, handler crashing.so: "
                       "in[3]@42 (1 record)");
    free(out);
}
END_TEST

START_TEST(test_stack_overflow_in_a_handler)
{
    int sig;
    char *out = run(OVERFLOW, NULL, &sig);
    ck_assert_int_eq(sig, SIGSEGV);
    expect_report(out, "in a handler call: mapping orders, handler crashing.so: in[3]@42");
    free(out);
}
END_TEST

START_TEST(test_fault_outside_a_handler)
{
    int sig;
    char *out = run(OUTSIDE, NULL, &sig);
    ck_assert_int_eq(sig, SIGSEGV);
    expect_report(out, "kfleet: SIGSEGV at address 0x8 outside any handler call");
    ck_assert_msg(!strstr(out, "crash ledger"), "%s", out);
    free(out);
}
END_TEST

/* Redis down: the crash is still reported and the process still dies of it,
 * within the note's wait. */
START_TEST(test_redis_down_still_dies)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", kf_test_free_port());
    int sig;
    char *out = run(SEGV, url, &sig);
    ck_assert_int_eq(sig, SIGSEGV);
    ck_assert_msg(strstr(out, "could not note the crash in the crash ledger (cannot connect"), "%s",
                  out);
    free(out);
}
END_TEST

/* ---- the ledger's parser ---- */

START_TEST(test_ledger_parse)
{
    const char *f[] = {"sig:42", "42", "7+3", "junk", "40+5", "x+1", "9+0", "sig:7"};
    const char *v[] = {"SIGBUS", "2", "1", "5", "4", "1", "1", "SIGSEGV"};
    kf_crash_entry *e = NULL;
    long k = kf_crash_ledger_parse(f, v, 8, &e);
    ck_assert_int_eq(k, 3);
    ck_assert_int_eq(e[0].offset, 7);
    ck_assert_int_eq(e[0].n, 3);
    ck_assert_str_eq(e[0].sig, ""); /* a signal names a record alone only */
    ck_assert_int_eq(e[1].offset, 40);
    ck_assert_int_eq(e[1].n, 5);
    ck_assert_int_eq(e[1].count, 4);
    ck_assert_int_eq(e[2].offset, 42);
    ck_assert_int_eq(e[2].n, 1);
    ck_assert_int_eq(e[2].count, 2);
    ck_assert_str_eq(e[2].sig, "SIGBUS");
    free(e);
    ck_assert_int_eq(kf_crash_ledger_parse(f, v, 0, &e), 0);
    ck_assert_ptr_null(e);
}
END_TEST

/* What the committed offset has passed leaves the array and the ledger; the
 * rest stays, in order. */
START_TEST(test_ledger_prune)
{
    ck_assert_msg(redis.pid, "%s", redis.why);
    flush_redis();
    redisContext *c = kf_test_redis_connect(&redis);
    ck_assert_ptr_nonnull(c);
    char key[128];
    kf_crash_ledger_key(key, sizeof key, "kt", "g", "in", 3);
    ck_assert_str_eq(key, "{kt:g:in:3}" KF_CRASH_LEDGER_SUFFIX);
    freeReplyObject(
        redisCommand(c, "HSET %s 10 3 sig:10 SIGSEGV 20+5 1 24 1 30 2 sig:30 SIGBUS", key));
    freeReplyObject(redisCommand(c, "EXPIRE %s 600", key));
    char err[256];
    kf_crash_ledger *l = kf_crash_ledger_new(redis.url, "kt", "g", err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    kf_crash_entry *e = NULL;
    size_t n = 0;
    ck_assert_int_eq(kf_crash_ledger_load(l, "in", 3, &e, &n, err, sizeof err), KF_STATUS_OK);
    ck_assert_uint_eq(n, 4);
    /* Committed at 25: 10 and 24 are passed; 20+5 (20..24) too; 30 stays. */
    ck_assert_int_eq(kf_crash_ledger_prune(l, "in", 3, 25, e, &n, err, sizeof err), KF_STATUS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(e[0].offset, 30);
    ck_assert_str_eq(e[0].sig, "SIGBUS");
    free(e);
    char left[256];
    ledger(3, left, sizeof left);
    ck_assert_str_eq(left, "30+1=2/SIGBUS;");
    redisReply *r = redisCommand(c, "HLEN %s", key);
    ck_assert_int_eq(r->integer, 2); /* 30 and sig:30 */
    freeReplyObject(r);
    /* Nothing known of the committed offset: nothing goes. */
    n = 1;
    kf_crash_entry one = {.offset = 30, .n = 1, .count = 2};
    ck_assert_int_eq(kf_crash_ledger_prune(l, "in", 3, -1, &one, &n, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_uint_eq(n, 1);
    kf_crash_ledger_destroy(l);
    redisFree(c);
}
END_TEST

static Suite *crash_suite(void)
{
    Suite *s = suite_create("crash_report");
    TCase *tc = tcase_create("report");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, redis_up, redis_down);
    tcase_add_test(tc, test_segv_in_a_handler);
    tcase_add_test(tc, test_batch_call_noted_per_partition);
    tcase_add_test(tc, test_abort_in_a_handler);
    tcase_add_test(tc, test_stack_overflow_in_a_handler);
    tcase_add_test(tc, test_fault_outside_a_handler);
    tcase_add_test(tc, test_redis_down_still_dies);
    tcase_add_test(tc, test_ledger_parse);
    tcase_add_test(tc, test_ledger_prune);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crash_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
