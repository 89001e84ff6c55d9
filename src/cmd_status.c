/*
 * `kfleet status -c FILE [--mapping M] [--json] [--timeout-ms N]`: where
 * each mapping stands, read from Kafka and Redis only, so that it works
 * against a running fleet from anywhere (nothing is joined, written or
 * committed):
 *
 *   Kafka (consumer/group_view.h)  per partition of the mapping's topics: the
 *       group's committed offset, the start and end, the lag; the group's
 *       state and members with their assignments
 *   Redis (eos/inspect.h)  per partition: the exactly-once epoch, the marks
 *       above the committed offset, the holder, the parked keys and records,
 *       the crash ledger's entries still ahead
 *
 * Kafka gets --timeout-ms (10000) for a mapping's whole read; Redis 2 s to
 * connect and 5 s per reply, and a mapping's reading stops at its first
 * failure. An at-least-once mapping keeps only its crash ledger in Redis: a
 * Redis that does not answer it is said, but is no failure of the mapping.
 *
 * Exit: 0 when Kafka (and, for exactly-once mappings, Redis) answered
 * everything; 1 when one did not (the output says which, and shows what was
 * read); 2 bad usage or config.
 */
#include "common/status.h"
#include "consumer/group_view.h"
#include "eos/inspect.h"
#include "src/cli.h"
#include "src/status_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 10000

typedef struct status_args {
    const char *config, *mapping, *timeout_ms;
    bool json;
} status_args;

static int parse_args(int argc, char **argv, status_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = (!strcmp(o, "-c") || !strcmp(o, "--config")) ? &a->config
                            : !strcmp(o, "--mapping")                    ? &a->mapping
                            : !strcmp(o, "--timeout-ms")                 ? &a->timeout_ms
                                                                         : NULL;
        if (slot && next) {
            *slot = next;
            i++;
        } else if (!strcmp(o, "--json")) {
            a->json = true;
        } else {
            fprintf(stderr, "kfleet status: unknown or incomplete option \"%s\"\n", o);
            return -1;
        }
    }
    return 0;
}

/* Reads the partitions' state in Redis; stops at the first failure (a
 * Redis that is away would cost its timeouts once per partition). */
static void read_redis(const kf_config *cfg, kf_status_mapping *s)
{
    const kf_group_view *g = &s->g;
    char err[512];
    kf_eos_state *st =
        kf_eos_state_new(cfg->redis_url, cfg->redis_key_prefix, s->m->group_id, err, sizeof err);
    if (!st) {
        snprintf(s->redis_err, sizeof s->redis_err, "%s", err);
        return;
    }
    s->eos = calloc(g->nparts ? g->nparts : 1, sizeof *s->eos);
    s->read = calloc(g->nparts ? g->nparts : 1, sizeof *s->read);
    if (!s->eos || !s->read) {
        snprintf(s->redis_err, sizeof s->redis_err, "out of memory");
    } else {
        for (size_t i = 0; i < g->nparts; i++) {
            const kf_group_partition *p = &g->parts[i];
            if (kf_eos_inspect(st, p->topic, p->partition, p->committed, &s->eos[i], err,
                               sizeof err) != KF_STATUS_OK) {
                snprintf(s->redis_err, sizeof s->redis_err, "%s", err);
                break;
            }
            s->read[i] = true;
        }
    }
    kf_eos_state_destroy(st);
}

static void clear(kf_status_mapping *s)
{
    for (size_t i = 0; s->eos && i < s->g.nparts; i++)
        kf_eos_view_clear(&s->eos[i]);
    free(s->eos);
    free(s->read);
    kf_group_view_clear(&s->g);
}

int kf_cmd_status(int argc, char **argv)
{
    status_args a = {0};
    if (parse_args(argc, argv, &a) != 0) return KF_EXIT_USAGE;
    int timeout_ms = DEFAULT_TIMEOUT_MS;
    if (a.timeout_ms) {
        char *end;
        long v = strtol(a.timeout_ms, &end, 10);
        if (*end || end == a.timeout_ms || v < 1 || v > 3600000) {
            fprintf(stderr, "kfleet status: --timeout-ms %s: give milliseconds, 1..3600000\n",
                    a.timeout_ms);
            return KF_EXIT_USAGE;
        }
        timeout_ms = (int)v;
    }
    kf_config *cfg = kf_cli_load_config(a.config);
    if (!cfg) return KF_EXIT_USAGE;
    bool known = !a.mapping;
    for (size_t i = 0; i < cfg->mapping_count && !known; i++)
        known = !strcmp(a.mapping, cfg->mappings[i].name);
    if (!known) {
        fprintf(stderr, "kfleet status: --mapping %s: %s has no mapping of that name\n", a.mapping,
                cfg->path);
        kf_config_destroy(cfg);
        return KF_EXIT_USAGE;
    }
    kf_status_mapping *s = calloc(cfg->mapping_count, sizeof *s);
    if (!s) {
        fprintf(stderr, "kfleet status: out of memory\n");
        kf_config_destroy(cfg);
        return KF_EXIT_RUNTIME;
    }
    size_t n = 0;
    bool ok = true;
    for (size_t i = 0; i < cfg->mapping_count; i++) {
        const kf_mapping_config *m = &cfg->mappings[i];
        if (a.mapping && strcmp(a.mapping, m->name)) continue;
        kf_status_mapping *sm = &s[n++];
        sm->m = m;
        if (kf_group_view_read(cfg, m, timeout_ms, &sm->g, sm->kafka_err, sizeof sm->kafka_err)) {
            ok = false;
            fprintf(stderr, "kfleet status: mapping %s: %s\n", m->name, sm->kafka_err);
        }
        read_redis(cfg, sm);
        if (sm->redis_err[0]) {
            if (m->exactly_once) ok = false;
            fprintf(stderr, "kfleet status: mapping %s: %s%s\n", m->name, sm->redis_err,
                    m->exactly_once ? ""
                                    : " (an at-least-once mapping: only its crash ledger is "
                                      "there)");
        }
    }
    int rc = ok ? KF_EXIT_OK : KF_EXIT_RUNTIME;
    if (a.json) {
        if (kf_status_print_json(stdout, s, n, ok) != 0) {
            fprintf(stderr, "kfleet status: out of memory\n");
            rc = KF_EXIT_RUNTIME;
        }
    } else {
        kf_status_print_text(stdout, s, n);
    }
    for (size_t i = 0; i < n; i++)
        clear(&s[i]);
    free(s);
    kf_config_destroy(cfg);
    return rc;
}
