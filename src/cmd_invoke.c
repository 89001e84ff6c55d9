/*
 * `kfleet invoke -c FILE --input FILE.jsonl [--mapping NAME]`: the
 * `sam local invoke` of kfleet. Runs records through a mapping's handler
 * without Kafka, Redis or HTTP: each output prints as the stdout sink prints
 * it, under the name of the sink it was meant for. Filters apply; KF_RETRY is
 * retried at once up to retry.max_attempts (no backoff: this is a dry run).
 *
 * Input: one JSON object per line (invoke_input.h).
 * Exit: 0 when every record succeeded (or was filtered), 1 when one failed,
 * 2 for bad usage, config or input.
 */
#include "dispatcher/emitter.h"
#include "dispatcher/filter.h"
#include "dispatcher/record.h"
#include "sinks/sink.h"
#include "src/cli.h"
#include "src/invoke_input.h"
#include "src/mapping.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct invoke {
    const kf_mapping_config *m;
    kf_loaded_handler *h;
    kf_filter *filter;
    kf_sink **sinks; /* stdout sinks named like the mapping's sinks */
    kf_sink_worker **ws;
    kf_sink_config *scfg;
    const char **names;
    int ok, failed, filtered;
} invoke;

static void ack_count(void *opaque, kf_status st, const char *why)
{
    (void)why;
    if (st != KF_STATUS_OK) ++*(int *)opaque;
}

/* Runs one record to the end: OK (outputs printed), filtered, or failed. */
static int run_record(invoke *iv, kf_rec *r, int lineno)
{
    if (iv->filter && !kf_filter_match(iv->filter, &r->view)) {
        fprintf(stderr, "line %d: filtered out (not handled)\n", lineno);
        iv->filtered++;
        return 0;
    }
    kf_result res = KF_FAIL;
    for (int attempt = 1; attempt <= iv->m->retry.max_attempts; attempt++) {
        r->view.attempt = attempt;
        kf_rec_clear_outputs(r);
        kf_rec_emitter em;
        kf_rec_emitter_init(&em, r, iv->names, iv->m->sink_count);
        if (kf_handler_has_batch(iv->h)) {
            const kf_record *v = &r->view;
            kf_emitter *e = &em.base;
            kf_handler_call_batch(iv->h, &v, &e, 1, &res);
        } else {
            res = kf_handler_call(iv->h, &r->view, &em.base);
        }
        if (res != KF_RETRY) break;
    }
    if (res != KF_OK) {
        fprintf(stderr, "line %d: handler returned %s%s\n", lineno,
                res == KF_RETRY ? "KF_RETRY on every attempt" : "KF_FAIL",
                kf_dead_letter_topic(iv->m) ? " (it would go to the on_failure topic)"
                : iv->m->on_failure.mode == KF_ON_FAILURE_PARK ? " (it would park its key)"
                                                               : "");
        iv->failed++;
        return -1;
    }
    int sink_errors = 0;
    for (kf_output *o = r->outputs; o; o = o->next) {
        size_t from = o->sink < 0 ? 0 : (size_t)o->sink;
        size_t to = o->sink < 0 ? iv->m->sink_count : from + 1;
        for (size_t s = from; s < to; s++) {
            kf_sink_msg msg = {.src_topic = r->view.topic,
                               .src_partition = r->view.partition,
                               .src_offset = r->view.offset,
                               .key = o->key,
                               .key_len = o->key_len,
                               .value = o->value,
                               .value_len = o->value_len,
                               .headers = o->headers,
                               .header_count = o->header_count,
                               .ack = ack_count,
                               .ack_opaque = &sink_errors};
            kf_sink_write(iv->ws[s], &msg);
            kf_sink_flush(iv->ws[s]);
        }
    }
    kf_rec_clear_outputs(r);
    iv->ok++;
    return sink_errors ? -1 : 0;
}

static const kf_mapping_config *pick_mapping(const kf_config *cfg, const char *name)
{
    if (!name) return &cfg->mappings[0];
    for (size_t i = 0; i < cfg->mapping_count; i++)
        if (!strcmp(cfg->mappings[i].name, name)) return &cfg->mappings[i];
    return NULL;
}

typedef struct invoke_args {
    const char *config, *input, *mapping;
} invoke_args;

/* Reads the command line into `a`. Returns 0, or KF_EXIT_USAGE after saying
 * what is wrong. */
static int parse_args(int argc, char **argv, invoke_args *a)
{
    for (int i = 0; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc)
            a->config = argv[++i];
        else if (!strcmp(argv[i], "--input") && i + 1 < argc)
            a->input = argv[++i];
        else if (!strcmp(argv[i], "--mapping") && i + 1 < argc)
            a->mapping = argv[++i];
        else {
            fprintf(stderr, "kfleet invoke: unknown or incomplete option \"%s\"\n", argv[i]);
            return KF_EXIT_USAGE;
        }
    }
    if (!a->input) {
        fprintf(stderr, "kfleet invoke: missing --input FILE.jsonl\n");
        return KF_EXIT_USAGE;
    }
    return 0;
}

