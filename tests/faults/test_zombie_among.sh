#!/usr/bin/env bash
# test_zombie_among.sh — zombies among live workers. Three workers
# (session.timeout.ms 6000) in one group run FL_RECORDS records (150,000,
# produced at a rate that spreads them over the faults) through a 3 ms
# handler to Kafka, Redis and HTTP sinks; a random worker is frozen with
# SIGSTOP for 8-12 s, FL_FREEZES (7) times: the group rebalances its
# partitions to the others, and on SIGCONT it is a zombie that must be
# fenced, then rejoin and take a share again. The run must drain and the
# checker (faults_lib.sh) must find every record exactly once (eos) or at
# least once (alo).
#
# Knobs: FL_MODE (eos), FL_RECORDS (150000), FL_FREEZES (7), FL_SLEEP_MS (3),
# FL_SEED, and those of faults_lib.sh; FL_SCALE=ci (scripts/test.sh) runs
# 60,000 records and 4 freezes.
# fault-modes: eos alo
# fault-ci: eos
set -euo pipefail
if [[ ${FL_SCALE:-} == ci ]]; then # scripts/test.sh's bounded subset
	FL_RECORDS=${FL_RECORDS:-60000}
	FL_FREEZES=${FL_FREEZES:-4}
fi
FL_RECORDS=${FL_RECORDS:-150000}
FL_SLEEP_MS=${FL_SLEEP_MS:-3}
FL_WORKERS=3
FREEZES=${FL_FREEZES:-7}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"

fl_setup "zombie_among"
# Produced over about the time the faults take (FREEZES x ~12 s).
fl_produce --rate $((FL_RECORDS / (FREEZES * 12)))
fl_start_workers
for ((i = 1; i <= FREEZES; i++)); do
	fl_random 1 3
	fl_random 8000 12000
	ms=$FL_R
	fl_random 1 3
	fl_freeze "$FL_R" "$ms"
	fl_random 500 2000
	fl_hold "$FL_R" # between faults: fault timing
	fl_check_workers
done
fl_finish
