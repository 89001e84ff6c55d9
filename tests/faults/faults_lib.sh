# shellcheck shell=bash disable=SC2034 # FL_* names are read by the tests and it_render
# tests/faults/faults_lib.sh — what every fault scenario shares: one workload,
# kfleet workers in one consumer group, fault helpers, and ONE checker
# modelled on Jepsen's Kafka workload.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/faults_lib.sh"   # sources itest_common.sh
#   fl_setup zombie_alone              # scenario name; mode from FL_MODE (eos|alo)
#   fl_produce                         # the records (all, or --rate R in the background)
#   fl_start_workers                   # FL_WORKERS of them, waits for first outputs
#   fl_freeze 1 10000                  # the fault (helpers below)
#   fl_finish                          # drain (deadline), SIGTERM, check, result line
#
# The workload: FL_RECORDS records (ids 0..N-1, 100 keys, 8 partitions) into
# a mapping with a Kafka sink, a Redis sink (RPUSH on the state Redis) and an
# HTTP sink (a receiver that honours Idempotency-Key), ordering FL_ORDERING
# (key), the flaky handler sleeping FL_SLEEP_MS per record and failing every
# record whose id is a multiple of FL_POISON (those go to the on-failure
# topic). FL_SINKS names the sinks kept (default "kafka redis http").
#
# The checker (fl_check), per sink: the set of input ids equals the set of
# output ids (Redis list; Kafka read with isolation.level=read_committed; HTTP
# counting one effect per Idempotency-Key), per-key order in `key` mode, and
# exactly the poison records in the on-failure topic. With FL_MODE=eos a
# duplicate anywhere fails; with FL_MODE=alo duplicates are allowed and
# counted, losses never. Liveness: the run must drain (every sink complete)
# within FL_DRAIN_S of the last fault, and every worker must exit 0 on
# SIGTERM. A worker that dies by itself fails the run.
#
# Each run appends one line to $FL_RESULTS (default build/faults-results.txt),
# also when it fails before the end:
#   scenario=.. mode=.. records=.. duplicates=.. losses=.. drained=yes|no
#   seconds=.. result=pass|fail
# and prints it; scripts/faults_table.sh turns the file into the README's
# table.
#
# Knobs (environment; the scenario sets its defaults before fl_setup):
# FL_MODE (eos|alo), FL_RECORDS, FL_WORKERS, FL_THREADS, FL_SLEEP_MS,
# FL_POISON, FL_ORDERING, FL_SINKS, FL_DRAIN_S, FL_SEED (RANDOM seed for the
# fault schedule), FL_STATE_REDIS (the URL workers use for the state Redis:
# a fault proxy in front of it, say).
#
# Timing: every wait is on a condition with a deadline; the sleeps are fault
# durations (how long a process stays frozen, a link stays cut), not
# synchronisation.

# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/itest_common.sh"

FL_CONFIGS=$KF_SOURCE_DIR/tests/faults/configs
FL_INFRA=$KF_SOURCE_DIR/scripts/infra.sh
declare -gA FL_WORKER=() # slot -> name of the kfleet process in it
declare -gA FL_METRICS=() # slot -> metrics port
FL_GEN=0
FL_CRASHES=0
FL_FAILED=0
FL_DUPS=0
FL_LOSSES=0
FL_NOTES=()

# fl_ms — wall clock in milliseconds.
fl_ms() { date +%s%3N; }