/* Opens one stdout sink (and its worker) per sink of the mapping, named like
 * it. Returns 0, or -1 after saying why (nothing said when out of memory);
 * what was opened is closed by close_sinks. */
static int open_sinks(invoke *iv)
{
    size_t ns = iv->m->sink_count;
    char err[1024];
    iv->sinks = calloc(ns, sizeof *iv->sinks);
    iv->ws = calloc(ns, sizeof *iv->ws);
    iv->scfg = calloc(ns, sizeof *iv->scfg);
    iv->names = calloc(ns, sizeof *iv->names);
    if (!iv->sinks || !iv->ws || !iv->scfg || !iv->names) return -1;
    kf_sink_env env = {.mapping = iv->m->name, .group_id = iv->m->group_id, .threads = 1};
    for (size_t s = 0; s < ns; s++) {
        iv->scfg[s] = (kf_sink_config){.name = iv->m->sinks[s].name, .type = KF_SINK_STDOUT};
        iv->names[s] = iv->m->sinks[s].name;
        if (!(iv->sinks[s] = kf_sink_open(&iv->scfg[s], &env, err, sizeof err)) ||
            !(iv->ws[s] = kf_sink_worker_open(iv->sinks[s], 0, err, sizeof err))) {
            fprintf(stderr, "kfleet invoke: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static void close_sinks(invoke *iv)
{
    for (size_t s = 0; iv->sinks && s < iv->m->sink_count; s++) {
        kf_sink_worker_close(iv->ws[s]);
        kf_sink_close(iv->sinks[s]);
    }
    free(iv->sinks);
    free(iv->ws);
    free(iv->scfg);
    free(iv->names);
}

/* Runs every record of `in` (named `input` in messages) and prints the
 * counts. Returns KF_EXIT_OK, KF_EXIT_RUNTIME when a record failed, or
 * KF_EXIT_USAGE at the first line that is not a record. */
static int run_input(invoke *iv, FILE *in, const char *input)
{
    int rc = KF_EXIT_OK;
    char err[1024];
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    int64_t next_offset = 0;
    kf_partition *part = NULL;
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len) continue;
        kf_rec *r = kf_invoke_parse_line(line, &part, &next_offset, err, sizeof err);
        if (!r) {
            fprintf(stderr, "kfleet invoke: %s:%d: %s\n", input, lineno, err);
            rc = KF_EXIT_USAGE;
            break;
        }
        if (run_record(iv, r, lineno) != 0) rc = KF_EXIT_RUNTIME;
        kf_rec_free(r);
    }
    free(line);
    kf_partition_unref(part);
    fprintf(stderr, "kfleet invoke: %d ok, %d failed, %d filtered\n", iv->ok, iv->failed,
            iv->filtered);
    return rc;
}

int kf_cmd_invoke(int argc, char **argv)
{
    invoke_args a = {0};
    if (parse_args(argc, argv, &a) != 0) return KF_EXIT_USAGE;
    kf_config *cfg = kf_cli_load_config(a.config);
    if (!cfg) return KF_EXIT_USAGE;
    int rc = KF_EXIT_USAGE;
    invoke iv = {0};
    FILE *in = NULL;
    char err[1024];
    iv.m = pick_mapping(cfg, a.mapping);
    if (!iv.m) {
        fprintf(stderr, "kfleet invoke: --mapping %s: no mapping has that name\n", a.mapping);
        goto out;
    }
    in = strcmp(a.input, "-") ? fopen(a.input, "r") : stdin;
    if (!in) {
        fprintf(stderr, "kfleet invoke: %s: %s\n", a.input, strerror(errno));
        goto out;
    }
    if (!(iv.h = kf_mapping_load_handler(cfg, iv.m, err, sizeof err))) {
        fprintf(stderr, "kfleet invoke: %s\n", err);
        goto out;
    }
    if (iv.m->filters_json &&
        !(iv.filter = kf_filter_new(iv.m->filters_json, "filters", err, sizeof err))) {
        fprintf(stderr, "kfleet invoke: %s\n", err);
        goto out;
    }
    if (open_sinks(&iv) != 0) goto out;
    rc = run_input(&iv, in, a.input);
out:
    if (in && in != stdin) fclose(in);
    close_sinks(&iv);
    kf_filter_destroy(iv.filter);
    kf_handler_unload(iv.h);
    kf_config_destroy(cfg);
    return rc;
}
