/*
 * Unit tests for a time on the command line (src/time_arg.h): epoch
 * milliseconds, ISO 8601 in UTC or with an offset, and durations before now;
 * anything else is refused with a sentence that shows what a time looks like.
 */
#include "src/time_arg.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

static const int64_t NOW = 1796572477309; /* 2026-12-06T15:54:37.309Z */

static int64_t ok(const char *s)
{
    char err[256] = "";
    int64_t v = 0;
    ck_assert_msg(kf_time_arg_parse(s, NOW, &v, err, sizeof err) == 0, "%s refused: %s", s, err);
    return v;
}

START_TEST(test_epoch_ms)
{
    ck_assert_int_eq(ok("1796572477309"), 1796572477309);
    ck_assert_int_eq(ok("0"), 0);
}
END_TEST

START_TEST(test_iso)
{
    ck_assert_int_eq(ok("2026-12-06T15:54:37.309Z"), NOW);
    ck_assert_int_eq(ok("2026-12-06T15:54:37Z"), NOW - 309);
    ck_assert_int_eq(ok("2026-12-06T15:54Z"), NOW - 37309);
    ck_assert_int_eq(ok("2026-12-06 15:54:37.3Z"), NOW - 9);
    ck_assert_int_eq(ok("2026-12-06T16:54:37.309+01:00"), NOW);
    ck_assert_int_eq(ok("2026-12-06T10:24:37.309-05:30"), NOW);
    ck_assert_int_eq(ok("2026-12-06"), NOW - (15 * 3600 + 54 * 60 + 37) * 1000LL - 309);
    ck_assert_int_eq(ok("1970-01-01T00:00:00Z"), 0);
    ck_assert_int_eq(ok("2026-12-06T15:54:37"), NOW - 309);      /* no zone: UTC */
    ck_assert_int_eq(ok("2024-02-29T00:00:00Z"), 1709164800000); /* a leap day */
}
END_TEST

START_TEST(test_durations_before_now)
{
    ck_assert_int_eq(ok("90s"), NOW - 90000);
    ck_assert_int_eq(ok("15m"), NOW - 900000);
    ck_assert_int_eq(ok("2h"), NOW - 7200000);
    ck_assert_int_eq(ok("7d"), NOW - 604800000);
    ck_assert_int_eq(ok("0s"), NOW);
}
END_TEST

START_TEST(test_refused)
{
    const char *bad[] = {"",
                         "yesterday",
                         "2h30m",
                         "-5m",
                         "12x",
                         "2026-13-01",
                         "2026-12-06T25:00Z",
                         "h",
                         "2026-12-06T10:00:00.Z",
                         "1e3",
                         "2026-12-06Tx",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256] = "";
        int64_t v = 0;
        ck_assert_msg(kf_time_arg_parse(bad[i], NOW, &v, err, sizeof err) == -1, "%s accepted",
                      bad[i]);
        ck_assert_msg(strstr(err, "is not a time") && strstr(err, "2026-12-06T10:00:00Z"), "%s: %s",
                      bad[i], err);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("time_arg");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_epoch_ms);
    tcase_add_test(tc, test_iso);
    tcase_add_test(tc, test_durations_before_now);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
