/*
 * The parked store (eos/park.c): entries round-trip; parking appends in
 * order, is fenced by the epoch and ignores replays; a record that only
 * follows its key is told when the key was released; taking records off
 * the head checks the head and releases the key with the last one; SCAN
 * finds the partitions with parked keys.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "eos/park.h"
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_entry_round_trip)
{
    kf_header h[] = {{"traceparent", "00-ab", 5}, {"empty", NULL, 0}, {"bin", "a\0b", 3}};
    kf_park_entry e = {.offset = 9007199254740993LL,
                       .timestamp_ms = 1796572477309,
                       .attempts = 3,
                       .key = "k\0y",
                       .key_len = 3,
                       .value = NULL,
                       .headers = h,
                       .header_count = 3,
                       .error = "http 400",
                       .error_len = 8,
                       .sinks_done = "cache",
                       .sinks_done_len = 5};
    size_t len;
    char *b = kf_park_entry_encode(&e, &len);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(strncmp(b, "9007199254740993 ", 17), 0);
    kf_park_entry d;
    ck_assert_int_eq(kf_park_entry_decode(b, len, &d), 0);
    ck_assert_int_eq(d.offset, e.offset);
    ck_assert_int_eq(d.timestamp_ms, e.timestamp_ms);
    ck_assert_int_eq(d.attempts, 3);
    ck_assert_uint_eq(d.key_len, 3);
    ck_assert_int_eq(memcmp(d.key, "k\0y", 3), 0);
    ck_assert_ptr_null(d.value);
    ck_assert_uint_eq(d.header_count, 3);
    ck_assert_str_eq(d.headers[0].name, "traceparent");
    ck_assert_int_eq(memcmp(d.headers[0].value, "00-ab", 5), 0);
    ck_assert_ptr_null(d.headers[1].value);
    ck_assert_uint_eq(d.headers[2].value_len, 3);
    ck_assert_uint_eq(d.error_len, 8);
    ck_assert_int_eq(memcmp(d.sinks_done, "cache", 5), 0);
    kf_park_entry_clear(&d);
    /* Every cut of it is refused, never read past its end. */
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_eq(kf_park_entry_decode(b, cut, &d), -1);
    free(b);
}
END_TEST

/* Parks record `off` of key `key` (NULL: null key). */
static int park(kf_eos_state *c, int64_t epoch, const char *key, int64_t off, bool must,
                int *fenced)
{
    kf_park_entry e = {.offset = off,
                       .key = key,
                       .key_len = key ? strlen(key) : 0,
                       .value = "v",
                       .value_len = 1,
                       .error = "",
                       .sinks_done = ""};
    size_t len;
    char *b = kf_park_entry_encode(&e, &len);
    kf_park_item it = {.key = key,
                       .key_len = key ? strlen(key) : 0,
                       .offset = off,
                       .must = must,
                       .entry = b,
                       .entry_len = len,
                       .error = "handler said no"};
    int result = -1;
    char err[512];
    ck_assert_int_eq(kf_park_put(c, "t", 0, epoch, 1000, &it, 1, &result, fenced, err, sizeof err),
                     KF_STATUS_OK);
    free(b);
    return result;
}

static kf_parked_key one_key(kf_eos_state *c, size_t *n)
{
    kf_parked_key *k;
    char err[512];
    ck_assert_int_eq(kf_park_keys(c, "t", 0, &k, n, err, sizeof err), KF_STATUS_OK);
    kf_parked_key first = {0};
    if (*n) {
        first = k[0];
        first.field = strndup(k[0].field, k[0].field_len);
        first.error = strdup(k[0].error);
    }
    kf_parked_keys_free(k, *n);
    return first;
}

