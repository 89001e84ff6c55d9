#!/usr/bin/env bash
# test_http_slow.sh — an HTTP sink endpoint that turns slow. Two workers run
# FL_RECORDS records (30,000, produced over ~30 s) through a 1 ms handler to
# Kafka, Redis and HTTP sinks; 2-4 s after the first outputs the test
# receiver waits a random 1-2 s before it applies and answers each request,
# for HF_SLOW_MS (20 s), then answers at once again. The sink keeps its
# default timeout_ms (5000 here: slower than that would be http_hang), so no
# request should time out: slow is not down. What must hold: the HTTP sink
# makes progress after the slow period, the run drains, and the checker
# (faults_lib.sh) finds every record exactly once per sink (eos) or at least
# once (alo), and only the poison records in the on-failure topic.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_SLEEP_MS (1), HF_SLOW_MS
# (20000), HF_TIMEOUT_MS (5000), and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
HF_TIMEOUT_MS=${HF_TIMEOUT_MS:-5000}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/http_faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/http_faults_lib.sh"

hf_setup
hf_scenario "http_slow" "${HF_SLOW_MS:-20000}" slow min_ms=1000 max_ms=2000
fl_finish
