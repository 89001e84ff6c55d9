/*
 * kf_eos_state and its connection to Redis (eos/state.c): the scripts are
 * loaded again after SCRIPT FLUSH (NOSCRIPT) and after a server restart;
 * a server that is down or silent makes calls RETRY, never FAIL; a URL
 * that is not Redis's is refused when the handle is made.
 *
 * Against a real redis-server per test case, emptied before each test
 * (support/eos_fixture.h).
 */
#include "common/clock.h"
#include "tests/unit/support/eos_batch.h"
#include "tests/unit/support/eos_fixture.h"
#include "tests/unit/support/redis_server.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* SCRIPT FLUSH under a live connection: the next call gets NOSCRIPT, loads
 * its script again and runs it (once), for every script. */
START_TEST(test_reload_after_script_flush)
{
    int64_t e;
    kf_eos_state *c = state_assigned(1, &e);
    ck_assert_int_eq(complete_rpush(c, "a", e, 1, "L", "v1"), KF_EOS_APPLIED);

    freeReplyObject(rcmd("SCRIPT FLUSH"));
    freeReplyObject(rcmd("CONFIG RESETSTAT"));
    ck_assert_int_eq(complete_rpush(c, "a", e, 2, "L", "v2"), KF_EOS_APPLIED);
    ck_assert_int_eq(rinteger("LLEN L"), 2);
    /* The connection survived, so the reload came from NOSCRIPT. */
    ASSERT_CALLS({"script|load", 1}, {"evalsha", 2});

    /* Other scripts reload too. */
    freeReplyObject(rcmd("SCRIPT FLUSH"));
    ck_assert_int_eq(assign(c, 0), e + 1);
    kf_eos_state_destroy(c);
}
END_TEST

/* A server restart (SIGKILL; it comes back empty, scripts gone): the
 * first call may see the old connection dead (RETRY, with a sentence), the
 * next one reconnects and reloads the scripts. The test owns its server to
 * restart it (support/redis_server.h). */
START_TEST(test_reload_after_restart)
{
    kf_test_redis own;
    ck_assert_msg(kf_test_redis_start(&own), "%s", own.why);
    eos_inspect(&own);
    kf_eos_state *c = state_at(own.port, "kft");
    ck_assert_int_eq(assign(c, 0), 1);

    kf_test_redis_kill(&own);
    ck_assert_msg(kf_test_redis_restart(&own), "%s", own.why);
    eos_inspect(&own);

    kf_eos_assigned a;
    char err[512] = "";
    int rc = kf_eos_state_assign(c, "t", 0, &a, err, sizeof err);
    ck_assert_msg(rc == KF_STATUS_OK || rc == KF_STATUS_RETRY, "assign after restart: %d %s", rc,
                  err);
    if (rc == KF_STATUS_RETRY) {
        ck_assert_msg(err[0] != '\0', "RETRY without a sentence");
        rc = kf_eos_state_assign(c, "t", 0, &a, err, sizeof err);
        ck_assert_msg(rc == KF_STATUS_OK, "second assign after restart: %d %s", rc, err);
    }
    ck_assert_int_eq(a.epoch, 1); /* no persistence: the state is gone */
    int64_t e = a.epoch;
    kf_eos_assigned_free(&a);

    ck_assert_int_eq(complete_rpush(c, "a", e, 1, "L", "v1"), KF_EOS_APPLIED);
    ck_assert_int_eq(rinteger("LLEN L"), 1);
    kf_eos_state_destroy(c);
    kf_test_redis_stop(&own);
}
END_TEST

/* A server that is down (started, then killed: nothing listens on its port)
 * makes every call RETRY, with a sentence that does not show the password;
 * once it is up again, the same handle works. */
START_TEST(test_unreachable_then_up)
{
    kf_test_redis own;
    ck_assert_msg(kf_test_redis_start(&own), "%s", own.why);
    kf_test_redis_kill(&own);
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "redis://:secret@127.0.0.1:%d/0", own.port);
    kf_eos_state *c = kf_eos_state_new(url, "kft", "g", err, sizeof err);
    ck_assert_msg(c != NULL, "kf_eos_state_new: %s", err);

    kf_eos_assigned a;
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_RETRY);
    ck_assert_msg(err[0] && !strstr(err, "secret"), "err: %s", err);
    static batch b;
    memset(&b, 0, sizeof b);
    add(&b, 1, "RPUSH", "L", "v");
    kf_eos_part p = part_of(&b, 0, 1, -1);
    int st[1], fenced, dup[1];
    ck_assert_int_eq(kf_eos_state_complete(c, "a", &p, 1, st, err, sizeof err), KF_STATUS_RETRY);
    ck_assert_int_eq(kf_eos_state_trim(c, "t", 0, 1, 1, &fenced, err, sizeof err), KF_STATUS_RETRY);
    const char *k[1] = {"k"};
    int64_t o[1] = {1};
    ck_assert_int_eq(
        kf_eos_state_claim(c, "t", 0, 1, k, NULL, o, 1, 1000, dup, &fenced, err, sizeof err),
        KF_STATUS_RETRY);
    kf_eos_state_destroy(c);

    /* Once the server is up, the same handle works. */
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", own.port);
    c = kf_eos_state_new(url, "kft", "g", err, sizeof err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &a, err, sizeof err), KF_STATUS_RETRY);
    ck_assert_msg(kf_test_redis_restart(&own), "%s", own.why);
    int rc = kf_eos_state_assign(c, "t", 0, &a, err, sizeof err);
    kf_test_redis_stop(&own);
    ck_assert_msg(rc == KF_STATUS_OK, "assign once up: %d %s", rc, err);
    ck_assert_int_eq(a.epoch, 1);
    kf_eos_assigned_free(&a);
    kf_eos_state_destroy(c);
}
END_TEST

/* A peer that accepts connections (the kernel's backlog) but never answers:
 * the call must give up after the command timeout with RETRY. */
START_TEST(test_timeout_is_retry)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    ck_assert_int_eq(listen(fd, 8), 0);
    kf_eos_state *c = state_at(ntohs(a.sin_port), "kft");
    kf_eos_assigned as;
    char err[512] = "";
    int64_t t0 = kf_now_ms();
    ck_assert_int_eq(kf_eos_state_assign(c, "t", 0, &as, err, sizeof err), KF_STATUS_RETRY);
    int64_t took = kf_now_ms() - t0;
    ck_assert_msg(took >= 4000 && took < 15000, "gave up after %lld ms", (long long)took);
    ck_assert_msg(strstr(err, "timeout"), "err: %s", err);
    kf_eos_state_destroy(c);
    close(fd);
}
END_TEST

/* A URL that is not redis:// is refused when the handle is made, with a
 * sentence. */
START_TEST(test_bad_url_refused)
{
    char err[512] = "";
    ck_assert_ptr_null(kf_eos_state_new("http://127.0.0.1", "kft", "g", err, sizeof err));
    ck_assert_msg(err[0], "no sentence for a bad URL");
}
END_TEST

static Suite *eos_state_connection_suite(void)
{
    Suite *s = suite_create("eos_state_connection");
    TCase *tc = tcase_create("redis");
    eos_fixture_add(tc);
    tcase_add_test(tc, test_reload_after_script_flush);
    tcase_add_test(tc, test_reload_after_restart);
    tcase_add_test(tc, test_unreachable_then_up);
    tcase_add_test(tc, test_timeout_is_retry);
    tcase_add_test(tc, test_bad_url_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(eos_state_connection_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
