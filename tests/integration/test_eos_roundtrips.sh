#!/usr/bin/env bash
# test_eos_roundtrips.sh — exactly-once costs Redis round trips per batch,
# never per record (issue 3, "Round trips").
#
# N=20,000 records, batch.max_records B=500, concurrency.threads 1 (a worker
# takes chunks of up to 256 records), sinks redis (RPUSH on the state Redis:
# one `complete` script per chunk applies the writes and the marks) and kafka
# (transactional, no Redis marks). The state Redis is a redis-server of the
# test's own (appendonly yes, like scripts/infra.sh), so nothing else adds
# to its counters; its stats are reset before the worker starts (CONFIG
# RESETSTAT) and INFO commandstats is read after a graceful stop (so the
# revoke trims count too):
#   evalsha + eval <= 4 * N / 256 + 50   (a chunk may be smaller than 256;
#                                         + start-up, 8 assigns, 8 trims)
#   evalsha + eval <  N / 20              (far below one call per record)
# and both sinks still hold every record exactly once. The commands the
# scripts run inside Redis (rpush, zadd...) are printed, not asserted.
set -euo pipefail
# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/itest_common.sh"
it_setup

N=${IT_EOS_RECORDS:-20000}
B=500
CHUNK=256
IT_IN=$(kf_unique eosrt.in)
IT_OUT=$(kf_unique eosrt.out)
IT_GROUP=$(kf_unique eosrt.group)
IT_LIST="$IT_PREFIX:results"
export IT_IN IT_OUT IT_GROUP IT_LIST

# calls CMD — the calls= of cmdstat_CMD in INFO commandstats (0 if absent).
calls() {
	local n
	n=$(kf_redis info commandstats | tr -d '\r' |
		sed -nE "s/^cmdstat_$1:calls=([0-9]+),.*/\1/p")
	echo "${n:-0}"
}

# A private state Redis: kf_redis, kf_verify and the config follow these.
port=$(kf_free_port)
kf_start redis redis-server --bind 127.0.0.1 --port "$port" --dir "$KF_TMP" --save "" \
	--appendonly yes --appendfsync everysec
KFLEET_REDIS="redis://127.0.0.1:$port/0"
KFLEET_REDIS_HOST=127.0.0.1
KFLEET_REDIS_PORT=$port
export KFLEET_REDIS KFLEET_REDIS_HOST KFLEET_REDIS_PORT
redis_up() { [[ $(kf_redis ping 2>/dev/null) == PONG ]]; }
kf_wait_for 30 "the private redis-server on port $port" redis_up

it_create_topic "$IT_OUT" 8
it_produce -t "$IT_IN" -p 8 -n "$N" -k 100 --value-size 100
it_render eos_redis_kafka.json "$KF_TMP/kfleet.json" \
	mappings.0.batch.max_records="$B" mappings.0.concurrency.threads=1

kf_redis config resetstat >/dev/null || it_fail "CONFIG RESETSTAT failed"
kf_assert_eq 0 "$(calls evalsha)" "evalsha calls right after CONFIG RESETSTAT"

it_start_kfleet w1 "$KF_TMP/kfleet.json"
# Wait on the Kafka sink (kf_verify reads the list with LRANGE, no script).
it_verify_until 90 "redis sink" --redis-list "$IT_LIST" --expect "$N"
it_verify_until 60 "kafka sink" --kafka "$IT_OUT" --expect "$N"
it_stop_kfleet w1 30

evalsha=$(calls evalsha)
eval_=$(calls eval)
scripts=$((evalsha + eval_))
loads=$(calls 'script\|load')
rpush=$(calls rpush)
zadd=$(calls zadd)
limit=$((4 * N / CHUNK + 50))
far=$((N / 20))
echo "roundtrips records=$N batch=$B chunk=$CHUNK evalsha=$evalsha eval=$eval_ script_load=$loads" \
	"records_per_script=$(awk -v n="$N" -v s="$scripts" 'BEGIN { printf "%.1f", s ? n / s : 0 }')" \
	"limit=$limit far_below=$far inner_rpush=$rpush inner_zadd=$zadd"

it_verify_final "redis sink (final)" --redis-list "$IT_LIST" --expect "$N" --check-key-order
it_verify_final "kafka sink (final, read_committed)" --kafka "$IT_OUT" --expect "$N" --check-key-order

((scripts > 0)) || it_fail "no EVALSHA/EVAL at all: the redis sink did not go through the exactly-once scripts"
((scripts <= limit)) ||
	it_fail "$scripts script calls (evalsha $evalsha + eval $eval_) for $N records: more than 4*N/$CHUNK+50 = $limit"
((scripts < far)) ||
	it_fail "$scripts script calls for $N records: not far below one per record (want < N/20 = $far)"
kf_pass "$N records, $scripts Redis script calls (<= $limit, < $far), each sink exactly once"
