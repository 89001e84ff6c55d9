# shellcheck shell=bash
# tests/faults/broker_lib.sh — Kafka broker faults for the fault scenarios:
# the single broker of scripts/infra.sh SIGKILLed, stopped with SIGTERM, or
# frozen with SIGSTOP, and started (or thawed) again on the same port with
# the same data.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/broker_lib.sh"   # after faults_lib.sh
#   fl_setup broker_kill
#   bl_setup                      # the broker must be infra.sh's; restore at exit
#   bl_kill; fl_hold 4000; bl_start
#   bl_pause 12000                # SIGSTOP, hold, SIGCONT
#   bl_wait_progress 120 "after the broker came back"
#
# These faults stop the broker every client of the infrastructure uses: run
# them on an infrastructure of their own (KF_INFRA_DIR=/some/dir
# scripts/infra.sh up, and that environment), never beside other tests. At
# exit (pass or fail) a frozen broker is thawed and a stopped one started
# again, so the infrastructure is left as found.
#
# The broker's pid is the one scripts/infra.sh keeps in its run dir
# ($KF_INFRA_DIR/run/kafka.pid, or .infra/run/kafka.pid), checked to be a
# kafka.Kafka process with that run dir's server.properties.

BL_INFRA_DIR=${KF_INFRA_DIR:-$KF_SOURCE_DIR/.infra}
BL_PAUSED=""

# bl_setup — after fl_setup: the workers' broker must be infra.sh's (the
# faults go through it), and the broker is restored at exit.
bl_setup() {
	local env port
	env=$("$FL_INFRA" env 2>/dev/null) ||
		kf_fail "the broker faults go through scripts/infra.sh, which is not up (KF_INFRA_DIR=${KF_INFRA_DIR:-default})"
	port=$(sed -n 's/^KFLEET_BROKERS=.*:\([0-9]*\)$/\1/p' <<<"$env")
	[[ $FL_BROKERS == "127.0.0.1:$port" ]] ||
		kf_fail "FL_BROKERS ($FL_BROKERS) is not scripts/infra.sh's broker (127.0.0.1:$port, KF_INFRA_DIR=${KF_INFRA_DIR:-default})"
	bl_pid >/dev/null || kf_fail "no running broker in $BL_INFRA_DIR/run/kafka.pid"
	kf_on_exit _bl_restore
}

# bl_pid — the broker's pid (fails when it does not run).
bl_pid() {
	local pid cmd
	pid=$(cat "$BL_INFRA_DIR/run/kafka.pid" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	{ cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline"); } 2>/dev/null || return 1
	[[ $cmd == *kafka.Kafka*"$BL_INFRA_DIR/run/server.properties"* ]] || return 1
	echo "$pid"
}

# bl_infra CMD — scripts/infra.sh CMD, its output in $KF_TMP/infra.log.
bl_infra() {
	"$FL_INFRA" "$1" >>"$KF_TMP/infra.log" 2>&1 || {
		tail -n 20 "$KF_TMP/infra.log" >&2
		kf_fail "scripts/infra.sh $1 failed"
	}
}

# bl_kill — SIGKILL the broker (infra.sh kafka-kill).
bl_kill() {
	local before
	before=$(fl_outputs)
	bl_infra kafka-kill
	fl_note "broker SIGKILLed (outputs $before)"
}

# bl_stop — a clean broker shutdown: SIGTERM, wait for the exit (infra.sh
# kafka-stop; a broker that ignores SIGTERM for 15 s gets SIGKILL).
bl_stop() {
	local before t0=$SECONDS
	before=$(fl_outputs)
	bl_infra kafka-stop
	fl_note "broker stopped with SIGTERM in $((SECONDS - t0)) s (outputs $before)"
}

# bl_start — start the broker again, same port and data; returns once it
# answers (infra.sh kafka-start).
bl_start() {
	local t0=$SECONDS
	bl_infra kafka-start
	fl_note "broker started again, answering after $((SECONDS - t0)) s (outputs $(fl_outputs))"
}

# bl_pause MS — SIGSTOP the broker (every thread: it accepts TCP connections
# in the kernel's backlog but answers nothing), hold, SIGCONT.
bl_pause() {
	local pid
	pid=$(bl_pid) || kf_fail "no running broker to pause"
	kill -STOP "$pid" || kf_fail "cannot SIGSTOP the broker (pid $pid)"
	BL_PAUSED=$pid
	fl_note "broker SIGSTOPped for $1 ms (outputs $(fl_outputs))"
	fl_hold "$1"
	kill -CONT "$pid" || kf_fail "cannot SIGCONT the broker (pid $pid)"
	BL_PAUSED=""
	fl_note "broker SIGCONTed (outputs $(fl_outputs))"
}

# bl_wait_progress SECONDS WHAT — wait until the outputs grow (or are
# complete): the fleet makes progress again after a broker fault.
bl_wait_progress() {
	local before total
	before=$(fl_outputs)
	total=$((FL_RECORDS - FL_RECORDS / FL_POISON))
	fl_wait_until "$1" "progress $2 (outputs were $before)" \
		fl_outputs_at_least $((before + 1 < total ? before + 1 : total))
	kf_log "progress $2: outputs $(fl_outputs) (were $before)"
}

# At exit: thaw a paused broker, start a stopped one, so that the
# infrastructure is left as it was found.
_bl_restore() {
	[[ -n $BL_PAUSED ]] && kill -CONT "$BL_PAUSED" 2>/dev/null
	bl_pid >/dev/null || "$FL_INFRA" kafka-start >>"$KF_TMP/infra.log" 2>&1 ||
		echo "[$KF_TEST_NAME] could not start the broker again (scripts/infra.sh kafka-start)" >&2
}
