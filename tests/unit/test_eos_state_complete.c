/*
 * kf_eos_state_complete's outcome per item (eos/state.c, the generic
 * completion script): a stale or missing epoch fences its part, which
 * writes nothing; an item done for the sink (marked, or below the
 * watermark) is skipped; a failed write fails only its item, or the run it
 * was merged into, and leaves it unmarked; merging consecutive writes into
 * runs changes neither outcome nor order; writes are binary-safe.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_stale_epoch_fenced)
{
    kf_eos_state *c = state_new();
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 3, "RPUSH", "L", "x");
    add(&b, 4, "RPUSH", "L", "y");
    int st[2];

    /* Never assigned: no epoch key counts as stale. */
    complete1(c, "a", &b, 0, 1, 10, st);
    ASSERT_ST(st, KF_EOS_FENCED, KF_EOS_FENCED);

    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 0), 2);
    for (int64_t e = 1; e <= 3; e += 2) { /* older and newer than the owner's */
        st[0] = st[1] = -1;
        complete1(c, "a", &b, 0, e, 10, st);
        ASSERT_ST(st, KF_EOS_FENCED, KF_EOS_FENCED);
    }
    /* Nothing written: no effect, no mark, no trim. */
    ck_assert_int_eq(rinteger("EXISTS L"), 0);
    ck_assert_int_eq(rinteger("EXISTS %s", RUNS(0)), 0);
    ck_assert_int_eq(rinteger("EXISTS %s", BASE(0)), 0);

    /* The owner's epoch writes (so the checks above could have failed). */
    complete1(c, "a", &b, 0, 2, -1, st);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_APPLIED);
    ck_assert_int_eq(rinteger("LLEN L"), 2);
    ck_assert_int_eq(nmarked(0), 2);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_done_not_written_again)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    ck_assert_int_eq(complete_rpush(c, "a", e, 7, "L", "v7"), KF_EOS_APPLIED);
    ck_assert_int_eq(complete_rpush(c, "a", e, 7, "L", "v7"), KF_EOS_SKIPPED);
    ck_assert_int_eq(rinteger("LLEN L"), 1);

    /* A new owner replaying the record: still done for sink a. */
    e = assign(c, 0);
    ck_assert_int_eq(complete_rpush(c, "a", e, 7, "L", "v7"), KF_EOS_SKIPPED);
    ck_assert_int_eq(rinteger("LLEN L"), 1);

    /* The same offset for another sink is its own effect. */
    ck_assert_int_eq(complete_rpush(c, "b", e, 7, "L2", "v7"), KF_EOS_APPLIED);
    ck_assert_int_eq(rinteger("LLEN L2"), 1);
    ck_assert_int_eq(nmarked(0), 2);

    /* The same record twice in one call: written once. */
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 8, "RPUSH", "L", "v8");
    add(&b, 8, "RPUSH", "L", "v8");
    int st[2];
    complete1(c, "a", &b, 0, e, -1, st);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_SKIPPED);
    ck_assert_int_eq(rinteger("LLEN L"), 2);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_complete_parts_fenced_separately)
{
    kf_eos_state *c = state_new();
    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 1), 1);
    ck_assert_int_eq(assign(c, 0), 2); /* a newer owner took partition 0 */

    static batch b[2];
    memset(b, 0, sizeof b);
    add(&b[0], 10, "RPUSH", "L0", "a");
    add(&b[0], 11, "RPUSH", "L0", "b");
    add(&b[1], 20, "RPUSH", "L1", "c");
    add(&b[1], 21, "RPUSH", "L1", "d");
    kf_eos_part parts[2] = {part_of(&b[0], 0, 1, 5), part_of(&b[1], 1, 1, -1)};
    int st[4] = {-1, -1, -1, -1};
    char err[512];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    ASSERT_ST(st, KF_EOS_FENCED, KF_EOS_FENCED, KF_EOS_APPLIED, KF_EOS_APPLIED);
    ck_assert_int_eq(rinteger("EXISTS L0"), 0);
    ck_assert_int_eq(rinteger("EXISTS %s", RUNS(0)), 0);
    ck_assert_int_eq(rinteger("EXISTS %s", BASE(0)), 0);
    ck_assert_int_eq(rinteger("LLEN L1"), 2);
    ck_assert_int_eq(nmarked(1), 2);
    assert_list_of("L1", &b[1]);

    /* No parts: nothing to do. */
    ck_assert_int_eq(kf_eos_state_complete(c, "a", NULL, 0, st, err, sizeof err), KF_STATUS_OK);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_binary_key_and_value)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    size_t n = 1 << 20;
    char *val = malloc(n);
    ck_assert_ptr_nonnull(val);
    for (size_t i = 0; i < n; i++)
        val[i] = (char)(i * 31 % 251); /* NULs included */
    static const char key[] = "bin\0key";
    const char *argv[3] = {"SET", key, val};
    size_t len[3] = {3, sizeof key - 1, n};
    kf_eos_write w = {.argc = 3, .argv = argv, .argvlen = len};
    kf_eos_item it = {.offset = 1, .writes = &w, .nwrites = 1};
    kf_eos_part p = part_at(&it, 1, 0, e, -1);
    int st[1];
    char err[512];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(st[0], KF_EOS_APPLIED);

    redisReply *r = rcmd("GET %b", key, sizeof key - 1);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(r->len, n);
    ck_assert(memcmp(r->str, val, n) == 0);
    freeReplyObject(r);
    ck_assert_int_eq(rinteger("EXISTS bin"), 0); /* not cut at the NUL */
    free(val);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_write_error_only_that_item)
{
    int64_t e;
    kf_eos_state *c = state_assigned_bad_S(1, &e);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "a");
    add(&b, 2, "RPUSH", "S", "b"); /* WRONGTYPE */
    add(&b, 3, "RPUSH", "L", "c");
    int st[4];
    kf_eos_part p = part_of(&b, 0, e, -1);
    char err[512] = "";
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_ERROR, KF_EOS_APPLIED);
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    ck_assert_int_eq(rinteger("LLEN L"), 2);
    ck_assert_int_eq(nmarked(0), 2);
    ck_assert(!marked(0, 2, "a"));

    /* An item with two writes where the second fails: unmarked, and (Lua
     * scripts do not roll back) its first write stays, as documented. */
    const char *w1[3] = {"RPUSH", "L", "d"}, *w2[3] = {"RPUSH", "S", "e"};
    kf_eos_write ws[2] = {{.argc = 3, .argv = w1}, {.argc = 3, .argv = w2}};
    kf_eos_item it = {.offset = 4, .writes = ws, .nwrites = 2};
    p = part_at(&it, 1, 0, e, -1);
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(st[0], KF_EOS_ERROR);
    ck_assert_int_eq(rinteger("LLEN L"), 3);
    ck_assert_int_eq(nmarked(0), 2);

    /* A bad write (no arguments) is refused before any round trip. */
    kf_eos_write bad = {.argc = 0, .argv = w1};
    it = (kf_eos_item){.offset = 5, .writes = &bad, .nwrites = 1};
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_FAIL);
    ck_assert_int_eq(kf_eos_state_complete(c, "", &p, 1, st, err, sizeof err), KF_STATUS_FAIL);
    kf_eos_state_destroy(c);
}
END_TEST

