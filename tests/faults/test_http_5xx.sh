#!/usr/bin/env bash
# test_http_5xx.sh — an HTTP sink endpoint that fails. Two workers run
# FL_RECORDS records (30,000, produced over ~30 s) through a 1 ms handler to
# Kafka, Redis and HTTP sinks; 2-4 s after the first outputs the test
# receiver answers 503 to every request for HF_5XX_MS (15 s), then 200
# again. A 503 is retryable: the records wait without using up their
# attempts, in both modes (a sink that is down is not the record's
# failure), and keep their key's order at the endpoint. What must hold: the
# HTTP sink makes progress after the outage, the run drains, the checker
# (faults_lib.sh) finds every record exactly once per sink (eos) or at least
# once (alo), and only the poison records in the on-failure topic.
#
# Knobs: FL_MODE (eos), FL_RECORDS (30000), FL_SLEEP_MS (1), HF_5XX_MS
# (15000), and those of faults_lib.sh.
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
hf_scenario "http_5xx" "${HF_5XX_MS:-15000}" 5xx status=503
fl_finish
