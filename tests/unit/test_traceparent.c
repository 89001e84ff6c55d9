/*
 * The trace id of a W3C traceparent (common/traceparent.c), for log lines:
 * the spec's example, the versions and lengths it allows, and each way a
 * value breaks the format (uppercase, all-zero ids, version ff, wrong
 * delimiters or length), which yields no trace id; the header found among
 * a record's headers in any case of its name.
 */
#include "common/traceparent.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define EXAMPLE  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TRACE_ID "4bf92f3577b34da6a3ce929d0e0e4736"

static bool tid(const char *v, char *out)
{
    return kf_traceparent_trace_id(v, v ? strlen(v) : 0, out);
}

START_TEST(test_valid)
{
    char out[KF_TRACE_ID_LEN + 1];
    ck_assert(tid(EXAMPLE, out));
    ck_assert_str_eq(out, TRACE_ID);
    ck_assert(
        tid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", out)); /* not sampled */
    /* A later version may carry more after the flags, behind a '-'. */
    ck_assert(tid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes", out));
    ck_assert_str_eq(out, TRACE_ID);
    ck_assert(tid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", out));
}
END_TEST

START_TEST(test_invalid)
{
    static const char *const bad[] = {
        "",
        "00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",     /* no flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* v00 is 55 long */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* uppercase */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version ff */
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* not hex */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* delimiter */
        "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",  /* id lengths */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* more, no '-' */
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* a space */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",  /* flags */
    };
    char out[KF_TRACE_ID_LEN + 1];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strcpy(out, "x");
        ck_assert_msg(!tid(bad[i], out), "accepted \"%s\"", bad[i]);
        ck_assert_str_eq(out, "");
    }
    ck_assert(!kf_traceparent_trace_id(NULL, 0, out));
    /* The length counts, not a NUL: the example cut short is refused. */
    ck_assert(!kf_traceparent_trace_id(EXAMPLE, 54, out));
}
END_TEST

START_TEST(test_among_headers)
{
    char out[KF_TRACE_ID_LEN + 1];
    kf_header h[] = {{"x", "y", 1}, {"TraceParent", EXAMPLE, sizeof EXAMPLE - 1}};
    ck_assert(kf_trace_id_of(h, 2, out));
    ck_assert_str_eq(out, TRACE_ID);
    ck_assert(!kf_trace_id_of(h, 1, out));
    ck_assert_str_eq(out, "");
    ck_assert(!kf_trace_id_of(NULL, 0, out));
    kf_header broken[] = {{"traceparent", "00-1", 4}, {"traceparent", EXAMPLE, sizeof EXAMPLE - 1}};
    ck_assert(!kf_trace_id_of(broken, 2, out)); /* the first one speaks */
    kf_header null_value[] = {{"traceparent", NULL, 0}};
    ck_assert(!kf_trace_id_of(null_value, 1, out));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("traceparent");
    TCase *tc = tcase_create("trace id");
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_among_headers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
