#include "dispatcher/bisect.h"

int kf_bisect_failed_whole(const kf_result *results, size_t k)
{
    if (k < 2 || results[0] == KF_OK) return 0;
    for (size_t i = 1; i < k; i++)
        if (results[i] != results[0]) return 0;
    return 1;
}

void kf_bisect_run(const size_t *idx, size_t n, kf_result *results, kf_bisect_call_fn *call,
                   kf_bisect_reset_fn *reset, void *arg, kf_bisect_stats *st)
{
    if (n == 0) return;
    call(arg, idx, n, results);
    st->calls++;
    if (!kf_bisect_failed_whole(results, n)) return;
    /* Depth is log2(n): the recursion stays small for a chunk. */
    reset(arg, idx, n);
    st->splits++;
    size_t half = n / 2;
    kf_bisect_run(idx, half, results, call, reset, arg, st);
    kf_bisect_run(idx + half, n - half, results + half, call, reset, arg, st);
}
