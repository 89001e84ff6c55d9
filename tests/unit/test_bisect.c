/*
 * Bisecting a batch that failed as a whole (dispatcher/bisect.h), with a fake
 * batch call: a call fails for all its records when one of them is poison.
 * What must hold: only the poison records end up failed, every record's last
 * call is the smallest one that did not fail as a whole, outputs of calls
 * taken back are reset, halves run in order, and at most 2n - 1 calls.
 */
#include "dispatcher/bisect.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAXN = 256 };

typedef struct fake {
    bool poison[MAXN];
    kf_result poison_result;
    int emitted[MAXN]; /* outputs held per record: +1 per successful call, 0 on reset */
    size_t ncalls;
    size_t last_call[MAXN]; /* the number of the last call each record was in */
} fake;

static void call(void *arg, const size_t *idx, size_t k, kf_result *results)
{
    fake *f = arg;
    bool bad = false;
    f->ncalls++;
    for (size_t j = 0; j < k; j++) {
        bad |= f->poison[idx[j]];
        f->last_call[idx[j]] = f->ncalls;
    }
    for (size_t j = 0; j < k; j++) {
        results[j] = bad ? f->poison_result : KF_OK;
        if (!bad) f->emitted[idx[j]]++;
    }
}

static void reset(void *arg, const size_t *idx, size_t k)
{
    fake *f = arg;
    for (size_t j = 0; j < k; j++)
        f->emitted[idx[j]] = 0;
}

static void run(fake *f, size_t n, kf_result *res, kf_bisect_stats *st)
{
    size_t idx[MAXN];
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    memset(st, 0, sizeof *st);
    kf_bisect_run(idx, n, res, call, reset, f, st);
}

START_TEST(test_no_failure_one_call)
{
    fake f = {.poison_result = KF_FAIL};
    kf_result res[16];
    kf_bisect_stats st;
    run(&f, 16, res, &st);
    ck_assert_uint_eq(st.calls, 1);
    ck_assert_uint_eq(st.splits, 0);
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(res[i], KF_OK);
        ck_assert_int_eq(f.emitted[i], 1);
    }
}
END_TEST

START_TEST(test_one_poison_isolated)
{
    fake f = {.poison_result = KF_FAIL};
    f.poison[5] = true;
    kf_result res[16];
    kf_bisect_stats st;
    run(&f, 16, res, &st);
    /* [0,16) -> [0,8) -> [4,8) -> [4,6) -> 5 alone: 4 splits, 9 calls. */
    ck_assert_uint_eq(st.splits, 4);
    ck_assert_uint_eq(st.calls, 9);
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(res[i], i == 5 ? KF_FAIL : KF_OK);
        /* Exactly the outputs of the call that stood, none of those taken back. */
        ck_assert_int_eq(f.emitted[i], i == 5 ? 0 : 1);
    }
}
END_TEST

/* A partial failure (some records OK) is the handler's own verdict: kept. */
START_TEST(test_partial_failure_not_bisected)
{
    kf_result r[4] = {KF_OK, KF_FAIL, KF_OK, KF_FAIL};
    ck_assert(!kf_bisect_failed_whole(r, 4));
    kf_result mixed[3] = {KF_FAIL, KF_RETRY, KF_FAIL};
    ck_assert(!kf_bisect_failed_whole(mixed, 3));
    kf_result all[3] = {KF_RETRY, KF_RETRY, KF_RETRY};
    ck_assert(kf_bisect_failed_whole(all, 3));
    ck_assert(!kf_bisect_failed_whole(all, 1)); /* one record: its own failure */
}
END_TEST

/* Every third record poison: each ends failed alone, within 2n - 1 calls,
 * and the calls that stand run the records in their order. */
START_TEST(test_bounds_and_order)
{
    for (size_t n = 1; n <= 64; n++) {
        fake f = {.poison_result = KF_RETRY};
        for (size_t i = 0; i < n; i++)
            f.poison[i] = (i % 3) == 0 || n < 4;
        kf_result res[MAXN];
        kf_bisect_stats st;
        run(&f, n, res, &st);
        ck_assert_uint_le(st.calls, 2 * n - 1);
        for (size_t i = 0; i < n; i++)
            ck_assert_int_eq(res[i], f.poison[i] ? KF_RETRY : KF_OK);
        /* The call that stands for each record (its last) comes no earlier
         * than an earlier record's: an ordered lane still runs in order. */
        for (size_t i = 1; i < n; i++)
            ck_assert_uint_ge(f.last_call[i], f.last_call[i - 1]);
    }
}
END_TEST

static Suite *bisect_suite(void)
{
    Suite *s = suite_create("bisect");
    TCase *tc = tcase_create("run");
    tcase_add_test(tc, test_no_failure_one_call);
    tcase_add_test(tc, test_one_poison_isolated);
    tcase_add_test(tc, test_partial_failure_not_bisected);
    tcase_add_test(tc, test_bounds_and_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bisect_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