/* Runs broken by another key, by another command and by a two-write item;
 * skipped items (marked, below base) inside runs; every mergeable command. */
START_TEST(test_complete_mixed_runs)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    /* Base 10, and offsets 12 and 15 already done for sink a. */
    static mbatch m;
    mclear(&m);
    item(&m, 12);
    item(&m, 15);
    kf_eos_part p = mpart_of(&m, 0, e, 10);
    int st[64];
    char err[512] = "";
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(rget_num(BASE(0)), 10);
    freeReplyObject(rcmd("SET K3 gone"));
    freeReplyObject(rcmd("HSET H2 f1 1 f2 2 f3 3"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));

    mclear(&m);
    item_rpush(&m, 5, "L", "b5"); /* below base: SKIPPED */
    item_rpush(&m, 11, "L", "a11");
    item_rpush(&m, 12, "L", "a12"); /* marked: SKIPPED */
    item_rpush(&m, 13, "L", "a13");
    item_rpush(&m, 14, "M", "m14"); /* another key */
    item_rpush(&m, 15, "M", "m15"); /* marked: SKIPPED */
    item_rpush(&m, 16, "L", "a16");
    item(&m, 17), wr(&m, 4, "HSET", "H", "f", "1");
    item(&m, 18), wr(&m, 4, "HSET", "H", "g", "2");
    item(&m, 19), wr(&m, 6, "HSET", "H", "f", "3", "h", "x"); /* f again: 3 wins */
    item_rpush(&m, 20, "L", "a20"), wr(&m, 4, "HSET", "H", "g", "20");
    item(&m, 21), wr(&m, 4, "HSET", "H", "g", "4"); /* after item 20: 4 wins */
    item_rpush(&m, 22, "L", "a22");
    item(&m, 23), wr(&m, 3, "SET", "K1", "v23");
    item(&m, 24), wr(&m, 3, "SET", "K2", "v24");
    item(&m, 25), wr(&m, 3, "SET", "K1", "v25"); /* K1 again: v25 wins */
    item(&m, 26), wr(&m, 2, "DEL", "K2");
    item(&m, 27), wr(&m, 2, "DEL", "K3");
    item(&m, 28), wr(&m, 3, "LPUSH", "Q", "x");
    item(&m, 29), wr(&m, 4, "LPUSH", "Q", "y", "z");
    item(&m, 30), wr(&m, 3, "SADD", "Z", "a");
    item(&m, 31), wr(&m, 3, "SADD", "Z", "b");
    item(&m, 32), wr(&m, 3, "HDEL", "H2", "f1");
    item(&m, 33); /* a mark only: does not end the run */
    item(&m, 34), wr(&m, 3, "HDEL", "H2", "f2");
    item(&m, 35), wr(&m, 5, "SET", "K4", "v35", "PX", "60000"); /* not merged */
    item(&m, 36), wr(&m, 3, "SET", "K5", "v36");
    size_t n = m.nitems;
    p = mpart_of(&m, 0, e, -1);
    for (size_t i = 0; i < n; i++)
        st[i] = -1;
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    for (size_t i = 0; i < n; i++) {
        int64_t off = m.items[i].offset;
        int want = off == 5 || off == 12 || off == 15 ? KF_EOS_SKIPPED : KF_EOS_APPLIED;
        ck_assert_msg(st[i] == want, "offset %" PRId64 ": status %d, want %d", off, st[i], want);
        ck_assert_msg(marked(0, off, "a") == (off >= 11), "offset %" PRId64 " mark", off);
    }
    ck_assert_int_eq(nmarked(0), 26); /* 11..36 */

    static const char *const l[] = {"a11", "a13", "a16", "a20", "a22"};
    assert_list("L", l, 5);
    static const char *const mm[] = {"m14"};
    assert_list("M", mm, 1);
    static const char *const q[] = {"z", "y", "x"};
    assert_list("Q", q, 3);
    char v[64];
    hget("H", "f", v, sizeof v);
    ck_assert_str_eq(v, "3");
    hget("H", "g", v, sizeof v);
    ck_assert_str_eq(v, "4");
    hget("H", "h", v, sizeof v);
    ck_assert_str_eq(v, "x");
    redisReply *r = rcmd("GET K1");
    ck_assert_str_eq(r->str, "v25");
    freeReplyObject(r);
    ck_assert_int_eq(rinteger("EXISTS K2"), 0);
    ck_assert_int_eq(rinteger("EXISTS K3"), 0);
    ck_assert_int_eq(rinteger("SCARD Z"), 2);
    ck_assert_int_eq(rinteger("HLEN H2"), 1);
    hget("H2", "f3", v, sizeof v);
    ck_assert_str_eq(v, "3");
    long long ttl = rinteger("PTTL K4");
    ck_assert_msg(ttl > 0 && ttl <= 60000, "PTTL K4 %lld", ttl);
    r = rcmd("GET K5");
    ck_assert_str_eq(r->str, "v36");
    freeReplyObject(r);

    /* The calls Redis ran: RPUSH runs {11,13} {14} {16}, item 20's, {22};
     * HSET runs {17,18,19}, item 20's, {21}; one MSET {23,24,25}; one DEL
     * {26,27}; one LPUSH, SADD, HDEL each; SET for 35 and 36 (a run of one
     * stays a SET). One ZRANGEBYSCORE reads the runs, one ZADD adds them. */
    ASSERT_CALLS({"rpush", 5}, {"hset", 3}, {"mset", 1}, {"set", 2}, {"del", 1}, {"lpush", 1},
                 {"sadd", 1}, {"hdel", 1}, {"zrangebyscore", 1}, {"zadd", 1}, {"zmscore", 0});
    kf_eos_state_destroy(c);
}
END_TEST

