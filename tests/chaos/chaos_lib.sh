# shellcheck shell=bash disable=SC2034 # CH_* names are read by the tests and it_render
# tests/chaos/chaos_lib.sh — the chaos machinery shared by test_chaos_eos.sh
# and test_chaos_alo.sh: three `kfleet run` workers in one consumer group,
# SIGKILLed and restarted at random, the state Redis SIGKILLed once and
# restarted, and a check of every sink against the ids produced.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/chaos_lib.sh"   # sources itest_common.sh
#   ch_setup true                  # exactly_once true|false; topics, config, receiver
#   ch_produce_initial             # the first part of the records, before the workers
#   ch_start_workers               # w1 w2 w3, waits for first outputs
#   ch_run_chaos                   # kills (and the Redis kill) while the rest arrives
#   ch_wait_complete               # every id in every sink, or the deadline
#   ch_stop_workers                # SIGTERM, each must exit 0
#   ch_verify_sink redis --redis-list "$CH_LIST" ...   # prints "redis: duplicates=.."
#
# Knobs (environment): CHAOS_RECORDS (ids 0..N-1), CHAOS_KILLS (worker
# SIGKILLs), CHAOS_SEED (bash RANDOM seed: the same kill schedule again),
# CHAOS_FINISH_S (how long the workers may take to finish after the chaos).
# The tests set their own defaults before ch_setup.
#
# Redis: the test needs appendonly yes and appendfsync always. It takes the
# Redis of scripts/infra.sh (KFLEET_REDIS must be that one, since the Redis
# kill goes through infra.sh), sets appendfsync always with CONFIG SET,
# restarts it after the kill with KF_REDIS_APPENDFSYNC=always (infra.sh writes
# redis.conf at each start), and puts the original appendfsync back at exit
# (restarting the Redis if the test died while it was down), so the other
# tests on the same infrastructure keep their settings.
#
# Timing: waits are on conditions with deadlines; the only sleeps are the
# random 1-3 s intervals between kills and the Redis outage, which are chaos
# timing, not synchronisation.

# shellcheck source=tests/integration/itest_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/itest_common.sh"

CH_CONFIGS=$KF_SOURCE_DIR/tests/chaos/configs
CH_INFRA=$KF_SOURCE_DIR/scripts/infra.sh
CH_WORKERS=3
CH_KILLS_DONE=0
CH_REDIS_KILLS=0
CH_KILLS_OWNING=0  # kills of a worker that owned partitions (its log's last assign/revoke)
CH_KILLS_FLOWING=0 # kills while the Redis sink was growing (outputs in flight)
CH_GEN=0
CH_CRASHES=0 # workers that died without being killed (restarted, and the test fails)
CH_FAILED=0 # set by ch_verify_sink / ch_stop_workers when something is wrong
CH_DUP_TOTAL=0 # duplicates summed over the sinks checked
declare -gA CH_WORKER=() # slot (1..3) -> name of the kfleet process now in it

# ch_ms — wall clock in milliseconds.
ch_ms() { date +%s%3N; }

