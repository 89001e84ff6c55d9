#include "common/histogram.h"

#include <string.h>

#define US 1000LL
#define MS 1000000LL
#define S  1000000000LL

/* From a fast handler call (a microsecond) to a commit that waits out a
 * transaction timeout (tens of seconds). */
const kf_hist_bounds kf_hist_seconds = {
    .n = 24,
    .le = {1 * US,   25 * US / 10, 5 * US,       10 * US,     25 * US, 50 * US, 100 * US, 250 * US,
           500 * US, 1 * MS,       25 * MS / 10, 5 * MS,      10 * MS, 25 * MS, 50 * MS,  100 * MS,
           250 * MS, 500 * MS,     1 * S,        25 * S / 10, 5 * S,   10 * S,  30 * S,   60 * S},
    .unit = 1e-9,
};

/* A worker chunk holds at most 256 records, a consumer batch at most 10000. */
const kf_hist_bounds kf_hist_records = {
    .n = 13,
    .le = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
    .unit = 1,
};

void kf_hist_merge(kf_histogram *h, const kf_hist_bounds *b, kf_hist_local *l)
{
    if (!l->count) return;
    for (size_t i = 0; i <= b->n; i++)
        if (l->bucket[i])
            atomic_fetch_add_explicit(&h->bucket[i], l->bucket[i], memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, l->sum, memory_order_relaxed);
    memset(l, 0, sizeof *l);
}

void kf_hist_read(const kf_histogram *h, const kf_hist_bounds *b, kf_hist_snapshot *out)
{
    uint64_t run = 0;
    for (size_t i = 0; i <= b->n; i++) {
        run += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        out->cumulative[i] = run;
    }
    out->count = run;
    out->sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
}
