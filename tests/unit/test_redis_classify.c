/*
 * What a Redis error reply means (kf_redis_classify, common/redis.c), the
 * one reading for every Redis caller (the Redis sink, the exactly-once
 * state and marks): which replies make a record wait (KF_STATUS_RETRY),
 * which of those need a new connection, which fail it for good.
 */
#include "common/redis.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>

/* Error replies that go away by themselves make a record wait (KF_STATUS_RETRY)
 * instead of failing it: a full disk (MISCONF: Redis refuses writes it cannot
 * persist) ends when space is freed. */
START_TEST(test_transient_error_replies)
{
    bool reconnect = false;
    ck_assert_int_eq(
        kf_redis_classify("MISCONF Errors writing to the AOF file: No space left on device",
                          &reconnect),
        KF_STATUS_RETRY);
    ck_assert(!reconnect);
    ck_assert_int_eq(kf_redis_classify("LOADING Redis is loading the dataset in memory", NULL),
                     KF_STATUS_RETRY);
    ck_assert_int_eq(
        kf_redis_classify("OOM command not allowed when used memory > 'maxmemory'.", NULL),
        KF_STATUS_RETRY);
    ck_assert_int_eq(
        kf_redis_classify("READONLY You can't write against a read only replica.", &reconnect),
        KF_STATUS_RETRY);
    ck_assert(reconnect);
    /* A failover: only a new connection finds the new primary. */
    const char *failover[] = {"CLUSTERDOWN The cluster is down",
                              "MASTERDOWN Link with MASTER is down"};
    for (size_t i = 0; i < 2; i++) {
        reconnect = false;
        ck_assert_int_eq(kf_redis_classify(failover[i], &reconnect), KF_STATUS_RETRY);
        ck_assert(reconnect);
    }
    ck_assert_int_eq(kf_redis_classify(
                         "WRONGTYPE Operation against a key holding the wrong kind of value", NULL),
                     KF_STATUS_FAIL);
    ck_assert_int_eq(kf_redis_classify("ERR unknown command", NULL), KF_STATUS_FAIL);
    /* A prefix must be the whole first word. */
    ck_assert_int_eq(kf_redis_classify("BUSYKEY Target key name already exists.", NULL),
                     KF_STATUS_FAIL);
}
END_TEST

static Suite *redis_classify_suite(void)
{
    Suite *s = suite_create("redis_classify");
    TCase *tc = tcase_create("replies");
    tcase_add_test(tc, test_transient_error_replies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(redis_classify_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
