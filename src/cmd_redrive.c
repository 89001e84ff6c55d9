/*
 * `kfleet redrive -c FILE [--mapping M] [--since TIME] [--until TIME]
 *  [--limit N] [--dry-run]`: the way home from the on-failure topic.
 *
 * It runs mapping M as it is configured (handler, sinks, retries,
 * exactly-once), except that it reads M's on-failure topic, as consumer
 * group "<group_id>.redrive", and each dead letter runs as the record it was
 * (dispatcher/origin.h): the same source identity, so HTTP receivers see the
 * same Idempotency-Keys, and the sinks its effect had reached are skipped. A
 * record that fails again goes back to the on-failure topic with its
 * attempts added up. The group's committed offsets say what is redriven: a
 * second redrive goes on where the first stopped and never takes a dead
 * letter twice; with exactly_once a redrive killed halfway redoes nothing
 * when it is run again (its marks live under the on-failure topic's
 * partitions). It stops at each partition's end as it was when first read,
 * so its own dead letters wait for the next redrive.
 *
 * --dry-run reads the same records and prints those it would take; nothing
 * runs, nothing is written or committed.
 *
 * Exit: 0 when the run reached its end and committed; 1 when stopped by a
 * signal or the final commit failed (run it again: it goes on); 2 for bad
 * usage or config.
 */
#include "consumer/redrive.h"
#include "consumer/redrive_scan.h"
#include "dispatcher/crash_report.h"
#include "common/clock.h"
#include "common/log.h"
#include "src/cli.h"
#include "src/fleet.h"
#include "src/time_arg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct redrive_args {
    const char *config, *mapping, *since, *until, *limit;
    bool dry_run;
} redrive_args;

static int parse_args(int argc, char **argv, redrive_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = (!strcmp(o, "-c") || !strcmp(o, "--config")) ? &a->config
                            : !strcmp(o, "--mapping")                    ? &a->mapping
                            : !strcmp(o, "--since")                      ? &a->since
                            : !strcmp(o, "--until")                      ? &a->until
                            : !strcmp(o, "--limit")                      ? &a->limit
                                                                         : NULL;
        if (slot && next) {
            *slot = next;
            i++;
        } else if (!strcmp(o, "--dry-run")) {
            a->dry_run = true;
        } else {
            fprintf(stderr, "kfleet redrive: unknown or incomplete option \"%s\"\n", o);
            return -1;
        }
    }
    return 0;
}

/* The options and the mapping to run, built from the user's mapping. */
typedef struct redrive {
    kf_redrive_opts opts;
    char group[512];
    kf_mapping_config m; /* shallow copy of the user's mapping */
    char *topics[1];
    kf_config cfg; /* shallow copy of the user's config, with m alone */
    kf_props producer;
    char txn_id[512];
} redrive;

static const kf_mapping_config *pick(const kf_config *cfg, const char *name)
{
    if (!name) return cfg->mapping_count == 1 ? &cfg->mappings[0] : NULL;
    for (size_t i = 0; i < cfg->mapping_count; i++)
        if (!strcmp(cfg->mappings[i].name, name)) return &cfg->mappings[i];
    return NULL;
}

/* Reads the options into rd->opts. Returns 0, or -1 after saying why. */
static int options(const redrive_args *a, redrive *rd)
{
    char err[512];
    int64_t now = kf_wall_ms();
    rd->opts.since_ms = INT64_MIN;
    rd->opts.until_ms = INT64_MAX;
    if (a->since && kf_time_arg_parse(a->since, now, &rd->opts.since_ms, err, sizeof err)) {
        fprintf(stderr, "kfleet redrive: --since: %s\n", err);
        return -1;
    }
    if (a->until && kf_time_arg_parse(a->until, now, &rd->opts.until_ms, err, sizeof err)) {
        fprintf(stderr, "kfleet redrive: --until: %s\n", err);
        return -1;
    }
    if (rd->opts.since_ms > rd->opts.until_ms) {
        fprintf(stderr, "kfleet redrive: --since %s is after --until %s\n", a->since, a->until);
        return -1;
    }
    if (a->limit) {
        char *end;
        long v = strtol(a->limit, &end, 10);
        if (*end || v <= 0) {
            fprintf(stderr, "kfleet redrive: --limit %s: give a number of records above 0\n",
                    a->limit);
            return -1;
        }
        rd->opts.limit = v;
    }
    return 0;
}