/* A merged run that fails (RPUSH onto a string): every item of that run is
 * an error and unmarked, nothing of it written; other runs unaffected. */
START_TEST(test_complete_run_error)
{
    int64_t e;
    kf_eos_state *c = state_assigned_bad_S(1, &e);
    static mbatch m;
    mclear(&m);
    item_rpush(&m, 1, "L", "a");
    item_rpush(&m, 2, "L", "b");
    item_rpush(&m, 3, "S", "c"); /* WRONGTYPE run: 3, 4, 5 */
    item_rpush(&m, 4, "S", "d");
    item_rpush(&m, 5, "S", "e");
    item_rpush(&m, 6, "L", "f");
    item(&m, 7), wr(&m, 4, "HSET", "H", "k", "1");
    item(&m, 8), wr(&m, 4, "HSET", "H", "k", "2");
    kf_eos_part p = mpart_of(&m, 0, e, -1);
    int st[8];
    char err[512] = "";
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    static const int want[8] = {KF_EOS_APPLIED, KF_EOS_APPLIED, KF_EOS_ERROR,   KF_EOS_ERROR,
                                KF_EOS_ERROR,   KF_EOS_APPLIED, KF_EOS_APPLIED, KF_EOS_APPLIED};
    assert_st_(st, want, 8);
    ck_assert_msg(strncmp(err, "WRONGTYPE", 9) == 0, "err: %s", err);
    ASSERT_CALLS({"rpush", 3} /* {1,2} {3,4,5} {6}: merged */, {"hset", 1});
    redisReply *r = rcmd("GET S");
    ck_assert_str_eq(r->str, "str");
    freeReplyObject(r);
    static const char *const l[] = {"a", "b", "f"};
    assert_list("L", l, 3);
    char v[16];
    hget("H", "k", v, sizeof v);
    ck_assert_str_eq(v, "2");
    for (int i = 0; i < 8; i++)
        ck_assert_msg(marked(0, i + 1, "a") == (want[i] == KF_EOS_APPLIED), "offset %d mark",
                      i + 1);
    ck_assert_int_eq(nmarked(0), 5);

    /* The failed records are retried once the key is fixed: only they run. */
    freeReplyObject(rcmd("DEL S"));
    for (int i = 0; i < 8; i++)
        st[i] = -1;
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(st[i], want[i] == KF_EOS_ERROR ? KF_EOS_APPLIED : KF_EOS_SKIPPED);
    static const char *const s[] = {"c", "d", "e"};
    assert_list("S", s, 3);
    assert_list("L", l, 3);
    ck_assert_int_eq(nmarked(0), 8);
    kf_eos_state_destroy(c);
}
END_TEST