# ch_sleep_random MIN_MS MAX_MS — chaos timing (never used to wait for a
# condition): sleeps a random time in [MIN_MS, MAX_MS].
ch_sleep_random() {
	local ms=$(($1 + (RANDOM * 32768 + RANDOM) % ($2 - $1 + 1)))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

# ch_redis_config NAME — the value of a Redis config parameter.
ch_redis_config() { kf_redis config get "$1" 2>/dev/null | sed -n 2p; }

# ch_setup EXACTLY_ONCE — infra, binaries, Redis durability, topics, the HTTP
# receiver and the worker config ($CH_CFG).
ch_setup() {
	local eos=$1 infra_env infra_port
	it_setup
	CH_EXACTLY_ONCE=$eos
	CH_RECORDS=${CHAOS_RECORDS:?}
	CH_KILLS=${CHAOS_KILLS:?}
	CH_FINISH_S=${CHAOS_FINISH_S:-150}
	CH_SEED=${CHAOS_SEED:-$(($$ ^ $(date +%s) % 32768))}
	((CH_KILLS >= 2)) || kf_fail "CHAOS_KILLS must be at least 2 (the Redis kill goes between two)"

	# The Redis kill goes through infra.sh: its Redis must be the test's.
	infra_env=$("$CH_INFRA" env 2>/dev/null) ||
		kf_fail "the chaos tests kill Redis with scripts/infra.sh, which is not up (KF_INFRA_DIR=${KF_INFRA_DIR:-default})"
	infra_port=$(sed -n 's/^KFLEET_REDIS_PORT=//p' <<<"$infra_env")
	[[ $infra_port == "$KFLEET_REDIS_PORT" ]] ||
		kf_fail "KFLEET_REDIS (port $KFLEET_REDIS_PORT) is not scripts/infra.sh's Redis (port $infra_port)"
	[[ $(ch_redis_config appendonly) == yes ]] ||
		kf_fail "the state Redis must run with appendonly yes (scripts/infra.sh's does)"
	CH_ORIG_FSYNC=$(ch_redis_config appendfsync)
	[[ -n $CH_ORIG_FSYNC ]] || kf_fail "cannot read the Redis appendfsync setting"
	kf_on_exit _ch_restore_redis
	kf_redis config set appendfsync always >/dev/null || kf_fail "CONFIG SET appendfsync always failed"
	kf_log "redis: appendonly yes, appendfsync always (was $CH_ORIG_FSYNC; restored at exit)"

	CH_IN=$(kf_unique chaos.in)
	CH_OUT=$(kf_unique chaos.out)
	CH_GROUP=$(kf_unique chaos.group)
	CH_LIST="$IT_PREFIX:results"
	export CH_IN CH_OUT CH_GROUP CH_LIST
	it_create_topic "$CH_OUT" 8
	it_create_topic "$CH_IN" 8

	it_start_receiver receiver
	CH_CFG=$KF_TMP/kfleet.json
	# ${CH_INSTANCE} stays in the rendered file: kfleet expands it per worker.
	# shellcheck disable=SC2016 # the literal is the point
	CH_INSTANCE='${CH_INSTANCE}' it_render "$CH_CONFIGS/chaos.json" "$CH_CFG" \
		"mappings.0.exactly_once=$eos"
	CH_INSTANCE=check "$KFLEET" check -c "$CH_CFG" >"$KF_TMP/check.log" 2>&1 || {
		cat "$KF_TMP/check.log" >&2
		kf_fail "kfleet check refused the chaos config"
	}

	# Seeded last: the names above stay unique, the kill schedule repeats.
	RANDOM=$CH_SEED
	kf_log "records=$CH_RECORDS kills=$CH_KILLS exactly_once=$eos seed=$CH_SEED (CHAOS_SEED)"
}

# Runs at exit: the Redis back up (if the test died during the outage) with
# its original appendfsync.
_ch_restore_redis() {
	if ! "$CH_INFRA" status >/dev/null 2>&1; then
		(ch_redis_start "$CH_ORIG_FSYNC") || kf_log "could not restart the Redis: run scripts/infra.sh up"
	fi
	kf_redis config set appendfsync "$CH_ORIG_FSYNC" >/dev/null 2>&1
}

# ch_produce_initial — ids 0..N/2-1 before the workers start (the rest comes
# during the chaos, see ch_run_chaos).
ch_produce_initial() {
	CH_PRE=$((CH_RECORDS / 2))
	it_produce -t "$CH_IN" -p 8 -n "$CH_PRE" -k 100
}

# ch_start_worker SLOT — a new `kfleet run` in SLOT with the shared config.
# Each slot is a static group member (group.instance.id = its slot): a
# worker restarted within the session timeout gets its partitions back
# without a rebalance, so the next kill lands on a worker that is busy.
ch_start_worker() {
	local slot=$1 name
	CH_GEN=$((CH_GEN + 1))
	name=w$slot.$CH_GEN
	CH_WORKER[$slot]=$name
	export CH_INSTANCE="$CH_GROUP-slot$slot"
	it_start_kfleet "$name" "$CH_CFG"
}

# ch_start_workers — three workers; returns once outputs appear.
ch_start_workers() {
	local s
	for ((s = 1; s <= CH_WORKERS; s++)); do
		ch_start_worker "$s"
	done
	ch_wait_until 90 "first outputs in the redis sink" it_llen_at_least "$CH_LIST" 1000
}

# ch_check_workers — a worker that died without being killed is a bug: it
# is reported (status and log tail, where a sanitizer report would be),
# counted in CH_CRASHES (the test fails at the end) and restarted, so that
# the run still finishes and every sink is still checked and printed.
ch_check_workers() {
	local s name st
	for ((s = 1; s <= CH_WORKERS; s++)); do
		name=${CH_WORKER[$s]}
		kf_alive "$name" && continue
		st=0
		wait "${KF_PID[$name]}" 2>/dev/null || st=$?
		IT_EXPECT_EXIT[$name]=1
		CH_CRASHES=$((CH_CRASHES + 1))
		kf_log "CRASH: $name (pid ${KF_PID[$name]}) exited by itself with status $st"
		grep -v '^{' "$KF_TMP/$name.log" | head -n 40 >&2 || true
		kf_show_log "$name" 5
		ch_start_worker "$s"
	done
}

# ch_wait_until SECONDS WHAT CMD [ARGS...] — poll CMD until it succeeds;
# fail the test after SECONDS. Crashed workers are restarted meanwhile.
ch_wait_until() {
	local secs=$1 what=$2 end
	shift 2
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || kf_fail "timed out after ${secs}s waiting for: $what"
		ch_check_workers
		sleep 0.2 # poll interval, not a synchronisation
	done
}

# ch_owns_partitions NAME — true if the worker's last assignment log line
# is an assignment, not a revocation: it owned partitions.
ch_owns_partitions() {
	grep -E '"msg":"mapping [^"]*: (assigned|revoked) [0-9]+ partition' "$KF_TMP/$1.log" 2>/dev/null |
		tail -n 1 | grep -q ': assigned '
}

# ch_pick_victim — sets CH_VICTIM to the slot to kill: a random one among
# the workers that own partitions (a kill then lands on in-flight work, not
# on a worker idle in a rebalance), or any random slot when none does. (No
# command substitution: RANDOM must advance in this shell for CHAOS_SEED.)
ch_pick_victim() {
	local s owners=()
	for ((s = 1; s <= CH_WORKERS; s++)); do
		if ch_owns_partitions "${CH_WORKER[$s]}"; then
			owners+=("$s")
		fi
	done
	if ((${#owners[@]})); then
		CH_VICTIM=${owners[RANDOM % ${#owners[@]}]}
	else
		CH_VICTIM=$((RANDOM % CH_WORKERS + 1))
	fi
}

# ch_kill_worker SLOT — SIGKILL the worker in SLOT and reap it. Sets
# CH_VICTIM_OWNED (yes/no: it owned partitions when killed).
ch_kill_worker() {
	local name=${CH_WORKER[$1]}
	IT_EXPECT_EXIT[$name]=1
	kill -KILL "${KF_PID[$name]}" 2>/dev/null || true
	kf_wait_exit "$name" 10
	CH_KILLS_DONE=$((CH_KILLS_DONE + 1))
	CH_VICTIM_OWNED=no
	if ch_owns_partitions "$name"; then
		CH_VICTIM_OWNED=yes
		CH_KILLS_OWNING=$((CH_KILLS_OWNING + 1))
	fi
}

# ch_redis_start APPENDFSYNC — infra.sh redis-start, tried up to 8 times.
# infra.sh can take a Redis that has not yet retitled its process (cmdline
# still "redis-server <conf>", not "...:<port>") for one that died during
# start-up (under load, about one start in three): it then gives up and
# forgets the pid, sometimes leaving that Redis running. Such an orphan (it
# answers, infra.sh does not know it) is stopped by its pid before the next
# try, so that infra.sh keeps tracking the Redis the other tests use.
ch_redis_start() {
	local attempt pid
	for ((attempt = 1; attempt <= 8; attempt++)); do
		if KF_REDIS_APPENDFSYNC=$1 "$CH_INFRA" redis-start 2>>"$KF_TMP/infra.log"; then
			return 0
		fi
		kf_log "infra.sh redis-start failed (attempt $attempt; $KF_TMP/infra.log)"
		pid=$({ kf_redis info server 2>/dev/null || true; } |
			sed -n 's/^process_id:\([0-9]*\).*/\1/p')
		if [[ -n $pid ]]; then
			kf_log "stopping the Redis infra.sh lost track of (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			kf_wait_for 30 "the untracked Redis (pid $pid) to exit" _ch_redis_gone "$pid"
		fi
	done
	kf_fail "infra.sh redis-start failed 8 times (see $KF_TMP/infra.log)"
}
_ch_redis_gone() { ! kill -0 "$1" 2>/dev/null && ! kf_redis ping >/dev/null 2>&1; }

# ch_kill_redis — once outputs are flowing (so that the kill lands in the
# middle of the workers' writes, not in a rebalance), SIGKILL the state
# Redis, leave it down 1-3 s while the workers keep running, start it again
# (appendfsync always), check it kept its durability settings, and wait
# until the workers write again.
ch_kill_redis() {
	local t0 after
	ch_wait_until 90 "outputs flowing before the Redis kill" \
		it_llen_at_least "$CH_LIST" $(($(it_redis_llen "$CH_LIST") + 1))
	kf_log "chaos: SIGKILL redis-server (llen before: $(it_redis_llen "$CH_LIST"))"
	"$CH_INFRA" redis-kill 2>>"$KF_TMP/infra.log" || kf_fail "infra.sh redis-kill failed"
	CH_REDIS_KILLS=$((CH_REDIS_KILLS + 1))
	ch_sleep_random 1000 3000 # the outage: chaos timing
	t0=$(ch_ms)
	ch_redis_start always
	kf_assert_eq always "$(ch_redis_config appendfsync)" "appendfsync after the Redis restart"
	kf_assert_eq yes "$(ch_redis_config appendonly)" "appendonly after the Redis restart"
	after=$(it_redis_llen "$CH_LIST")
	kf_log "chaos: redis-server back in $(($(ch_ms) - t0)) ms (llen after AOF load: $after)"
	# The workers must resume by themselves: the sink grows again.
	ch_wait_until 90 "redis sink outputs after the Redis restart" \
		it_llen_at_least "$CH_LIST" $((after + 1))
	kf_log "chaos: outputs resumed $(($(ch_ms) - t0)) ms after the Redis restart began"
}

# ch_run_chaos — the second half of the ids arrives (kf_produce at a rate
# that spreads it over the chaos) while a random worker (preferably one that
# owns partitions, see ch_pick_victim) is SIGKILLed and restarted every
# 1-3 s, CH_KILLS times; the Redis is SIGKILLed once, after half the kills.
# Returns once the producer delivered everything.
ch_run_chaos() {
	local live=$((CH_RECORDS - CH_PRE)) rate i slot redis_at=$((CH_KILLS / 2)) t0=$SECONDS
	local llen0 llen1 flowing
	rate=$((live / (CH_KILLS * 2)))
	((rate >= 500)) || rate=500
	kf_start producer "$IT_TOOLS/kf_produce" -q -t "$CH_IN" -p 8 -s "$CH_PRE" -n "$live" \
		-k 100 --rate "$rate"
	for ((i = 1; i <= CH_KILLS; i++)); do
		llen0=$(it_redis_llen "$CH_LIST")
		ch_sleep_random 1000 3000 # the kill interval: chaos timing
		ch_check_workers
		ch_pick_victim
		slot=$CH_VICTIM
		llen1=$(it_redis_llen "$CH_LIST")
		ch_kill_worker "$slot"
		ch_start_worker "$slot"
		flowing=no
		if ((llen1 > llen0)); then
			flowing=yes
			CH_KILLS_FLOWING=$((CH_KILLS_FLOWING + 1))
		fi
		kf_log "chaos: kill $i/$CH_KILLS: slot $slot (owned partitions: $CH_VICTIM_OWNED, outputs flowing: $flowing, llen $llen1) restarted as ${CH_WORKER[$slot]}"
		if ((i == redis_at)); then
			ch_kill_redis
		fi
	done
	CH_CHAOS_S=$((SECONDS - t0))
	kf_log "chaos over after ${CH_CHAOS_S}s: $CH_KILLS_DONE worker kills ($CH_KILLS_OWNING of a worker owning partitions, $CH_KILLS_FLOWING while outputs flowed), $CH_REDIS_KILLS redis kill"
	kf_wait_exit producer 120
	kf_assert_eq 0 "$KF_STATUS" "kf_produce exit status"
	kf_log "all $CH_RECORDS records produced"
}

# _ch_complete — true when every sink holds every id (duplicates allowed:
# this only waits; the final check judges). Fails the test at once when
# kf_verify reports something more records cannot fix other than duplicates.
_ch_complete() {
	local what rc all=0
	local -a args
	for what in redis kafka http; do
		case $what in
		redis) args=(--redis-list "$CH_LIST") ;;
		kafka) args=(--kafka "$CH_OUT" --kafka-idle 10) ;;
		http) args=(--http-log "$IT_HTTP_LOG") ;;
		esac
		rc=0
		it_verify "${args[@]}" --expect "$CH_RECORDS" --allow-duplicates || rc=$?
		CH_PROGRESS[$what]=$IT_LAST_VERIFY
		case $rc in
		0) ;;
		2 | 3) all=1 ;;
		*)
			cat "$KF_TMP/verify.err" >&2
			it_fail "$what sink: $IT_LAST_VERIFY"
			;;
		esac
		((all == 0)) || return 1 # no need to read the next sinks yet
	done
}

# ch_wait_complete — wait (CH_FINISH_S at most) until every sink holds
# every id; on the deadline, go on: the final check reports what is lost.
ch_wait_complete() {
	local end=$((SECONDS + CH_FINISH_S)) next=$((SECONDS + 15)) t0=$SECONDS
	declare -gA CH_PROGRESS=()
	until _ch_complete; do
		ch_check_workers
		if ((SECONDS >= end)); then
			kf_log "not complete after ${CH_FINISH_S}s; checking what the sinks hold"
			return 0
		fi
		if ((SECONDS >= next)); then
			kf_log "waiting for the sinks: ${CH_PROGRESS[*]}"
			next=$((SECONDS + 15))
		fi
		sleep 0.5 # poll interval, not a synchronisation
	done
	kf_log "every sink holds every id, $((SECONDS - t0))s after the chaos"
}

# ch_stop_workers — SIGTERM to every worker at once; each must exit 0
# within 40 s (a graceful drain). A failure is noted in CH_FAILED, not fatal
# yet, so the sinks are still checked and printed.
ch_stop_workers() {
	local s name
	ch_check_workers
	for ((s = 1; s <= CH_WORKERS; s++)); do
		name=${CH_WORKER[$s]}
		IT_EXPECT_EXIT[$name]=1
		kill -TERM "${KF_PID[$name]}" 2>/dev/null || true
	done
	for ((s = 1; s <= CH_WORKERS; s++)); do
		name=${CH_WORKER[$s]}
		kf_wait_exit "$name" 40
		if ((KF_STATUS != 0)); then
			kf_log "FAIL: $name exited with status $KF_STATUS after SIGTERM (want 0)"
			kf_show_log "$name" 30
			CH_FAILED=1
		fi
	done
	kf_log "workers stopped"
}

# ch_verify_sink SINK KF_VERIFY_ARGS... — the final check of one sink: prints
# "<sink>: duplicates=D lost=L kills=K" on stdout, and on stderr kf_verify's
# full line plus, when something is wrong, its samples of lost and
# duplicated ids. Lost, bad or unexpected records (or an unreadable sink)
# set CH_FAILED; duplicates are summed in CH_DUP_TOTAL for the test to judge.
ch_verify_sink() {
	local sink=$1 rc=0 dups lost bad unexpected
	shift
	it_verify "$@" --expect "$CH_RECORDS" || rc=$?
	kf_log "$sink sink (final): $IT_LAST_VERIFY"
	((rc == 0)) || cat "$KF_TMP/verify.err" >&2
	dups=$(it_field duplicates)
	lost=$(it_field lost)
	bad=$(it_field bad)
	unexpected=$(it_field unexpected)
	if [[ -z $dups || -z $lost ]]; then
		kf_log "FAIL: $sink sink could not be read (kf_verify status $rc)"
		CH_FAILED=1
		dups=${dups:-?}
		lost=${lost:-?}
	else
		CH_DUP_TOTAL=$((CH_DUP_TOTAL + dups))
		((lost == 0 && ${bad:-0} == 0 && ${unexpected:-0} == 0)) || CH_FAILED=1
	fi
	echo "$sink: duplicates=$dups lost=$lost kills=$CH_KILLS_DONE"
}

# ch_receiver_stats FIELD — one counter of the HTTP receiver's GET /stats.
ch_receiver_stats() {
	python3 -c 'import json,sys,urllib.request
print(json.loads(urllib.request.urlopen(sys.argv[1]).read())[sys.argv[2]])' \
		"http://127.0.0.1:$IT_HTTP_PORT/stats" "$1"
}

# ch_log_summary — how often the worker logs say error/warn (for the report).
ch_log_summary() {
	local n errors warns
	errors=0
	warns=0
	for n in "${IT_KFLEET_NAMES[@]}"; do
		errors=$((errors + $(grep -c '"level":"error"' "$KF_TMP/$n.log" || true)))
		warns=$((warns + $(grep -c '"level":"warn"' "$KF_TMP/$n.log" || true)))
	done
	kf_log "worker logs: ${#IT_KFLEET_NAMES[@]} processes, $errors error lines, $warns warn lines (kept with KF_KEEP_TMP=1)"
}
