/* `kfleet config reference` (the Markdown reference of every key) and
 * `kfleet config check` (the same as `kfleet check`). */
#include "config/reference.h"
#include "src/cli.h"

#include <stdio.h>
#include <string.h>

int kf_cmd_config(int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : NULL;
    if (sub && !strcmp(sub, "reference") && argc == 1) {
        if (kf_config_reference(stdout) != 0 || fflush(stdout) != 0) {
            perror("kfleet config reference");
            return KF_EXIT_RUNTIME;
        }
        return KF_EXIT_OK;
    }
    if (sub && !strcmp(sub, "check")) return kf_cmd_check(argc - 1, argv + 1);
    fprintf(stderr, "usage: kfleet config reference | kfleet config check -c FILE\n");
    return KF_EXIT_USAGE;
}