/* An offset given twice in one part is written once, after its earlier
 * copy's outcome: SKIPPED after an APPLIED copy, run after a failed one. */
START_TEST(test_complete_repeated_offset)
{
    int64_t e;
    kf_eos_state *c = state_assigned_bad_S(1, &e);
    static mbatch m;
    mclear(&m);
    item_rpush(&m, 1, "L", "p");
    item_rpush(&m, 1, "L", "q"); /* same run key: still once */
    item_rpush(&m, 2, "S", "x"); /* fails */
    item_rpush(&m, 2, "L", "y"); /* so this one runs */
    item_rpush(&m, 2, "L", "z"); /* and this one is done */
    item_rpush(&m, 3, "L", "r");
    kf_eos_part p = mpart_of(&m, 0, e, -1);
    int st[6];
    char err[512] = "";
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    ASSERT_ST(st, KF_EOS_APPLIED, KF_EOS_SKIPPED, KF_EOS_ERROR, KF_EOS_APPLIED, KF_EOS_SKIPPED,
              KF_EOS_APPLIED);
    static const char *const l[] = {"p", "y", "r"};
    assert_list("L", l, 3);
    ck_assert_int_eq(nmarked(0), 3);
    kf_eos_state_destroy(c);
}
END_TEST

/* A fenced part with runs, a two-write item and writes of every shape:
 * nothing written, every item FENCED, not even a read of the runs; a live part after
 * it in the same call still finds its own keys and values. */