# fl_setup SCENARIO — infra, names, topics, the receiver and the config.
fl_setup() {
	FL_SCENARIO=$1
	it_setup
	FL_MODE=${FL_MODE:-eos}
	case $FL_MODE in
	eos) FL_EOS=true ;;
	alo) FL_EOS=false ;;
	*) kf_fail "FL_MODE must be eos or alo, got '$FL_MODE'" ;;
	esac
	FL_RECORDS=${FL_RECORDS:-20000}
	FL_WORKERS=${FL_WORKERS:-1}
	FL_THREADS=${FL_THREADS:-8}
	FL_SLEEP_MS=${FL_SLEEP_MS:-0}
	FL_POISON=${FL_POISON:-1000}
	FL_ORDERING=${FL_ORDERING:-key}
	FL_SINKS=${FL_SINKS:-kafka redis http}
	FL_DRAIN_S=${FL_DRAIN_S:-120}
	FL_SEED=${FL_SEED:-$((($$ ^ $(date +%s)) % 32768))}
	FL_RESULTS=${FL_RESULTS:-$KF_BUILD_DIR/faults-results.txt}
	FL_BROKERS=${FL_BROKERS:-$KFLEET_BROKERS}
	FL_STATE_REDIS=${FL_STATE_REDIS:-$KFLEET_REDIS}
	FL_T0=$SECONDS

	FL_IN=$(kf_unique fault.in)
	FL_OUT=$(kf_unique fault.out)
	FL_DLQ=$(kf_unique fault.dlq)
	FL_GROUP=$(kf_unique fault.group)
	FL_LIST="$IT_PREFIX:results"
	export FL_IN FL_OUT FL_DLQ FL_GROUP FL_LIST FL_EOS FL_SLEEP_MS FL_ORDERING FL_THREADS \
		FL_BROKERS FL_STATE_REDIS
	it_create_topic "$FL_OUT" 8
	it_create_topic "$FL_DLQ" 4
	it_create_topic "$FL_IN" 8

	it_start_receiver receiver ${FL_RECEIVER_ARGS:-}
	FL_CFG=$KF_TMP/kfleet.json
	local drop=() i=0 s
	for s in kafka redis http; do
		[[ " $FL_SINKS " == *" $s "* ]] || drop=("-mappings.0.sinks.$i" "${drop[@]}")
		i=$((i + 1))
	done
	# ${FL_METRICS_PORT} stays in the rendered file: kfleet expands it per worker.
	# shellcheck disable=SC2016 # the literal is the point
	FL_METRICS_PORT='${FL_METRICS_PORT}' it_render "$FL_CONFIGS/fault.json" "$FL_CFG" \
		"${drop[@]}" ${FL_RENDER_ARGS:-}
	FL_METRICS_PORT=1 "$KFLEET" check -c "$FL_CFG" >"$KF_TMP/check.log" 2>&1 || {
		cat "$KF_TMP/check.log" >&2
		kf_fail "kfleet check refused the fault config"
	}
	RANDOM=$FL_SEED
	FL_RESULT_WRITTEN=0
	kf_on_exit _fl_result_on_exit
	kf_log "scenario=$FL_SCENARIO mode=$FL_MODE records=$FL_RECORDS workers=$FL_WORKERS sleep_ms=$FL_SLEEP_MS sinks='$FL_SINKS' seed=$FL_SEED (FL_SEED)"
}

# fl_produce [kf_produce options] — every record, in the foreground (a
# --rate makes it run in the background as "producer"; fl_finish waits).
fl_produce() {
	if [[ " $* " == *" --rate "* ]]; then
		kf_start producer "$IT_TOOLS/kf_produce" -q -t "$FL_IN" -p 8 -n "$FL_RECORDS" -k 100 \
			--poison-every "$FL_POISON" "$@"
	else
		it_produce -t "$FL_IN" -p 8 -n "$FL_RECORDS" -k 100 --poison-every "$FL_POISON" "$@"
	fi
}

