/* The daemon's entry point; everything else lives in src/cli.c and below. */
#include "src/cli.h"

int main(int argc, char **argv)
{
    return kf_cli_main(argc, argv);
}