START_TEST(test_complete_fenced_runs)
{
    kf_eos_state *c = state_new();
    ck_assert_int_eq(assign(c, 0), 1);
    ck_assert_int_eq(assign(c, 0), 2);
    int64_t e1 = assign(c, 1);
    static mbatch f, l;
    mclear(&f);
    mclear(&l);
    item_rpush(&f, 1, "F", "a");
    item_rpush(&f, 2, "F", "b");
    item(&f, 3), wr(&f, 4, "HSET", "FH", "k", "v");
    item_rpush(&f, 4, "F", "c"), wr(&f, 1, "PING");
    item(&f, 5);
    item(&f, 6), wr(&f, 2, "DEL", "FX"), wr(&f, 5, "SET", "FS", "v", "PX", "1000");
    item(&f, 7), wr(&f, 3, "SET", "FS1", "v"), wr(&f, 3, "SET", "FS2", "v");
    item_rpush(&l, 10, "L", "x");
    item_rpush(&l, 11, "L", "y");
    item(&l, 12), wr(&l, 4, "HSET", "H", "k", "v");
    kf_eos_part parts[2] = {mpart_of(&f, 0, 1, 5), mpart_of(&l, 1, e1, -1)};
    int st[10];
    char err[512] = "";
    freeReplyObject(rcmd("SET FX keep"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(kf_eos_state_complete(c, "a", parts, 2, st, err, sizeof err), KF_STATUS_OK);
    assert_st_all(st, 0, 7, KF_EOS_FENCED, "fenced");
    assert_st_all(st, 7, 10, KF_EOS_APPLIED, "live");
    ck_assert_int_eq(rinteger("EXISTS F FH FS FS1 FS2"), 0);
    ck_assert_int_eq(rinteger("EXISTS FX"), 1);
    ck_assert_int_eq(rinteger("EXISTS %s", RUNS(0)), 0);
    ck_assert_int_eq(rinteger("EXISTS %s", BASE(0)), 0);
    ASSERT_CALLS({"ping", 0}, {"del", 0}, {"set", 0}, {"zrangebyscore", 1} /* the live part's */,
                 {"zadd", 1});
    static const char *const want[] = {"x", "y"};
    assert_list("L", want, 2);
    char v[16];
    hget("H", "k", v, sizeof v);
    ck_assert_str_eq(v, "v");
    ck_assert_int_eq(nmarked(1), 3);
    kf_eos_state_destroy(c);
}
END_TEST

static Suite *eos_state_complete_suite(void)
{
    Suite *s = suite_create("eos_state_complete");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_stale_epoch_fenced);
    tcase_add_test(tc, test_done_not_written_again);
    tcase_add_test(tc, test_complete_parts_fenced_separately);
    tcase_add_test(tc, test_binary_key_and_value);
    tcase_add_test(tc, test_write_error_only_that_item);
    tcase_add_test(tc, test_complete_mixed_runs);
    tcase_add_test(tc, test_complete_run_error);
    tcase_add_test(tc, test_complete_repeated_offset);
    tcase_add_test(tc, test_complete_fenced_runs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_state_complete_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
