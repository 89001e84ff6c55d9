/*
 * `kfleet parked list|retry|drop -c FILE [--mapping M] [--key K | --null-key]
 *  [--partition P] [--wait-ms N]`: the keys a mapping with
 * `on_failure: {"mode": "park"}` has parked (eos/park.h), and their way out.
 *
 *   list   every parked key: where, how many records, since when, the first
 *          error (filtered by --mapping, --key, --partition)
 *   retry  releases a key (--key or --null-key required): its records run
 *          through the handler and sinks again, in order, as the records they
 *          were (src/park_release.h); the first that fails again stops it
 *   drop   gives a key up: its records go to on_failure.topic as dead letters
 *          (or are removed when the mapping has none)
 *
 * It reads Redis and Kafka only, so it works against a running fleet from
 * anywhere; a released key's next record runs in the fleet again.
 *
 * Exit: 0 done (list: whether or not anything is parked); 1 a release
 * stopped (a record failed again, or is not committed yet: the output says
 * which); 2 bad usage or config.
 */
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "eos/park.h"
#include "src/cli.h"
#include "src/fleet.h"
#include "src/mapping.h"
#include "src/park_release.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parked_args {
    const char *cmd, *config, *mapping, *key, *partition, *wait_ms;
    bool null_key;
} parked_args;

static int parse_args(int argc, char **argv, parked_args *a)
{
    if (argc < 1 ||
        (strcmp(argv[0], "list") && strcmp(argv[0], "retry") && strcmp(argv[0], "drop"))) {
        fprintf(stderr, "kfleet parked: expected list, retry or drop, then -c FILE\n");
        return -1;
    }
    a->cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = (!strcmp(o, "-c") || !strcmp(o, "--config")) ? &a->config
                            : !strcmp(o, "--mapping")                    ? &a->mapping
                            : !strcmp(o, "--key")                        ? &a->key
                            : !strcmp(o, "--partition")                  ? &a->partition
                            : !strcmp(o, "--wait-ms")                    ? &a->wait_ms
                                                                         : NULL;
        if (slot && next) {
            *slot = next;
            i++;
        } else if (!strcmp(o, "--null-key")) {
            a->null_key = true;
        } else {
            fprintf(stderr, "kfleet parked: unknown or incomplete option \"%s\"\n", o);
            return -1;
        }
    }
    if (strcmp(a->cmd, "list") && !a->key && !a->null_key) {
        fprintf(stderr, "kfleet parked %s: name the key: --key K (or --null-key)\n", a->cmd);
        return -1;
    }
    if (a->key && a->null_key) {
        fprintf(stderr, "kfleet parked: --key and --null-key name two keys: give one\n");
        return -1;
    }
    return 0;
}

/* A key for the terminal: printable ASCII as it is, the rest as \xHH. */
static void put_key(FILE *out, const char *field, size_t len)
{
    if (field[0] == 'n') {
        fputs("(null key)", out);
        return;
    }
    fputc('"', out);
    for (size_t i = 1; i < len; i++) {
        unsigned char ch = (unsigned char)field[i];
        if (isprint(ch) && ch != '"' && ch != '\\')
            fputc(ch, out);
        else
            fprintf(out, "\\x%02x", ch);
    }
    fputc('"', out);
}

static void put_age(FILE *out, int64_t ms)
{
    int64_t s = ms / 1000;
    if (s < 120)
        fprintf(out, "%llds", (long long)s);
    else if (s < 7200)
        fprintf(out, "%lldm", (long long)(s / 60));
    else if (s < 172800)
        fprintf(out, "%lldh", (long long)(s / 3600));
    else
        fprintf(out, "%lldd", (long long)(s / 86400));
}

typedef struct run {
    const parked_args *a;
    const kf_config *cfg;
    char *want; /* the --key's field, or NULL for any */
    size_t want_len;
    long partition; /* -1 any */
    int64_t keys, records;
    int stopped; /* a release stopped */
    kf_loaded_handler *h;
} run;

static bool wanted(const run *r, const kf_parked_key *k, int32_t partition)
{
    if (r->partition >= 0 && partition != r->partition) return false;
    return !r->want || (k->field_len == r->want_len && !memcmp(k->field, r->want, r->want_len));
}