/* The redrive's own transactional.id when the user set one: two producers
 * with one id would fence each other, and the running fleet's would lose. */
static void own_txn_id(redrive *rd, const kf_mapping_config *m)
{
    rd->producer = m->producer;
    for (size_t i = 0; i < m->producer.count; i++)
        if (!strcmp(m->producer.names[i], "transactional.id")) {
            snprintf(rd->txn_id, sizeof rd->txn_id, "%s.redrive", m->producer.values[i]);
            rd->producer.values = calloc(m->producer.count, sizeof *rd->producer.values);
            if (!rd->producer.values) {
                rd->producer = m->producer;
                return;
            }
            memcpy(rd->producer.values, m->producer.values,
                   m->producer.count * sizeof *rd->producer.values);
            rd->producer.values[i] = rd->txn_id;
        }
}

static void build(redrive *rd, const kf_config *cfg, const kf_mapping_config *m)
{
    snprintf(rd->group, sizeof rd->group, "%s.redrive", m->group_id);
    rd->opts.group = rd->group;
    rd->opts.source_topics = (const char *const *)m->topics;
    rd->opts.source_topic_count = m->topic_count;
    rd->m = *m;
    rd->topics[0] = m->on_failure.topic;
    rd->m.topics = rd->topics;
    rd->m.topic_count = 1;
    rd->m.starting_position = KF_START_EARLIEST;
    rd->m.redrive = &rd->opts;
    /* A partition stopped before --until or --limit keeps its lag on purpose. */
    rd->m.stall_timeout_ms = 0;
    own_txn_id(rd, m);
    rd->m.producer = rd->producer;
    rd->cfg = *cfg;
    rd->cfg.mappings = &rd->m;
    rd->cfg.mapping_count = 1;
    rd->cfg.metrics_listen = NULL;
}

static void unbuild(redrive *rd, const kf_mapping_config *m)
{
    if (rd->producer.values != m->producer.values) free(rd->producer.values);
}

typedef struct progress_ctx {
    kf_mapping *mp;
    const char *name;
    volatile int over;
    int64_t started;
} progress_ctx;

static void counts(kf_fleet *f, uint64_t *redriven, uint64_t *done, uint64_t *failed,
                   uint64_t *skipped, int64_t *inflight)
{
    kf_totals t;
    kf_fleet_totals(f, &t);
    *skipped = t.filtered;
    *redriven = t.in - t.filtered;
    *failed = t.failed;
    *done = t.done > t.failed + t.filtered ? t.done - t.failed - t.filtered : 0;
    *inflight = t.inflight;
}

static void tick(kf_fleet *f, void *arg)
{
    progress_ctx *pc = arg;
    const kf_redrive_progress *pr = kf_mapping_redrive_progress(pc->mp);
    uint64_t redriven, done, failed, skipped;
    int64_t inflight;
    counts(f, &redriven, &done, &failed, &skipped, &inflight);
    fprintf(stderr,
            "redrive %s: %llu read, %llu redriven (%llu done, %llu failed again, %lld in "
            "flight), %llu skipped, %.0f s\n",
            pc->name, (unsigned long long)atomic_load(&pr->read), (unsigned long long)redriven,
            (unsigned long long)done, (unsigned long long)failed, (long long)inflight,
            (unsigned long long)skipped, (kf_now_ms() - pc->started) / 1000.0);
    if (atomic_load(&pr->over)) pc->over = 1;
}

static int dry_run(redrive *rd)
{
    char err[1024];
    kf_redrive_scan_totals t;
    if (kf_redrive_scan(&rd->cfg, &rd->m, stdout, 30000, &t, err, sizeof err) != 0) {
        fprintf(stderr, "kfleet redrive: %s\n", err);
        return KF_EXIT_RUNTIME;
    }
    printf("redrive %s (dry run): %llu read, %llu would be redriven, %llu skipped; nothing was "
           "run, written or committed\n",
           rd->m.name, (unsigned long long)t.read, (unsigned long long)t.taken,
           (unsigned long long)t.passed);
    return KF_EXIT_OK;
}

