#!/usr/bin/env bash
# test_worker_kill.sh — workers crash. Three workers in one group run
# FL_RECORDS records (30,000, produced over ~20 s, the time the kills take)
# through a 1 ms handler to Kafka, Redis and HTTP sinks; a random worker is
# SIGKILLed and a new one started in its place every 2-4 s, FL_KILLS (6)
# times (fl_kill). Each kill leaves open transactions, unmarked HTTP
# requests and records in flight; the group rebalances twice per kill. What
# must hold: the run drains, the checker (faults_lib.sh) finds every record
# exactly once per sink (eos: the marks make the replays effect-free, Kafka
# fences the dead producers) or at least once (alo, duplicates counted), and
# only the poison records in the on-failure topic.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_KILLS (6), FL_SLEEP_MS (1),
# FL_SEED, and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=3
KILLS=${FL_KILLS:-6}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"

fl_setup "worker_kill"
fl_produce --rate $((FL_RECORDS / 20))
fl_start_workers
for ((i = 1; i <= KILLS; i++)); do
	fl_random 2000 4000
	fl_hold "$FL_R" # between kills: fault timing
	fl_check_workers
	fl_random 1 3
	fl_kill "$FL_R"
done
fl_finish
