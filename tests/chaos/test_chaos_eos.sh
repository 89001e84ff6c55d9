#!/usr/bin/env bash
# test_chaos_eos.sh — the exactly-once proof (eos/README.md, "The
# protocol"). Three `kfleet run` workers in one consumer group run a mapping
# with "exactly_once": true (echo handler, ordering "key", commit every
# 100 ms) from 8 partitions to a Kafka topic, a Redis list (RPUSH on the state
# Redis) and an HTTP receiver that honours Idempotency-Key. 100,000 records
# (ids 0..N-1): half before the workers start, half during the chaos. A random
# worker is SIGKILLed and restarted every 1-3 s, 16 times; the state Redis
# (appendonly yes, appendfsync always) is SIGKILLed once mid-run and
# restarted. Then the workers finish and get SIGTERM.
#
# Passes only if every id is exactly once in the Redis list, exactly once in
# the Kafka topic read with isolation.level=read_committed, and applied
# exactly once at the HTTP receiver (one effect per id: the receiver may see
# a request again with the same Idempotency-Key; the receiver's effect count
# must be N too). Prints "<sink>: duplicates=D lost=L kills=K" per sink and
# "chaos: ... seconds=S".
#
# Knobs: CHAOS_RECORDS (100000), CHAOS_KILLS (16), CHAOS_SEED, CHAOS_FINISH_S
# (150); see chaos_lib.sh.
set -euo pipefail
CHAOS_RECORDS=${CHAOS_RECORDS:-100000}
CHAOS_KILLS=${CHAOS_KILLS:-16}
# shellcheck source=tests/chaos/chaos_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/chaos_lib.sh"

ch_setup true
ch_produce_initial
ch_start_workers
ch_run_chaos
ch_wait_complete
ch_stop_workers
ch_log_summary

ch_verify_sink redis --redis-list "$CH_LIST"
ch_verify_sink kafka --kafka "$CH_OUT"
ch_verify_sink http --http-log "$IT_HTTP_LOG" --effects
effects=$(ch_receiver_stats effects)
requests=$(ch_receiver_stats requests)
kf_log "http receiver: requests=$requests effects=$effects duplicate_keys=$(ch_receiver_stats duplicate_keys)"
if [[ $effects != "$CH_RECORDS" ]]; then
	kf_log "FAIL: the HTTP receiver counts $effects effects, want $CH_RECORDS"
	CH_FAILED=1
fi
echo "chaos: exactly_once=true records=$CH_RECORDS kills=$CH_KILLS_DONE kills_owning=$CH_KILLS_OWNING kills_flowing=$CH_KILLS_FLOWING redis_kills=$CH_REDIS_KILLS crashes=$CH_CRASHES seed=$CH_SEED seconds=$SECONDS"

((CH_KILLS_DONE >= 15)) || kf_fail "only $CH_KILLS_DONE worker kills (want at least 15)"
((CH_REDIS_KILLS == 1)) || kf_fail "the Redis was not killed"
((CH_CRASHES == 0)) || kf_fail "$CH_CRASHES worker(s) died without being killed (CRASH lines above)"
((CH_FAILED == 0 && CH_DUP_TOTAL == 0)) ||
	kf_fail "exactly-once broken: $CH_DUP_TOTAL duplicates in all (lines above: duplicates, losses, which ids)"
kf_pass "$CH_RECORDS records, $CH_KILLS_DONE worker kills and a Redis kill: every sink exactly once in ${SECONDS}s"
