/*
 * Reading a partition's state for `kfleet status` (eos/inspect.c): the
 * marks a T:runs member holds from an offset on (runs and masked runs, a
 * mask byte that is '/' included, malformed members refused), and one
 * inspection against a real redis-server (support/eos_fixture.h): epoch,
 * base, holder, runs and marks (equal to the fixture's own count), the
 * crash ledger's entries from the committed offset on, the parked keys;
 * a partition nobody took; a Redis that does not answer.
 */
#include "eos/inspect.h"
#include "eos/park.h"
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static int64_t marks(const char *m, size_t len, int64_t from)
{
    return kf_eos_member_marks(m, len, from);
}
#define MARKS(lit, from) marks(lit, sizeof lit - 1, from)

START_TEST(test_member_marks)
{
    ck_assert_int_eq(MARKS("3/7/a", 0), 5);
    ck_assert_int_eq(MARKS("3/7/a", 5), 3);
    ck_assert_int_eq(MARKS("3/7/a", 7), 1);
    ck_assert_int_eq(MARKS("3/7/a", 8), 0);
    ck_assert_int_eq(MARKS("3/7/a/b", -1), 5); /* a sink name may hold '/' */
    /* 8, 10 and 12: bits 0, 2 and 4 of the one byte for 8..15. */
    ck_assert_int_eq(MARKS("8/12:\x15/b", 0), 3);
    ck_assert_int_eq(MARKS("8/12:\x15/b", 9), 2);
    /* 6 (byte 0, bit 6) and 9 (byte 1, bit 1). */
    ck_assert_int_eq(MARKS("6/9:\x40\x02/s", 0), 2);
    ck_assert_int_eq(MARKS("6/9:\x40\x02/s", 7), 1);
    /* A mask byte that reads '/' (0x2f: 0, 1, 2, 3 and 5). */
    ck_assert_int_eq(MARKS("0/5:/"
                           "/x",
                           0),
                     5);
    ck_assert_int_eq(MARKS("x/1/a", 0), -1);
    ck_assert_int_eq(MARKS("5/3/a", 0), -1);
    ck_assert_int_eq(MARKS("1/20:\x01/a", 0), -1); /* 3 mask bytes, not 1 */
    ck_assert_int_eq(MARKS("1/2", 0), -1);
    ck_assert_int_eq(MARKS("", 0), -1);
}
END_TEST

static void park_one(kf_eos_state *c, int64_t epoch, const char *key, int64_t off)
{
    kf_park_entry e = {.offset = off, .key = key, .key_len = strlen(key), .error = ""};
    size_t len;
    char *b = kf_park_entry_encode(&e, &len);
    kf_park_item it = {.key = key,
                       .key_len = strlen(key),
                       .offset = off,
                       .must = true,
                       .entry = b,
                       .entry_len = len,
                       .error = "no"};
    int res, fenced;
    char err[512];
    ck_assert_int_eq(kf_park_put(c, "t", 0, epoch, 1, &it, 1, &res, &fenced, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    free(b);
}

START_TEST(test_inspect_partition)
{
    kf_eos_state *c = state_new();
    char err[512];
    kf_eos_assigned a;
    ck_assert_int_eq(kf_eos_state_assign_owned(c, "t", 0, "txn-1", &a, err, sizeof err),
                     KF_STATUS_OK);
    int64_t e = a.epoch;
    kf_eos_assigned_free(&a);
    complete_marks(c, e, 0, 10); /* sink a: 0..9 */
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 10, NULL, NULL, NULL);
    add(&b, 12, NULL, NULL, NULL);
    add(&b, 14, NULL, NULL, NULL);
    kf_eos_part p = part_of(&b, 0, e, -1);
    int st[3];
    ck_assert_int_eq(kf_eos_state_complete(c, "b", &p, 1, st, err, sizeof err), KF_STATUS_OK);
    int fenced;
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, e, 6, &fenced, err, sizeof err), KF_STATUS_OK);
    freeReplyObject(rcmd("HSET {kft:g:t:0}:crash 3 2 20+4 1 sig:3 SIGSEGV"));
    park_one(c, e, "k", 30);
    park_one(c, e, "k", 31);
    park_one(c, e, "j", 32);

    kf_eos_view v;
    ck_assert_int_eq(kf_eos_inspect(c, "t", 0, -1, &v, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(v.epoch, e);
    ck_assert_int_eq(v.base, 6);
    ck_assert_str_eq(v.owner, "txn-1");
    ck_assert_int_eq(v.runs, nruns(0));
    ck_assert_int_eq(v.marks, nmarked(0)); /* from the base on: 6..9, 10, 12, 14 */
    ck_assert_int_eq(v.marks, 7);
    ck_assert_uint_eq(v.ncrashes, 1); /* offset 3 is below the base */
    ck_assert_int_eq(v.crashes[0].offset, 20);
    ck_assert_int_eq(v.crashes[0].n, 4);
    ck_assert_int_eq(v.parked_keys, 2);
    ck_assert_int_eq(v.parked_records, 3);
    kf_eos_view_clear(&v);

    /* A committed offset above the base: what is below it counts for nothing. */
    ck_assert_int_eq(kf_eos_inspect(c, "t", 0, 12, &v, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(v.marks, 2); /* 12, 14 */
    ck_assert_uint_eq(v.ncrashes, 1);
    kf_eos_view_clear(&v);
    ck_assert_int_eq(kf_eos_inspect(c, "t", 0, 2, &v, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(v.marks, 7); /* the base is higher */
    kf_eos_view_clear(&v);

    /* A partition nobody took. */
    ck_assert_int_eq(kf_eos_inspect(c, "t", 1, -1, &v, err, sizeof err), KF_STATUS_OK);
    ck_assert_int_eq(v.epoch, -1);
    ck_assert_int_eq(v.base, -1);
    ck_assert_str_eq(v.owner, "");
    ck_assert_int_eq(v.runs + v.marks + v.parked_keys + (int64_t)v.ncrashes, 0);
    kf_eos_view_clear(&v);

    /* Something else under the key: refused, named. */
    freeReplyObject(rcmd("SET {kft:g:t:2}:runs x"));
    ck_assert_int_eq(kf_eos_inspect(c, "t", 2, -1, &v, err, sizeof err), KF_STATUS_FAIL);
    ck_assert_ptr_nonnull(strstr(err, "{kft:g:t:2}:runs: WRONGTYPE"));
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_inspect_redis_down)
{
    kf_eos_state *c = state_at(1, "kft"); /* nothing listens on port 1 */
    char err[512];
    kf_eos_view v;
    ck_assert_int_eq(kf_eos_inspect(c, "t", 0, -1, &v, err, sizeof err), KF_STATUS_RETRY);
    ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:1"));
    kf_eos_state_destroy(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eos_inspect");
    TCase *pure = tcase_create("members");
    tcase_add_test(pure, test_member_marks);
    suite_add_tcase(s, pure);
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_inspect_partition);
    tcase_add_test(tc, test_inspect_redis_down);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