static int run(redrive *rd)
{
    char err[1024];
    /* A topic that is not there would leave the group without partitions,
     * waiting forever for an end. */
    if (kf_redrive_topic_partitions(&rd->cfg, &rd->m, 30000, err, sizeof err) <= 0) {
        fprintf(stderr, "kfleet redrive: %s: nothing to redrive\n", err);
        return KF_EXIT_RUNTIME;
    }
    kf_fleet *f = kf_fleet_start(&rd->cfg, err, sizeof err);
    if (!f) {
        fprintf(stderr, "kfleet redrive: cannot start: %s\n", err);
        return KF_EXIT_USAGE;
    }
    kf_info("redrive",
            "mapping %s: redriving %s as group %s (%s); ends at each partition's current end",
            rd->m.name, rd->m.topics[0], rd->group,
            rd->m.exactly_once ? "exactly-once" : "at-least-once");
    progress_ctx pc = {.mp = kf_fleet_mapping(f, 0), .name = rd->m.name, .started = kf_now_ms()};
    kf_fleet_wait(f, &pc.over, tick, &pc);
    uint64_t redriven, done, failed, skipped;
    int64_t inflight;
    counts(f, &redriven, &done, &failed, &skipped, &inflight);
    uint64_t read = atomic_load(&kf_mapping_redrive_progress(pc.mp)->read);
    int over = pc.over;
    int rc = kf_fleet_finish(f);
    printf("redrive %s: %llu read, %llu redriven, %llu done, %llu failed again, %llu skipped%s\n",
           rd->m.name, (unsigned long long)read, (unsigned long long)redriven,
           (unsigned long long)done, (unsigned long long)failed, (unsigned long long)skipped,
           !over        ? "; stopped before the end: run it again to go on"
           : rc != 0    ? "; the final commit failed: run it again to go on"
           : failed > 0 ? "; the records that failed again are back in the on-failure topic"
                        : "");
    (void)inflight;
    return over && rc == 0 ? KF_EXIT_OK : KF_EXIT_RUNTIME;
}

int kf_cmd_redrive(int argc, char **argv)
{
    redrive_args a = {0};
    if (parse_args(argc, argv, &a) != 0) return KF_EXIT_USAGE;
    redrive *rd = calloc(1, sizeof *rd);
    if (!rd || options(&a, rd) != 0) {
        free(rd);
        return KF_EXIT_USAGE;
    }
    if (!a.dry_run) {
        kf_fleet_block_signals(); /* before any thread: signals reach the waiting thread */
        kf_crash_install();
    }
    kf_config *cfg = kf_cli_load_config(a.config);
    if (!cfg) {
        free(rd);
        return KF_EXIT_USAGE;
    }
    int rc = KF_EXIT_USAGE;
    const kf_mapping_config *m = pick(cfg, a.mapping);
    if (!m) {
        if (a.mapping)
            fprintf(stderr, "kfleet redrive: --mapping %s: %s has no mapping of that name\n",
                    a.mapping, cfg->path);
        else
            fprintf(stderr, "kfleet redrive: %s has %zu mappings: name one with --mapping\n",
                    cfg->path, cfg->mapping_count);
    } else if (!m->on_failure.topic) {
        fprintf(stderr,
                "kfleet redrive: mapping %s has no on_failure.topic: it has no dead letters to "
                "redrive\n",
                m->name);
    } else {
        build(rd, cfg, m);
        if (a.dry_run) {
            rc = dry_run(rd);
        } else {
            char rerr[512];
            if (kf_crash_install_redis(cfg->redis_url, rerr, sizeof rerr) != 0)
                kf_warn("redrive", "crashes will be logged but not noted in Redis: %s", rerr);
            rc = run(rd);
        }
        unbuild(rd, m);
    }
    kf_config_destroy(cfg);
    free(rd);
    return rc;
}
