/* `kfleet run` (the daemon) and `kfleet check` (validate without running). */
#include "dispatcher/filter.h"
#include "dispatcher/crash_report.h"
#include "src/cli.h"
#include "src/fleet.h"
#include "common/kafka_conf.h"
#include "common/log.h"
#include "src/metrics_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run_args {
    const char *config;
    const char *input;
    const char *mapping;
    int progress;
    long records;
} run_args;

/* Parses the options every command shares. Returns -1 on a bad option. */
static int parse(int argc, char **argv, run_args *a, const char *cmd)
{
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(o, "-c") || !strcmp(o, "--config")) && next) {
            a->config = next;
            i++;
        } else if (!strcmp(o, "--input") && next) {
            a->input = next;
            i++;
        } else if (!strcmp(o, "--mapping") && next) {
            a->mapping = next;
            i++;
        } else if (!strcmp(o, "--records") && next) {
            a->records = atol(next);
            i++;
        } else if (!strcmp(o, "--progress")) {
            a->progress = 1;
        } else {
            fprintf(stderr, "kfleet %s: unknown or incomplete option \"%s\" (see kfleet --help)\n",
                    cmd, o);
            return -1;
        }
    }
    return 0;
}

static void progress(kf_fleet *f, void *arg)
{
    uint64_t *last = arg;
    kf_totals t;
    kf_fleet_totals(f, &t);
    fprintf(stderr, "\rin=%llu done=%llu failed=%llu filtered=%llu inflight=%lld rate=%llu/s   ",
            (unsigned long long)t.in, (unsigned long long)t.done, (unsigned long long)t.failed,
            (unsigned long long)t.filtered, (long long)t.inflight,
            (unsigned long long)(t.done - *last));
    *last = t.done;
}

int kf_cmd_run(int argc, char **argv)
{
    run_args a = {0};
    if (parse(argc, argv, &a, "run")) return KF_EXIT_USAGE;
    /* Before any thread exists, so signals reach only the waiting thread. */
    kf_fleet_block_signals();
    kf_crash_install(); /* a handler that crashes the process names what it ran */
    kf_config *cfg = kf_cli_load_config(a.config);
    if (!cfg) return KF_EXIT_USAGE;
    char rerr[512];
    if (kf_crash_install_redis(cfg->redis_url, rerr, sizeof rerr) != 0)
        kf_warn("run", "crashes will be logged but not noted in Redis: %s", rerr);
    char err[1024];
    kf_fleet *f = kf_fleet_start(cfg, err, sizeof err);
    if (!f) {
        fprintf(stderr, "kfleet: cannot start: %s\n", err);
        kf_config_destroy(cfg);
        return KF_EXIT_USAGE;
    }
    kf_metrics_http *mh = NULL;
    if (cfg->metrics_listen &&
        !(mh = kf_metrics_http_start(cfg->metrics_listen, f, err, sizeof err))) {
        fprintf(stderr, "kfleet: %s\n", err);
        kf_fleet_finish(f);
        kf_config_destroy(cfg);
        return KF_EXIT_USAGE;
    }
    kf_info("fleet", "running %zu mapping(s) from %s", kf_fleet_count(f), cfg->path);
    uint64_t last = 0;
    kf_fleet_wait(f, NULL, a.progress ? progress : NULL, &last);
    /* The listener reads the mappings, which kf_fleet_finish frees: it stops
     * first (MHD_stop_daemon returns once no request runs), so a scrape or
     * the status page polling during the drain finds the port closed rather
     * than freed memory. */
    kf_metrics_http_stop(mh);
    int rc = kf_fleet_finish(f);
    kf_config_destroy(cfg);
    kf_info("fleet", "stopped%s", rc ? " (some records were left for redelivery)" : "");
    return KF_EXIT_OK;
}

/* Applies m's consumer and producer properties to a scratch conf: librdkafka
 * refuses unknown or ill-typed properties when they are set. Returns 0, or -1
 * with err naming the property. */
static int check_props(const kf_config *cfg, const kf_mapping_config *m, char *err, size_t errlen)
{
    char where[256];
    for (int side = 0; side < 2; side++) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        snprintf(where, sizeof where, "mappings[%s].%s", m->name, side ? "producer" : "consumer");
        int rc = kf_kafka_conf_apply(conf, &cfg->kafka, "kafka.properties", err, errlen);
        if (!rc)
            rc = kf_kafka_conf_apply(conf, side ? &m->producer : &m->consumer, where, err, errlen);
        rd_kafka_conf_destroy(conf);
        if (rc) return -1;
    }
    return 0;
}

int kf_cmd_check(int argc, char **argv)
{
    run_args a = {0};
    if (parse(argc, argv, &a, "check")) return KF_EXIT_USAGE;
    kf_config *cfg = kf_cli_load_config(a.config);
    if (!cfg) return KF_EXIT_USAGE;
    char err[1024];
    int bad = 0;
    for (size_t i = 0; i < cfg->mapping_count && !bad; i++) {
        const kf_mapping_config *m = &cfg->mappings[i];
        kf_loaded_handler *h = kf_mapping_load_handler(cfg, m, err, sizeof err);
        if (!h) {
            bad = 1;
            break;
        }
        printf("mapping %s: handler %s loaded (init %ld us)\n", m->name, kf_handler_name(h),
               kf_handler_init_us(h));
        kf_handler_unload(h);
        if (m->filters_json) {
            char where[256];
            snprintf(where, sizeof where, "mappings[%zu].filters", i);
            kf_filter *flt = kf_filter_new(m->filters_json, where, err, sizeof err);
            if (!flt) bad = 1;
            kf_filter_destroy(flt);
        }
        if (!bad && check_props(cfg, m, err, sizeof err)) bad = 1;
    }
    if (bad) {
        fprintf(stderr, "kfleet: bad config: %s: %s\n", cfg->path, err);
        kf_config_destroy(cfg);
        return KF_EXIT_USAGE;
    }
    printf("%s: ok (%zu mapping(s))\n", cfg->path, cfg->mapping_count);
    kf_config_destroy(cfg);
    return KF_EXIT_OK;
}