# fl_start_worker SLOT [COMMAND PREFIX...] — a new `kfleet run` in SLOT; a
# prefix (ip netns exec NS, faketime ...) runs kfleet under it.
fl_start_worker() {
	local slot=$1 name port
	shift
	FL_GEN=$((FL_GEN + 1))
	name=w$slot.$FL_GEN
	FL_WORKER[$slot]=$name
	port=$(kf_free_port)
	FL_METRICS[$slot]=$port
	IT_KFLEET_NAMES+=("$name")
	# shellcheck disable=SC2016 # $1 and $@ belong to the inner bash
	FL_METRICS_PORT=$port kf_start "$name" bash -c 'out=$1; shift; exec "$@" >"$out"' _ \
		"$KF_TMP/$name.out" "$@" "$KFLEET" run -c "$FL_CFG"
}

# fl_start_workers — FL_WORKERS workers; returns once outputs appear.
fl_start_workers() {
	local s
	for ((s = 1; s <= FL_WORKERS; s++)); do
		fl_start_worker "$s"
	done
	fl_wait_until 90 "first outputs" fl_outputs_at_least 1
}

# fl_pid SLOT — the pid of the kfleet process in SLOT.
fl_pid() { echo "${KF_PID[${FL_WORKER[$1]}]}"; }

# fl_outputs — how many outputs the first sink of the run holds now (the
# Redis list when there is one: cheap to read), for progress and waits.
fl_outputs() {
	if [[ " $FL_SINKS " == *" redis "* ]]; then
		it_redis_llen "$FL_LIST"
	elif [[ " $FL_SINKS " == *" http "* ]]; then
		wc -l <"$IT_HTTP_LOG" 2>/dev/null || echo 0
	else
		kf_count "$FL_OUT"
	fi
}
fl_outputs_at_least() { (($(fl_outputs) >= $1)); }

# fl_check_workers — a worker that died without being asked is a bug: it is
# reported, counted in FL_CRASHES (the run fails) and restarted so that the
# sinks can still be checked.
fl_check_workers() {
	local s name st
	for s in "${!FL_WORKER[@]}"; do
		name=${FL_WORKER[$s]}
		[[ -n ${IT_EXPECT_EXIT[$name]:-} ]] && continue
		kf_alive "$name" && continue
		st=0
		wait "${KF_PID[$name]}" 2>/dev/null || st=$?
		IT_EXPECT_EXIT[$name]=1
		FL_CRASHES=$((FL_CRASHES + 1))
		kf_log "CRASH: $name exited by itself with status $st"
		kf_show_log "$name" 20
		fl_start_worker "$s"
	done
}

# fl_wait_until SECONDS WHAT CMD [ARGS...] — poll CMD until it succeeds;
# fail after SECONDS. Dead workers are reported and restarted meanwhile.
fl_wait_until() {
	local secs=$1 what=$2 end
	shift 2
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || kf_fail "timed out after ${secs}s waiting for: $what"
		fl_check_workers
		sleep 0.2 # poll interval, not a synchronisation
	done
}

# fl_note TEXT — a line for the run's report (what the fault did).
fl_note() {
	FL_NOTES+=("$*")
	kf_log "fault: $*"
}

# ------------------------------------------------------------------ faults

# fl_hold MS — keep a fault in place for MS milliseconds (fault timing).
fl_hold() { sleep "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))"; }

# fl_random MIN MAX — a random integer in [MIN, MAX] from the seeded RANDOM.
fl_random() { FL_R=$(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1))); }

# fl_freeze SLOT MS — SIGSTOP the worker in SLOT (every thread: librdkafka's
# too, so its session times out like a stalled VM's), hold, SIGCONT.
fl_freeze() {
	local pid
	pid=$(fl_pid "$1")
	kill -STOP "$pid" || kf_fail "cannot SIGSTOP ${FL_WORKER[$1]}"
	fl_note "SIGSTOP ${FL_WORKER[$1]} for $2 ms (outputs $(fl_outputs))"
	fl_hold "$2"
	kill -CONT "$pid" || kf_fail "cannot SIGCONT ${FL_WORKER[$1]}"
}

