#include "src/cli.h"

#include "kfleet/handler.h"
#include "common/log.h"
#include "sinks/registry.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: kfleet <command> [options]\n"
    "\n"
    "commands:\n"
    "  run -c FILE [--progress]        run the mappings of FILE (the daemon)\n"
    "  check -c FILE                   validate FILE and load its handlers (exit 0 or 2)\n"
    "  invoke -c FILE --input FILE.jsonl [--mapping NAME]\n"
    "                                  run records through a mapping's handler locally,\n"
    "                                  without Kafka; print each output per sink as JSON\n"
    "  redrive -c FILE [--mapping NAME] [--since TIME] [--until TIME] [--limit N] [--dry-run]\n"
    "                                  run a mapping's dead letters through its handler and\n"
    "                                  sinks again, as the records they were (TIME: epoch ms,\n"
    "                                  2026-12-06T10:00:00Z, or 2h for two hours ago)\n"
    "  parked list|retry|drop -c FILE [--mapping NAME] [--key K | --null-key] [--partition P]\n"
    "                                  a parking mapping's parked keys (on_failure mode park);\n"
    "                                  retry releases a key in order, drop dead-letters it\n"
    "  status -c FILE [--mapping NAME] [--json] [--timeout-ms N]\n"
    "                                  per mapping and partition: committed offset, end, lag,\n"
    "                                  exactly-once epoch and marks, parked keys, crash ledger,\n"
    "                                  and the group's members (reads Kafka and Redis only)\n"
    "  demo [-c FILE] [--records N]    the main job on an embedded Kafka (see scripts/demo.sh)\n"
    "  config reference                print the Markdown reference of every config key\n"
    "  config check -c FILE            the same as check\n"
    "  metrics reference               print the Markdown reference of every /metrics family\n"
    "  version                         print the version and the handler ABI\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config\n";

kf_config *kf_cli_load_config(const char *path)
{
    if (!path) {
        fprintf(stderr, "kfleet: missing -c FILE\n%s", usage);
        return NULL;
    }
    char err[1024];
    kf_config *cfg = NULL;
    if (kf_config_load_file(path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "kfleet: bad config: %s\n", err);
        return NULL;
    }
    kf_log_level lvl;
    if (cfg->log_level && kf_log_parse_level(cfg->log_level, &lvl) == 0) kf_log_set_level(lvl);
    return cfg;
}

int kf_cli_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return KF_EXIT_USAGE;
    }
    /* Before any config is read: `type` accepts the registered sink types. */
    kf_sinks_init();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return KF_EXIT_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("kfleet %s (handler ABI %d)\n", KF_VERSION, KF_ABI_VERSION);
        return KF_EXIT_OK;
    }
    if (!strcmp(cmd, "run")) return kf_cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "check")) return kf_cmd_check(argc - 2, argv + 2);
    if (!strcmp(cmd, "invoke")) return kf_cmd_invoke(argc - 2, argv + 2);
    if (!strcmp(cmd, "redrive")) return kf_cmd_redrive(argc - 2, argv + 2);
    if (!strcmp(cmd, "parked")) return kf_cmd_parked(argc - 2, argv + 2);
    if (!strcmp(cmd, "status")) return kf_cmd_status(argc - 2, argv + 2);
    if (!strcmp(cmd, "demo")) return kf_cmd_demo(argc - 2, argv + 2);
    if (!strcmp(cmd, "config")) return kf_cmd_config(argc - 2, argv + 2);
    if (!strcmp(cmd, "metrics")) return kf_cmd_metrics(argc - 2, argv + 2);
    fprintf(stderr, "kfleet: unknown command \"%s\"\n%s", cmd, usage);
    return KF_EXIT_USAGE;
}