START_TEST(test_park_append_fence_replay_release)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    int fenced = -1;
    /* A follower of a key that is not parked is not parked. */
    ck_assert_int_eq(park(c, e, "a", 3, false, &fenced), KF_PARK_RELEASED);
    ck_assert_int_eq(fenced, 0);
    /* A failure parks the key; followers join it, in order. */
    ck_assert_int_eq(park(c, e, "a", 5, true, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(park(c, e, "a", 8, false, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(park(c, e, "a", 9, false, &fenced), KF_PARK_PARKED);
    /* A replay changes nothing. */
    ck_assert_int_eq(park(c, e, "a", 8, false, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(park(c, e, "a", 5, true, &fenced), KF_PARK_PARKED);
    /* Fenced: nothing written. */
    ck_assert_int_eq(park(c, e - 1, "a", 12, false, &fenced), -1);
    ck_assert_int_eq(fenced, 1);
    ck_assert_int_eq(rinteger("LLEN " TAG ":pk:ka"), 3);
    /* A sink's refusal of an earlier record can come back after a later
     * one's: it goes in its place. */
    ck_assert_int_eq(park(c, e, "b", 20, true, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(park(c, e, "b", 24, true, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(park(c, e, "b", 17, true, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(park(c, e, "b", 22, false, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(park(c, e, "b", 22, false, &fenced), KF_PARK_PARKED);
    redisReply *lr = rcmd("LRANGE " TAG ":pk:kb 0 -1");
    ck_assert_uint_eq(lr->elements, 4);
    const char *want[] = {"17 ", "20 ", "22 ", "24 "};
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(strncmp(lr->element[i]->str, want[i], 3), 0);
    freeReplyObject(lr);
    char meta[256];
    hget(TAG ":pk", "kb", meta, sizeof meta);
    ck_assert_int_eq(strncmp(meta, "4 1000 17 24 ", 13), 0);

    ck_assert_int_eq(rinteger("DEL " TAG ":pk:kb"), 1);
    ck_assert_int_eq(rinteger("HDEL " TAG ":pk kb"), 1);
    size_t n;
    kf_parked_key k = one_key(c, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(k.field, "ka");
    ck_assert_int_eq(k.count, 3);
    ck_assert_int_eq(k.first_offset, 5);
    ck_assert_int_eq(k.last_offset, 9);
    ck_assert_int_eq(k.first_ms, 1000);
    ck_assert_str_eq(k.error, "handler said no");
    free(k.field);
    free(k.error);

    /* The head, then taking it: a wrong head is refused. */
    char **ent;
    size_t *lens, m;
    char err[512];
    ck_assert_int_eq(kf_park_head(c, "t", 0, "ka", 2, 2, &ent, &lens, &m, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_uint_eq(m, 2);
    kf_park_entry d;
    ck_assert_int_eq(kf_park_entry_decode(ent[1], lens[1], &d), 0);
    ck_assert_int_eq(d.offset, 8);
    kf_park_entry_clear(&d);
    for (size_t i = 0; i < m; i++)
        free(ent[i]);
    free(ent);
    free(lens);
    int answer = -1;
    ck_assert_int_eq(kf_park_take(c, "t", 0, "ka", 2, 8, 1, &answer, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(answer, 2);
    ck_assert_int_eq(kf_park_take(c, "t", 0, "ka", 2, 5, 2, &answer, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(answer, 0);
    k = one_key(c, &n);
    ck_assert_int_eq(k.count, 1);
    ck_assert_int_eq(k.first_offset, 9);
    free(k.field);
    free(k.error);
    ck_assert_int_eq(kf_park_take(c, "t", 0, "ka", 2, 9, 1, &answer, err, sizeof err),
                     KF_STATUS_OK);
    ck_assert_int_eq(answer, 1); /* released */
    k = one_key(c, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(rinteger("EXISTS " TAG ":pk:ka"), 0);
    /* Its next record runs again. */
    ck_assert_int_eq(park(c, e, "a", 14, false, &fenced), KF_PARK_RELEASED);
    /* A null key is a key of its own. */
    ck_assert_int_eq(park(c, e, NULL, 15, true, &fenced), KF_PARK_PARKED);
    ck_assert_int_eq(rinteger("LLEN " TAG ":pk:n"), 1);
    kf_eos_state_destroy(c);
}
END_TEST

START_TEST(test_partitions_found)
{
    int64_t e[4];
    kf_eos_state *c = state_assigned(4, e);
    int fenced;
    ck_assert_int_eq(park(c, e[0], "x", 1, true, &fenced), KF_PARK_PARKED);
    char err0[512];
    kf_park_entry pe = {.offset = 1, .error = "", .sinks_done = ""};
    size_t len;
    char *b = kf_park_entry_encode(&pe, &len);
    kf_park_item it = {.key = "y",
                       .key_len = 1,
                       .offset = 1,
                       .must = true,
                       .entry = b,
                       .entry_len = len,
                       .error = ""};
    int res;
    ck_assert_int_eq(kf_park_put(c, "t", 3, e[3], 1, &it, 1, &res, &fenced, err0, sizeof err0),
                     KF_STATUS_OK);
    ck_assert_int_eq(fenced, 0);
    free(b);
    kf_parked_partition *p;
    size_t n;
    char err[512];
    ck_assert_int_eq(kf_park_partitions(c, &p, &n, err, sizeof err), KF_STATUS_OK);
    ck_assert_uint_eq(n, 2);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(p[i].topic, "t");
        seen |= 1 << p[i].partition;
    }
    ck_assert_int_eq(seen, 1 | 8);
    kf_parked_partitions_free(p, n);
    kf_eos_state_destroy(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eos_park");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_entry_round_trip);
    tcase_add_test(tc, test_park_append_fence_replay_release);
    tcase_add_test(tc, test_partitions_found);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