# fl_kill SLOT — SIGKILL the worker in SLOT and start a new one there.
fl_kill() {
	local name=${FL_WORKER[$1]}
	IT_EXPECT_EXIT[$name]=1
	kill -KILL "${KF_PID[$name]}" 2>/dev/null || true
	kf_wait_exit "$name" 10
	fl_note "SIGKILL $name (outputs $(fl_outputs))"
	fl_start_worker "$1"
}

# ---------------------------------------------------------------- checking

# The kf_verify arguments for one sink ("kafka", "redis", "http" or "dlq").
# Per-key order is checked in the ordered modes, except at-least-once with
# the Kafka sink: a record whose last ack is a Kafka delivery report arriving
# after the worker moved on is retried behind later records of its key (the
# exception README.md "Semantics" states).
_fl_verify_args() {
	local order=()
	[[ $FL_ORDERING == unordered ]] || order=(--check-key-order)
	[[ $FL_MODE == alo && " $FL_SINKS " == *" kafka "* ]] && order=()
	case $1 in
	kafka) FL_ARGS=(--kafka "$FL_OUT" "${order[@]}") ;;
	redis) FL_ARGS=(--redis-list "$FL_LIST" "${order[@]}") ;;
	http) FL_ARGS=(--http-log "$IT_HTTP_LOG" --effects "${order[@]}") ;;
	dlq) FL_ARGS=(--dlq "$FL_DLQ" --only-mod "$FL_POISON") ;;
	esac
	[[ $1 == dlq ]] || FL_ARGS+=(--exclude-mod "$FL_POISON")
	FL_ARGS+=(--expect "$FL_RECORDS")
}

# _fl_complete SINK... — true when each sink holds every expected id
# (duplicates allowed: this only waits; fl_check judges). Fails at once on
# what more records cannot fix (bad or unexpected records, order).
_fl_complete() {
	local s rc
	for s in "$@"; do
		_fl_verify_args "$s"
		rc=0
		it_verify "${FL_ARGS[@]}" --allow-duplicates --kafka-idle 5 || rc=$?
		FL_PROGRESS="$s: $IT_LAST_VERIFY"
		case $rc in
		0) ;;
		2 | 3) return 1 ;;
		*)
			cat "$KF_TMP/verify.err" >&2
			kf_fail "$s sink: $IT_LAST_VERIFY"
			;;
		esac
	done
}

