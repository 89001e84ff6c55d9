/*
 * The kfleet command line: `kfleet run|check|invoke|redrive|parked|status|demo|config|version`.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad config.
 */
#ifndef KF_CLI_H
#define KF_CLI_H

#include "config/config.h"

enum { KF_EXIT_OK = 0, KF_EXIT_RUNTIME = 1, KF_EXIT_USAGE = 2 };

int kf_cli_main(int argc, char **argv);

/* Commands, each in its own file. argv starts after the command name. */
int kf_cmd_run(int argc, char **argv);
int kf_cmd_check(int argc, char **argv);
int kf_cmd_invoke(int argc, char **argv);
int kf_cmd_demo(int argc, char **argv);
int kf_cmd_config(int argc, char **argv);
int kf_cmd_metrics(int argc, char **argv);
int kf_cmd_redrive(int argc, char **argv);
int kf_cmd_parked(int argc, char **argv);
int kf_cmd_status(int argc, char **argv);

/* Loads -c FILE for a command; prints the error and returns NULL (exit 2). */
kf_config *kf_cli_load_config(const char *path);

#endif
