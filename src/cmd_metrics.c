/* `kfleet metrics reference`: the Markdown reference of every family
 * /metrics shows (the README's Metrics table, which a unit test keeps equal). */
#include "src/cli.h"
#include "src/metrics_text.h"

#include <stdio.h>
#include <string.h>

int kf_cmd_metrics(int argc, char **argv)
{
    if (argc == 1 && !strcmp(argv[0], "reference")) {
        if (kf_metrics_reference(stdout) != 0 || fflush(stdout) != 0) {
            perror("kfleet metrics reference");
            return KF_EXIT_RUNTIME;
        }
        return KF_EXIT_OK;
    }
    fprintf(stderr, "usage: kfleet metrics reference\n");
    return KF_EXIT_USAGE;
}
