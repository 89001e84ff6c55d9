#include "consumer/parked.h"

#include "common/log.h"
#include "common/status.h"
#include "eos/park.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *C = "consumer.park";

#define REFRESH_MS 5000

/* One read of p's parked keys into p->parked. */
static int load(kf_eos_state *s, kf_partition *p, char *err, size_t errlen)
{
    kf_parked_key *k;
    size_t n;
    int rc = kf_park_keys(s, p->topic, p->partition, &k, &n, err, errlen);
    if (rc != KF_STATUS_OK) return rc;
    const void **keys = calloc(n ? n : 1, sizeof *keys);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    int64_t *first = calloc(n ? n : 1, sizeof *first), *counts = calloc(n ? n : 1, sizeof *counts);
    rc = keys && lens && first && counts ? KF_STATUS_OK : KF_STATUS_FAIL;
    for (size_t i = 0; rc == KF_STATUS_OK && i < n; i++) {
        bool null_key = k[i].field[0] == 'n';
        keys[i] = null_key ? NULL : k[i].field + 1;
        lens[i] = null_key ? 0 : k[i].field_len - 1;
        first[i] = k[i].first_offset;
        counts[i] = k[i].count;
    }
    if (rc == KF_STATUS_OK && kf_parked_replace(&p->parked, keys, lens, first, counts, n) != 0)
        rc = KF_STATUS_FAIL;
    if (rc != KF_STATUS_OK) snprintf(err, errlen, "out of memory");
    free(keys);
    free(lens);
    free(first);
    free(counts);
    kf_parked_keys_free(k, n);
    return rc;
}

int kf_consumer_parked_load(kf_eos_state *s, const kf_mapping_config *m, kf_partition *p,
                            const atomic_int *stop)
{
    char err[512];
    int delay_ms = 100;
    while (load(s, p, err, sizeof err) != KF_STATUS_OK) {
        kf_warn(C, "mapping %s: %s[%d]: cannot read the parked keys (%s); retrying in %d ms",
                m->name, p->topic, p->partition, err, delay_ms);
        if (atomic_load(stop)) return -1;
        usleep((useconds_t)delay_ms * 1000);
        if (delay_ms < 2000) delay_ms *= 2;
    }
    int np = kf_parked_count(&p->parked);
    if (np)
        kf_info(C,
                "mapping %s: %s[%d]: %d key(s) parked with %lld record(s): their later records "
                "join them until `kfleet parked retry` releases them",
                m->name, p->topic, p->partition, np, (long long)kf_parked_records(&p->parked));
    return 0;
}

void kf_consumer_parked_refresh(kf_eos_state *s, const kf_mapping_config *m, kf_partition **parts,
                                size_t n, kf_metrics *metrics, int64_t now, int64_t *next)
{
    if (m->on_failure.mode != KF_ON_FAILURE_PARK || !s) return;
    bool due = now >= *next;
    if (due) *next = now + REFRESH_MS;
    int keys = 0;
    int64_t records = 0;
    for (size_t i = 0; i < n; i++) {
        kf_partition *p = parts[i];
        if (due && kf_parked_count(&p->parked) && atomic_load(&p->ready) &&
            !atomic_load(&p->fenced)) {
            char err[512];
            if (load(s, p, err, sizeof err) != KF_STATUS_OK)
                kf_debug(C, "mapping %s: %s[%d]: parked keys not re-read (%s)", m->name, p->topic,
                         p->partition, err);
        }
        keys += kf_parked_count(&p->parked);
        records += kf_parked_records(&p->parked);
    }
    atomic_store(&metrics->parked_keys, keys);
    atomic_store(&metrics->parked_records, records);
}