# The sinks the drain waits on first: those a worker writes as it goes
# (Redis, HTTP), or the Kafka ones when the run has no other. With both,
# _fl_wait_member_commits then waits for the Kafka outputs too.
_fl_drain_sinks() {
	FL_DRAIN=()
	local s
	for s in redis http; do
		[[ " $FL_SINKS " == *" $s "* ]] && FL_DRAIN+=("$s")
	done
	((${#FL_DRAIN[@]})) || FL_DRAIN=(kafka dlq)
}

# _fl_dlq_sane — fails the run at once when the on-failure topic holds a
# record that is not a poison pill (a handled record dead-lettered: no
# amount of waiting brings it to the sinks).
_fl_dlq_sane() {
	local rc=0
	_fl_verify_args dlq
	it_verify "${FL_ARGS[@]}" --allow-duplicates --kafka-idle 5 || rc=$?
	if ((rc == 1)); then
		cat "$KF_TMP/verify.err" >&2
		FL_FAIL_WHY="records that are not poison pills in the on-failure topic: $IT_LAST_VERIFY"
		kf_fail "$FL_FAIL_WHY"
	fi
	return 0
}

# fl_wait_drained — wait (FL_DRAIN_S at most, from now) until the sinks the
# workers write directly hold every record. Sets FL_DRAINED (yes|no) and
# FL_DRAIN_SECONDS.
fl_wait_drained() {
	local end=$((SECONDS + FL_DRAIN_S)) next=$((SECONDS + 15)) t0=$SECONDS
	FL_DRAINED=no
	if [[ -n ${KF_PID[producer]:-} ]]; then
		kf_wait_exit producer 300
		((KF_STATUS == 0)) || kf_fail "kf_produce failed (status $KF_STATUS)"
	fi
	_fl_drain_sinks
	until _fl_complete "${FL_DRAIN[@]}"; do
		fl_check_workers
		_fl_dlq_sane
		if ((SECONDS >= end)); then
			kf_log "NOT DRAINED after ${FL_DRAIN_S}s: $FL_PROGRESS"
			fl_diagnose
			FL_DRAIN_SECONDS=$((SECONDS - t0))
			return 0
		fi
		if ((SECONDS >= next)); then
			kf_log "draining: $FL_PROGRESS"
			next=$((SECONDS + 15))
		fi
		sleep 0.5 # poll interval, not a synchronisation
	done
	_fl_wait_member_commits "$end" || {
		kf_log "NOT DRAINED after ${FL_DRAIN_S}s: no transaction committed since the sinks were complete"
		fl_diagnose
		FL_DRAIN_SECONDS=$((SECONDS - t0))
		return 0
	}
	FL_DRAINED=yes
	FL_DRAIN_SECONDS=$((SECONDS - t0))
	kf_log "drained ${FL_DRAIN_SECONDS}s after the faults"
}

# _fl_wait_member_commits END — exactly-once with Kafka outputs: the Redis
# and HTTP sinks being complete does not mean the Kafka outputs will be. A
# worker thawed after its session timed out is out of the group until it
# rejoins, and a transaction of a non-member is refused (UNKNOWN_MEMBER_ID):
# the rejoin rewinds its partitions, and the Kafka outputs of the whole
# uncommitted window are produced again by the replay. A graceful stop
# finishes what is in flight, not the backlog of a replay, so "a transaction
# committed since the sinks were complete" is not enough (a session lost
# after that commit rewinds again; seen in CI, seed 15021): the drain waits
# (until END) for the Kafka outputs and dead letters themselves. Returns 1
# at END.
_fl_wait_member_commits() {
	local end=$1
	[[ $FL_MODE == eos && " $FL_SINKS " == *" kafka "* && " ${FL_DRAIN[*]} " != *" kafka "* ]] ||
		return 0
	until _fl_complete kafka dlq; do
		fl_check_workers
		((SECONDS < end)) || return 1
		sleep 0.5 # poll interval, not a synchronisation
	done
}

# fl_diagnose — what a stalled run looks like from inside: each live
# worker's /metrics and (when gdb is there) its threads' stacks, saved next
# to its log in $KF_TMP.
fl_diagnose() {
	local s name pid
	for s in "${!FL_WORKER[@]}"; do
		name=${FL_WORKER[$s]}
		kf_alive "$name" || continue
		pid=${KF_PID[$name]}
		curl -s -m 5 "http://127.0.0.1:${FL_METRICS[$s]}/metrics" >"$KF_TMP/$name.metrics" 2>&1 || true
		if command -v gdb >/dev/null; then
			timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt' >"$KF_TMP/$name.stacks" 2>&1 || true
		fi
		kf_log "diagnosis of $name: $KF_TMP/$name.metrics, $KF_TMP/$name.stacks"
	done
}

# fl_stop_workers — SIGTERM to every worker; each must exit 0 within 60 s.
fl_stop_workers() {
	local s name
	fl_check_workers
	for s in "${!FL_WORKER[@]}"; do
		name=${FL_WORKER[$s]}
		IT_EXPECT_EXIT[$name]=1
		kill -TERM "${KF_PID[$name]}" 2>/dev/null || true
	done
	for s in "${!FL_WORKER[@]}"; do
		name=${FL_WORKER[$s]}
		local end=$((SECONDS + 60))
		while kf_alive "$name" && ((SECONDS < end)); do
			sleep 0.2 # poll interval, not a synchronisation
		done
		if kf_alive "$name"; then
			kf_log "FAIL: $name did not exit within 60 s of SIGTERM; its stacks:"
			fl_diagnose
		fi
		kf_wait_exit "$name" 10
		if ((KF_STATUS != 0)); then
			kf_log "FAIL: $name exited with status $KF_STATUS after SIGTERM (want 0)"
			kf_show_log "$name" 30
			FL_FAILED=1
		fi
	done
}

# _fl_final SINK — the final check of one sink, after every worker exited:
# nothing can arrive any more except the commit markers of transactions the
# workers committed (Kafka applies them asynchronously), so Kafka sinks get
# a short wait for completeness, then one strict check.
_fl_final() {
	local s=$1 rc=0 dups lost extra=()
	_fl_verify_args "$s"
	[[ $s == dlq ]] && extra=(--expect-dlq $((FL_RECORDS / FL_POISON + (FL_RECORDS % FL_POISON > 0))))
	if [[ $s == kafka || $s == dlq ]]; then
		local end=$((SECONDS + 20))
		until _fl_complete "$s" || ((SECONDS >= end)); do sleep 0.5; done
	fi
	[[ $FL_MODE == alo ]] && extra+=(--allow-duplicates)
	it_verify "${FL_ARGS[@]}" "${extra[@]}" || rc=$?
	kf_log "$s (final): $IT_LAST_VERIFY"
	((rc == 0)) || cat "$KF_TMP/verify.err" >&2
	dups=$(it_field duplicates)
	lost=$(it_field lost)
	if [[ -z $dups || -z $lost ]]; then
		kf_log "FAIL: the $s sink could not be read (kf_verify status $rc)"
		FL_FAILED=1
		return
	fi
	FL_DUPS=$((FL_DUPS + dups))
	FL_LOSSES=$((FL_LOSSES + lost))
	((rc == 0)) || FL_FAILED=1
}

# fl_check — the final check of every sink and the on-failure topic.
fl_check() {
	local s
	for s in $FL_SINKS dlq; do
		_fl_final "$s"
	done
}

# _fl_result LINE_RESULT — the run's result line (stdout and $FL_RESULTS).
_fl_result() {
	local line
	FL_SECONDS=$((SECONDS - FL_T0))
	line="scenario=$FL_SCENARIO mode=$FL_MODE records=$FL_RECORDS duplicates=$FL_DUPS losses=$FL_LOSSES drained=${FL_DRAINED:-no} drain_s=${FL_DRAIN_SECONDS:-?} seconds=$FL_SECONDS crashes=$FL_CRASHES seed=$FL_SEED result=$1"
	echo "$line"
	mkdir -p "$(dirname "$FL_RESULTS")"
	echo "$(date -u +%FT%TZ) $line" >>"$FL_RESULTS"
	FL_RESULT_WRITTEN=1
}

# At exit: a run that failed before fl_finish wrote its line still leaves
# one (result=fail), so the table counts failures too.
_fl_result_on_exit() {
	((FL_RESULT_WRITTEN)) || _fl_result fail >&2
}

# fl_finish — drain, stop, check, report; exits non-zero on any failure.
fl_finish() {
	local result=pass
	fl_wait_drained
	fl_stop_workers
	fl_check
	((FL_CRASHES == 0)) && [[ $FL_DRAINED == yes ]] && ((FL_FAILED == 0)) || result=fail
	_fl_result "$result"
	((FL_CRASHES == 0)) || kf_fail "$FL_CRASHES worker(s) died by themselves"
	[[ $FL_DRAINED == yes ]] || kf_fail "the run did not drain within ${FL_DRAIN_S}s of the last fault"
	((FL_FAILED == 0)) || kf_fail "a sink is wrong (lines above)"
	kf_pass "scenario=$FL_SCENARIO mode=$FL_MODE records=$FL_RECORDS duplicates=$FL_DUPS losses=$FL_LOSSES drained=$FL_DRAINED seconds=$FL_SECONDS"
}
