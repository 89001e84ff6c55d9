#!/usr/bin/env bash
# test_http_hang.sh — an HTTP sink endpoint that hangs. Two workers run
# FL_RECORDS records (30,000, produced over ~30 s) through a 1 ms handler to
# Kafka, Redis and HTTP sinks; 2-4 s after the first outputs the test
# receiver accepts connections and reads requests but never answers for
# HF_HANG_MS (20 s; the sink's timeout_ms is HF_TIMEOUT_MS, 2000, so every
# request times out), then resets the held connections and answers normally.
# Nothing held is applied. What must hold: the HTTP sink makes progress after
# the hang, the run drains, and the checker (faults_lib.sh) finds every record
# exactly once per sink (eos) or at least once (alo), and only the poison
# records in the on-failure topic.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_SLEEP_MS (1), HF_HANG_MS
# (20000), HF_TIMEOUT_MS (2000), and those of faults_lib.sh.
# fault-modes: eos alo
# fault-ci:
set -euo pipefail
FL_RECORDS=${FL_RECORDS:-30000}
FL_SLEEP_MS=${FL_SLEEP_MS:-1}
FL_WORKERS=${FL_WORKERS:-2}
# shellcheck source=tests/faults/faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"
# shellcheck source=tests/faults/http_faults_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/http_faults_lib.sh"

hf_setup
hf_scenario "http_hang" "${HF_HANG_MS:-20000}" hang
fl_finish
