/*
 * Unit tests for the log's secret masking (common/log.c, kf_log_mask): a
 * password in a URL must never reach a log line, also when it contains the
 * '@' that ends the userinfo part (the Redis URL parser, and RFC 3986
 * readers generally, take the LAST '@' before the host).
 */
#include "common/log.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const char *mask(const char *name, const char *value)
{
    static char out[256];
    kf_log_mask(name, value, out, sizeof out);
    return out;
}

START_TEST(test_url_password_masked)
{
    ck_assert_str_eq(mask("url", "http://u:pw@host/x"), "http://u:***@host/x");
    ck_assert_str_eq(mask("url", "redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
    ck_assert_str_eq(mask("url", "redis://h:6379/0"), "redis://h:6379/0");
    ck_assert_str_eq(mask("url", "plain"), "plain");
}
END_TEST

START_TEST(test_password_with_at_masked)
{
    /* The password is "top@secret": none of it may show. */
    const char *m = mask("url", "https://u:top@secret@host/x");
    ck_assert_ptr_null(strstr(m, "secret"));
    ck_assert_ptr_null(strstr(m, "top"));
    ck_assert_str_eq(m, "https://u:***@host/x");
    m = mask("url", "redis://:a@b@c@h:1/0");
    ck_assert_str_eq(m, "redis://:***@h:1/0");
}
END_TEST

START_TEST(test_secret_names_masked_whole)
{
    ck_assert_str_eq(mask("sasl.password", "hunter2"), "***");
    ck_assert_str_eq(mask("api_token", "t"), "***");
    ck_assert_str_eq(mask("linger.ms", "5"), "5");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("mask");
    tcase_add_test(tc, test_url_password_masked);
    tcase_add_test(tc, test_password_with_at_masked);
    tcase_add_test(tc, test_secret_names_masked_whole);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
