#include "dispatcher/backoff.h"

#include <stdatomic.h>
#include <time.h>

int64_t kf_backoff_ms(int attempt, int64_t base_ms, int64_t max_ms, uint64_t rnd)
{
    if (attempt < 1) attempt = 1;
    if (base_ms < 1) base_ms = 1;
    if (max_ms < base_ms) max_ms = base_ms;
    int64_t ceiling = base_ms;
    for (int i = 1; i < attempt && ceiling < max_ms; i++)
        ceiling = ceiling > max_ms / 2 ? max_ms : ceiling * 2; /* saturate, never overflow */
    if (ceiling > max_ms) ceiling = max_ms;
    int64_t half = ceiling / 2;
    return half + (int64_t)(rnd % (uint64_t)(ceiling - half + 1));
}

uint64_t kf_backoff_random(void)
{
    /* splitmix64 over an atomic counter: no lock, good enough spread. */
    static atomic_uint_fast64_t state;
    uint64_t z = atomic_fetch_add(&state, 0x9E3779B97F4A7C15ull);
    if (z == 0) z = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