/* One key of one partition: listed, released or dropped. */
static void one_key(run *r, const kf_mapping_config *m, const char *topic, int32_t partition,
                    const kf_parked_key *k)
{
    r->keys++;
    r->records += k->count;
    if (!strcmp(r->a->cmd, "list")) {
        printf("%s %s[%d] key ", m->name, topic, partition);
        put_key(stdout, k->field, k->field_len);
        printf(": %lld record(s), offsets %lld..%lld, parked ", (long long)k->count,
               (long long)k->first_offset, (long long)k->last_offset);
        put_age(stdout, kf_wall_ms() - k->first_ms);
        printf(" ago: %s\n", k->error);
        return;
    }
    bool retry = !strcmp(r->a->cmd, "retry");
    static const atomic_int never = 0;
    kf_release_result res;
    int wait_ms = r->a->wait_ms ? atoi(r->a->wait_ms) : 30000;
    int rc = kf_park_release(r->cfg, m, r->h, topic, partition, k->field, k->field_len,
                             retry ? KF_RELEASE_RETRY : KF_RELEASE_DROP, wait_ms, &never, &res);
    printf("%s %s[%d] key ", m->name, topic, partition);
    put_key(stdout, k->field, k->field_len);
    if (rc == 0)
        printf(": %s %lld record(s)%s; the key is released\n", retry ? "retried" : "dropped",
               (long long)res.released,
               !retry && m->on_failure.topic ? " to the on-failure topic" : "");
    else
        printf(": %s %lld record(s), then stopped: %s\n", retry ? "retried" : "dropped",
               (long long)res.released, res.why);
    if (rc != 0) r->stopped = 1;
}

static int one_mapping(run *r, const kf_mapping_config *m)
{
    char err[1024];
    kf_eos_state *s =
        kf_eos_state_new(r->cfg->redis_url, r->cfg->redis_key_prefix, m->group_id, err, sizeof err);
    if (!s) {
        fprintf(stderr, "kfleet parked: mapping %s: redis: %s\n", m->name, err);
        return -1;
    }
    kf_parked_partition *parts = NULL;
    size_t np = 0;
    int rc = kf_park_partitions(s, &parts, &np, err, sizeof err);
    for (size_t i = 0; rc == KF_STATUS_OK && i < np; i++) {
        kf_parked_key *keys;
        size_t nk;
        rc = kf_park_keys(s, parts[i].topic, parts[i].partition, &keys, &nk, err, sizeof err);
        for (size_t j = 0; rc == KF_STATUS_OK && j < nk; j++)
            if (wanted(r, &keys[j], parts[i].partition))
                one_key(r, m, parts[i].topic, parts[i].partition, &keys[j]);
        if (rc == KF_STATUS_OK) kf_parked_keys_free(keys, nk);
    }
    kf_parked_partitions_free(parts, np);
    kf_eos_state_destroy(s);
    if (rc != KF_STATUS_OK) {
        fprintf(stderr, "kfleet parked: mapping %s: %s\n", m->name, err);
        return -1;
    }
    return 0;
}

int kf_cmd_parked(int argc, char **argv)
{
    parked_args a = {0};
    if (parse_args(argc, argv, &a) != 0) return KF_EXIT_USAGE;
    kf_config *cfg = kf_cli_load_config(a.config);
    if (!cfg) return KF_EXIT_USAGE;
    run r = {.a = &a, .cfg = cfg, .partition = a.partition ? atol(a.partition) : -1};
    if (a.key || a.null_key)
        r.want = kf_park_field(a.key, a.key ? strlen(a.key) : 0, a.null_key, &r.want_len);
    int rc = KF_EXIT_OK, seen = 0;
    for (size_t i = 0; i < cfg->mapping_count && rc == KF_EXIT_OK; i++) {
        const kf_mapping_config *m = &cfg->mappings[i];
        if (a.mapping && strcmp(a.mapping, m->name)) continue;
        seen++;
        if (m->on_failure.mode != KF_ON_FAILURE_PARK) {
            if (a.mapping) {
                fprintf(stderr,
                        "kfleet parked: mapping %s does not park (on_failure.mode is "
                        "dead_letter): it has no parked keys\n",
                        m->name);
                rc = KF_EXIT_USAGE;
            }
            continue;
        }
        char err[1024];
        if (!strcmp(a.cmd, "retry") && !(r.h = kf_mapping_load_handler(cfg, m, err, sizeof err))) {
            fprintf(stderr, "kfleet parked: %s\n", err);
            rc = KF_EXIT_USAGE;
            break;
        }
        if (one_mapping(&r, m) != 0) rc = KF_EXIT_RUNTIME;
        kf_handler_unload(r.h);
        r.h = NULL;
    }
    if (rc == KF_EXIT_OK && a.mapping && !seen) {
        fprintf(stderr, "kfleet parked: --mapping %s: %s has no mapping of that name\n", a.mapping,
                cfg->path);
        rc = KF_EXIT_USAGE;
    }
    if (rc == KF_EXIT_OK) {
        if (!strcmp(a.cmd, "list"))
            printf("%lld key(s) parked, %lld record(s)\n", (long long)r.keys, (long long)r.records);
        else if (r.keys == 0)
            printf("no parked key matched\n");
        if (r.stopped) rc = KF_EXIT_RUNTIME;
    }
    free(r.want);
    kf_config_destroy(cfg);
    return rc;
}
