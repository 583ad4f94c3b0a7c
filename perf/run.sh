#!/bin/bash
# SPDX-License-Identifier: MIT
#
# perf/run.sh: Lightwire's benchmark harness. Builds what it needs, prints
# the machine, starts a private lwd, runs every benchmark RUNS times in
# sequence (never two at once: the machines have 2 CPUs), and prints the
# median of every figure, same-run ratios to the physical limit, the peers'
# recorded figures and PASS/MISS for the targets. See docs/performance.md.
#
# Environment:
#   BUILD=dir   meson build directory (default <repo>/build; set up if absent)
#   RUNS=n      runs of each benchmark (default 3; 1 with QUICK=1)
#   COUNT=n     round trips / messages / lookups for every benchmark
#               (default: each benchmark's own, see below)
#   QUICK=1     tiny counts: a smoke test of the harness, figures are rough
#   CPUS=a,b    the two CPUs (default 0,1)
#   OUT=dir     where results go (default $BUILD/perf-<date>)
#   LW_CLI=path the lw tool (default $BUILD/apps/lw/lw); when it is missing
#               the lw bench benchmarks are skipped with a message
#   NATS_SECS=s publish time of each NATS throughput run (default 3; 1 with
#               QUICK=1)
#   NATS_PORT=p first of three private TCP ports for the NATS section
#               (nats-server, lwd's gateway, lwd's HTTP monitor; default
#               derived from the pid, never 4222/8222)
#   SECTIONS=l  comma-separated sections to run: shm (shared-memory
#               benchmarks), nats (gateway vs nats-server), js (JetStream:
#               lw-control vs nats-server -js); default shm,nats,js
#   JS_TIMEOUT=s watchdog of each bench_js run (default 120)
#
# NATS section (after the shared-memory benchmarks, same RUNS): the same
# nats.c client (perf/bench_nats, needs libnats-dev) against Debian's
# nats-server and against lwd's gateway, server on CPU B, client on CPU A;
# and bench_fabric against an lwd with the gateway off and with the gateway
# on and an idle NATS client subscribed. nats-server is installed with
# apt-get when missing and run.sh runs as root; otherwise that half is
# skipped with a message.
#
# JetStream section (last, same RUNS): perf/bench_js (nats.c) against
# nats-server -js and against lw-control behind a private lwd's gateway,
# servers on CPU B, client on CPU A, store directories under OUT (the same
# disk), the two servers in alternating order: async persisted publish
# 16 B and 256 B, sync publish latency, pull-consumer fetch; at the same
# fsync policy (see js_policies below).
# Exit status: non-zero when a benchmark failed to run (a MISSed target is a
# finding, not a failure).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$repo/build}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then RUNS=${RUNS:-1}; else RUNS=${RUNS:-3}; fi
COUNT=${COUNT:-}
CPUS=${CPUS:-0,1}
CPU_A=${CPUS%%,*}
CPU_B=${CPUS##*,}
OUT=${OUT:-$BUILD/perf-$(date +%Y%m%d-%H%M%S)}
SECTIONS=${SECTIONS:-shm,nats,js}
section() { [[ ",$SECTIONS," == *",$1,"* ]]; }

# Counts: "normal QUICK" per benchmark; COUNT overrides both. Sized so one
# normal run of everything takes well under a minute on the 2-vCPU VM.
count() { if [ -n "$COUNT" ]; then echo "$COUNT"; elif [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
N_LIMIT=$(count 1000000 20000)
N_PP_SPIN=$(count 500000 20000)
N_PP_BLOCK=$(count 100000 5000)
N_TPUT16=$(count 10000000 200000)
N_TPUT1K=$(count 2000000 100000)
N_FANOUT=$(count 2000000 100000)
N_RING=$(count 300000 20000)
N_RING_TPUT=$(count 5000000 200000)
N_MATCH=$(count 3000000 200000)
N_NATS_REQ=$(count 10000 1000)
N_GW_FABRIC=$(( $(count 500000 20000) / 4 ))
N_JS_ASYNC=$(count 200000 20000)
N_JS_SYNC=$(count 5000 1000)
N_JS_FETCH=$(count 200000 20000)
# A filtered consumer costs lw-control O(stream) per delivery (see
# docs/performance.md): kept small so the run stays bounded.
if [ "$QUICK" = 1 ]; then N_JS_FILTERED=5000; else N_JS_FILTERED=10000; fi
N_JS_ALWAYS=$(count 5000 1000)
JS_TIMEOUT=${JS_TIMEOUT:-120}
if [ "$QUICK" = 1 ]; then GW_PAIRS=2; else GW_PAIRS=4; fi
if [ "$QUICK" = 1 ]; then NATS_SECS=${NATS_SECS:-1}; else NATS_SECS=${NATS_SECS:-3}; fi
NATS_PORT=${NATS_PORT:-$((20000 + $$ % 2000 * 4))}

# Peers' figures recorded on the same kind of VM, NOT measured in this run:
# /work/shared/anchors/RESULTS.md (2026-11-23, medians of 3 runs).
PEER_NATS_TPUT16_E2E=1383596	# nats_tput_16B e2e_msgs_s (nats-server 2.9.10 + nats.c)
PEER_NATS_PP_P50=388877		# nats_pingpong_rtt_16B p50 ns (blocking wake-ups)
PEER_ICEORYX_PP_P50=2765	# iceoryx_c_pingpong_rtt_16B p50 ns (busy-poll)
PEER_AERON_PP_P50=622		# aeron_c_ipc_pingpong_rtt_32B_default p50 ns (busy-spin)

# Targets (from the issue).
TARGET_PP_RATIO=1.5		# lw pingpong p50 <= 1.5x the 2-line limit, same run
TARGET_TPUT16=20000000		# 1->1 16 B >= 20 M msg/s delivered (checked for the
				# blocking and the --spin subscriber)
TARGET_NATS_TPUT=2		# gateway pub->sub msgs/s >= 2x nats-server's, same run
TARGET_NATS_RTT=0.8		# gateway request RTT p50 <= 0.8x nats-server's, same run
TARGET_GW_SHM=1.10		# shared-memory round trip (ratio to the limit) with the
				# gateway on <= 1.10x with it off: "must not get worse",
				# with room for the ~7 % TSC step (docs/performance.md)
TARGET_JS_PUB=2			# lw-control persisted (async) publish msgs/s >= 2x
				# nats-server's at the same fsync policy, same run

# --- build -----------------------------------------------------------------
if [ ! -f "$BUILD/build.ninja" ]; then
	echo "=== meson setup $BUILD"
	meson setup "$BUILD" "$repo"
fi
# Only what we run: a half-edited test elsewhere must not stop benchmarks.
targets="perf/bench_limit perf/bench_ring perf/bench_match perf/bench_fabric dataplane/lwd/lwd"
if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^apps/lw/lw:'; then
	targets="$targets apps/lw/lw"
fi
# bench_nats and bench_js exist only when meson found libnats
# (perf/meson.build); lw-control needs jansson (control/meson.build).
for t in perf/bench_nats perf/bench_js control/lw-control; do
	if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q "^$t:"; then
		targets="$targets $t"
	fi
done
echo "=== ninja -C $BUILD $targets"
# shellcheck disable=SC2086
ninja -C "$BUILD" $targets
P=$BUILD/perf
LWD=$BUILD/dataplane/lwd/lwd
LW=${LW_CLI:-$BUILD/apps/lw/lw}

mkdir -p "$OUT"
RES=$OUT/results.txt
LOG=$OUT/log.txt
: > "$RES"
: > "$LOG"

# --- machine ---------------------------------------------------------------
hp() { cat "/sys/kernel/mm/hugepages/hugepages-2048kB/$1" 2>/dev/null || echo "?"; }
{
	echo "=== machine"
	echo "date:       $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	echo "cpu:        $(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
		"$(nproc) CPUs, $(lscpu | sed -n 's/^Hypervisor vendor: *//p' | head -1) guest"
	echo "kernel:     $(uname -r)"
	echo "hugepages:  2 MiB free $(hp free_hugepages) of $(hp nr_hugepages)"
	echo "compiler:   $(cc --version | head -1)"
	echo "build:      $BUILD, buildtype $(python3 -c 'import json, sys
print([o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"][0])' \
		"$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || echo '?')"
	echo "source:     $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(
		[ -n "$(git -C "$repo" status --porcelain 2>/dev/null | head -1)" ] && echo ' (with local changes)')"
	echo "config:     RUNS=$RUNS QUICK=$QUICK COUNT=${COUNT:-default} CPUS=$CPUS SECTIONS=$SECTIONS"
	echo "            OUT=$OUT"
} | tee -a "$LOG"

# nats-server for the NATS section: Debian's package, installed here when
# missing and we may (root, apt-get). The package enables a system service
# on 4222; on a systemd machine we stop and disable the one we caused.
HAVE_NATS_SERVER=1
if ! command -v nats-server >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "=== apt-get install -y nats-server" | tee -a "$LOG"
		apt-get install -y nats-server >> "$LOG" 2>&1 || true
		if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
			systemctl disable --now nats-server.service >> "$LOG" 2>&1 || true
		fi
	fi
	command -v nats-server >/dev/null 2>&1 || HAVE_NATS_SERVER=0
fi
if [ "$HAVE_NATS_SERVER" = 1 ]; then
	echo "nats:       $(nats-server --version 2>&1 | head -1)," \
		"nats.c $(pkg-config --modversion libnats 2>/dev/null || echo '?')" | tee -a "$LOG"
fi

# --- private lwd -----------------------------------------------------------
LWD_PID=
DOMAIN=perf$$
stop_lwd() {
	[ -n "$LWD_PID" ] || return 0
	kill -INT "$LWD_PID" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$LWD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$LWD_PID" 2>/dev/null || true
	wait "$LWD_PID" 2>/dev/null || true
	LWD_PID=
}
# Other background processes of the NATS section (nats-server, the idle
# NATS client), stopped by pid like lwd.
BG_PIDS=()
stop_bg() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill -INT "$p" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	BG_PIDS=()
}
cleanup() { stop_bg; stop_lwd; [ -z "${JS_STORE:-}" ] || rm -rf "$JS_STORE"; }
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

HAVE_LW=1
if [ ! -x "$LW" ]; then
	HAVE_LW=0
	echo "SKIP: $LW not found (apps/lw not built?): the lw bench" \
		"benchmarks (pingpong, tput, fanout) will not run" | tee -a "$LOG"
fi
if [ "$HAVE_LW" = 1 ] && section shm; then
	"$LWD" --domain "$DOMAIN" --nats-port 0 --http-port 0 2> "$OUT/lwd.log" &
	LWD_PID=$!
	for _ in $(seq 150); do
		grep -q "domain '$DOMAIN' ready" "$OUT/lwd.log" && break
		kill -0 "$LWD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "domain '$DOMAIN' ready" "$OUT/lwd.log"; then
		echo "FAIL: lwd --domain $DOMAIN did not become ready:" >&2
		cat "$OUT/lwd.log" >&2
		exit 1
	fi
	echo "lwd:        pid $LWD_PID, domain $DOMAIN" | tee -a "$LOG"
	export LW_DOMAIN=$DOMAIN
fi

# --- benchmarks ------------------------------------------------------------
FAILED=()
# Prepended to the RESULT labels bench() collects when set (the same
# program run in two configurations, e.g. bench_fabric with the gateway
# off and on).
label_prefix=
# bench NAME CMD...: runs one benchmark, keeps its output, collects RESULTs.
bench() {
	local name=$1 rc=0 tmp
	shift
	tmp=$(mktemp)
	echo "=== run $run: $name: $*" | tee -a "$LOG"
	"$@" > "$tmp" 2>&1 || rc=$?
	cat "$tmp" >> "$LOG"
	grep '^RESULT ' "$tmp" | sed "s/^RESULT /RESULT $label_prefix/" | tee -a "$RES" || true
	if [ "$rc" != 0 ] || ! grep -q '^RESULT ' "$tmp"; then
		echo "FAIL: $name (exit $rc, output in $LOG):" >&2
		tail -5 "$tmp" >&2
		FAILED+=("run $run: $name")
	fi
	rm -f "$tmp"
}

# (No runs when SECTIONS leaves out shm.)
for run in $(section shm && seq 1 "$RUNS"); do
	echo "#RUN $run" >> "$RES"
	# The limit right before the pingpong, and a short probe right after,
	# so the same-run ratio and its regime can be trusted (or not).
	bench limit "$P/bench_limit" --count "$N_LIMIT" --cpus "$CPUS"
	if [ "$HAVE_LW" = 1 ]; then
		# The fabric round trip and the limit in alternating blocks of
		# one run (rdtsc, static library): the issue's target ratio.
		bench fabric "$P/bench_fabric" --domain "$DOMAIN" --count "$N_PP_SPIN" \
			--cpus "$CPUS"
		bench lw-pingpong-spin "$LW" bench pingpong --size 16 --count "$N_PP_SPIN" \
			--cpus "$CPUS" --spin --label lw_pingpong_spin_16B
		bench probe "$P/bench_limit" --count "$(( N_LIMIT / 10 < 1000 ? 1000 : N_LIMIT / 10 ))" \
			--cpus "$CPUS" --name probe_after_pp
		bench lw-pingpong-block "$LW" bench pingpong --size 16 --count "$N_PP_BLOCK" \
			--cpus "$CPUS" --label lw_pingpong_block_16B
		bench lw-tput-16 "$LW" bench tput --size 16 --count "$N_TPUT16" \
			--cpus "$CPUS" --label lw_tput_16B
		bench lw-tput-16-spin "$LW" bench tput --size 16 --count "$N_TPUT16" \
			--cpus "$CPUS" --spin --label lw_tput_spin_16B
		bench lw-tput-16-burst "$LW" bench tput --size 16 --count "$N_TPUT16" \
			--cpus "$CPUS" --burst 32 --label lw_tput_burst32_16B
		bench lw-tput-1024 "$LW" bench tput --size 1024 --count "$N_TPUT1K" \
			--cpus "$CPUS" --label lw_tput_1024B
		bench lw-fanout-4 "$LW" bench fanout --subs 4 --size 16 --count "$N_FANOUT" \
			--cpus "$CPUS" --label lw_fanout4_16B
	fi
	bench ring "$P/bench_ring" --count "$N_RING" --tput-count "$N_RING_TPUT" --cpus "$CPUS"
	if [ "$QUICK" = 1 ]; then
		bench match "$P/bench_match" --count "$N_MATCH" --reps 3 --cpu "$CPU_A"
	else
		bench match "$P/bench_match" --count "$N_MATCH" --cpu "$CPU_A"
	fi
done
stop_lwd

# --- NATS protocol: lwd's gateway against nats-server, same run --------------
# Per run: nats-server on CPU B, bench_nats (all of its nats.c threads) on
# CPU A: tput 16 B, tput 256 B, req; then the same against an lwd with the
# gateway (the whole daemon on CPU B: taskset + --lcores). Then fabric_gw
# (below), for the issue's "shared-memory latency must not get worse
# because the gateway exists".
HAVE_BENCH_NATS=1
if [ ! -x "$P/bench_nats" ]; then
	HAVE_BENCH_NATS=0
	echo "SKIP: $P/bench_nats not built (libnats-dev missing?): the NATS" \
		"section will not run" | tee -a "$LOG"
elif [ "$HAVE_NATS_SERVER" = 0 ]; then
	echo "SKIP: nats-server not installed (and not root to apt-get it): lwd's" \
		"gateway is measured without the same-run nats-server comparison" | tee -a "$LOG"
fi
NS_PORT=$NATS_PORT
GW_PORT=$((NATS_PORT + 1))
GW_HTTP=$((NATS_PORT + 2))
C_A="taskset -c $CPU_A"

# wait_log FILE TEXT PID: until FILE has TEXT (15 s), or PID died.
wait_log() {
	for _ in $(seq 150); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start_gw_lwd DOMAIN NATS_PORT HTTP_PORT LOG: a private lwd on CPU B.
start_gw_lwd() {
	taskset -c "$CPU_B" "$LWD" --domain "$1" --lcores "$CPU_B" --nats-port "$2" \
		--http-port "$3" 2> "$4" &
	LWD_PID=$!
	if ! wait_log "$4" "domain '$1' ready" "$LWD_PID" ||
	   { [ "$2" != 0 ] && ! wait_log "$4" "listening for NATS clients" "$LWD_PID"; }; then
		echo "FAIL: lwd --domain $1 --nats-port $2 did not become ready:" >&2
		cat "$4" >&2
		stop_lwd
		return 1
	fi
}

# nats_benches LABEL URL: the three nats.c benchmarks against one server.
nats_benches() {
	local b="$P/bench_nats --url $2 --server-label $1"
	# shellcheck disable=SC2086
	bench "nats-tput-16-$1" $C_A $b --mode tput --size 16 --secs "$NATS_SECS"
	# shellcheck disable=SC2086
	bench "nats-tput-256-$1" $C_A $b --mode tput --size 256 --secs "$NATS_SECS"
	# shellcheck disable=SC2086
	bench "nats-req-16-$1" $C_A $b --mode req --size 16 --count "$N_NATS_REQ"
}

# fabric_gw: bench_fabric against two lwds that run side by side (an idle
# lwd costs nothing: its workers sleep), one with the gateway off and one
# with the gateway on and an idle nats.c client subscribed (bench_nats
# --mode idle). GW_PAIRS pairs of short runs, off/on then on/off, so the
# two sides of a pair are seconds apart and see the same regime as far as
# possible: a ratio_to_limit alone moves with the regime (the fabric's
# fixed software cost does not scale with the limit), so only the pairs'
# ratios are compared, and only the pairs whose two sides saw the same
# regime when there are any. Appends RESULT gw_shm_on_vs_off (medians over
# those pairs).
fabric_gw() {
	local gw k d order pairs=$OUT/gw-fabric-$run.txt idle=$OUT/nats-idle-$run.txt
	local d_off=perfgwoff$$ d_on=perfgwon$$
	: > "$pairs"
	start_gw_lwd "$d_off" 0 0 "$OUT/lwd-gw-off-$run.log" ||
		{ FAILED+=("run $run: lwd gateway off"); return 0; }
	BG_PIDS+=("$LWD_PID")
	LWD_PID=
	start_gw_lwd "$d_on" "$GW_PORT" "$GW_HTTP" "$OUT/lwd-gw-on-$run.log" ||
		{ FAILED+=("run $run: lwd gateway on"); stop_bg; return 0; }
	$C_A "$P/bench_nats" --url "nats://127.0.0.1:$GW_PORT" --server-label lwd \
		--mode idle --subject 'bench.idle.>' > "$idle" 2>&1 &
	BG_PIDS+=($!)
	if ! wait_log "$idle" "^READY" "$!"; then
		echo "FAIL: idle NATS client did not subscribe:" >&2
		cat "$idle" >&2
		FAILED+=("run $run: idle NATS client")
	fi
	for k in $(seq 1 "$GW_PAIRS"); do
		if [ $((k % 2)) = 1 ]; then order="off on"; else order="on off"; fi
		for gw in $order; do
			label_prefix=gw_${gw}_
			if [ "$gw" = on ]; then d=$d_on; else d=$d_off; fi
			bench "fabric-gateway-$gw" "$P/bench_fabric" --domain "$d" \
				--count "$N_GW_FABRIC" --cpus "$CPUS"
			label_prefix=
			tail -n 2 "$RES" | grep "^RESULT gw_${gw}_fabric_pingpong_rtt " |
				sed "s/^/$k /" >> "$pairs" || true
		done
	done
	# The gateway-off lwd and the idle client (it reports what it
	# received: nothing, it is idle), then the gateway-on lwd.
	stop_bg
	cat "$idle" >> "$LOG"
	grep '^RESULT ' "$idle" >> "$RES" || true
	stop_lwd
	python3 - "$pairs" <<'PY' | tee -a "$RES" || FAILED+=("run $run: gateway on/off summary")
import statistics, sys
pairs = {}
for line in open(sys.argv[1]):
    f = line.split()
    kv = dict(x.split("=", 1) for x in f[3:] if "=" in x)
    pairs.setdefault(f[0], {})["on" if f[2].startswith("gw_on_") else "off"] = kv
both = [p for p in pairs.values() if "on" in p and "off" in p]
# Like with like: the pairs whose two sides ran in the same regime, if any.
same = sum(p["on"].get("regime") == p["off"].get("regime") for p in both)
both = [p for p in both if p["on"].get("regime") == p["off"].get("regime")] or both
if both:
    med = lambda xs: statistics.median(xs)
    r = [float(p["on"]["ratio_to_limit"]) / float(p["off"]["ratio_to_limit"]) for p in both]
    q = [float(p["on"]["p50_ns"]) / float(p["off"]["p50_ns"]) for p in both]
    print(f"RESULT gw_shm_on_vs_off pairs_used={len(both)} same_regime_pairs={same} "
          f"off_ratio_to_limit={med([float(p['off']['ratio_to_limit']) for p in both]):.3f} "
          f"on_ratio_to_limit={med([float(p['on']['ratio_to_limit']) for p in both]):.3f} "
          f"ratio_to_limit_on_vs_off={med(r):.3f} p50_on_vs_off={med(q):.3f} "
          "pair_ratios=" + ",".join(f"{x:.3f}" for x in r))
PY
}

if [ "$HAVE_BENCH_NATS" = 1 ] && section nats; then
	echo "nats ports: nats-server $NS_PORT, lwd gateway $GW_PORT, lwd http $GW_HTTP;" \
		"servers on CPU $CPU_B, clients on CPU $CPU_A" | tee -a "$LOG"
	for run in $(seq 1 "$RUNS"); do
		echo "#RUN $run" >> "$RES"
		if [ "$HAVE_NATS_SERVER" = 1 ]; then
			nslog=$OUT/nats-server-$run.log
			rm -f "$nslog"
			taskset -c "$CPU_B" nats-server -a 127.0.0.1 -p "$NS_PORT" -l "$nslog" &
			BG_PIDS+=($!)
			if wait_log "$nslog" "Server is ready" "$!"; then
				nats_benches nats "nats://127.0.0.1:$NS_PORT"
			else
				echo "FAIL: nats-server did not start:" >&2
				cat "$nslog" >&2
				FAILED+=("run $run: nats-server")
			fi
			stop_bg
		fi
		if start_gw_lwd perfnats$$ "$GW_PORT" "$GW_HTTP" "$OUT/lwd-nats-$run.log"; then
			nats_benches lwd "nats://127.0.0.1:$GW_PORT"
			stop_lwd
		else
			FAILED+=("run $run: lwd with the gateway")
		fi
		fabric_gw
	done
fi

# --- JetStream: lw-control against nats-server -js, same run -----------------
# Per run, in alternating order (nats-server first in odd runs): one
# server on CPU B (nats-server; or lwd with its gateway plus lw-control),
# bench_js (all of its nats.c threads) on CPU A: async persisted publish
# 16 B and 256 B, sync publish latency, raw async publish (PUB + reply
# inbox, a lighter client), fetch through a durable pull consumer without
# and with a filter subject. Store directories live
# under OUT (the build directory's disk for both, not tmpfs) and are
# removed after each server. Bounded: bench_js has a watchdog
# (JS_TIMEOUT), the servers are stopped by pid like the NATS section's.
LWCTL=$BUILD/control/lw-control
JS_STORE=$OUT/js-store
JS_CONF=$OUT/nats-server-js.conf
JS_BENCHES=(
	"async-16|--mode async --size 16 --count $N_JS_ASYNC"
	"async-256|--mode async --size 256 --count $N_JS_ASYNC"
	"sync-16|--mode sync --size 16 --count $N_JS_SYNC"
	"raw-16|--mode raw --size 16 --count $N_JS_ASYNC"
	"fetch-16|--mode fetch --size 16 --count $N_JS_FETCH"
	"fetch-filtered-16|--mode fetch --size 16 --count $N_JS_FILTERED --filter bjs.>"
)
# The extra policies below run the publish benchmarks only (the first
# three); a nats-server that syncs every message ("always": "a few hundred
# msg/s" in its documentation) gets smaller counts, and so does lw-control
# beside it, to stay within JS_TIMEOUT.
JS_PUB_BENCHES=("${JS_BENCHES[@]:0:3}")
JS_ALWAYS_BENCHES=("async-16|--mode async --size 16 --count $N_JS_ALWAYS"
	"sync-16|--mode sync --size 16 --count $((N_JS_ALWAYS / 5))")

# js_benches LABEL URL SPEC...: bench_js against one server; SPEC is
# "name|bench_js arguments".
js_benches() {
	local label=$1 url=$2 spec
	shift 2
	for spec in "$@"; do
		# shellcheck disable=SC2086
		bench "js-${spec%%|*}-$label" $C_A "$P/bench_js" --url "$url" \
			--server-label "$label" --timeout "$JS_TIMEOUT" ${spec#*|}
	done
}

# bg_ready LOG TEXT WHAT: the newest background process (BG_PIDS) wrote
# TEXT to LOG, or the failure is reported with the log.
bg_ready() {
	wait_log "$1" "$2" "${BG_PIDS[-1]}" && return 0
	echo "FAIL: $3 did not start:" >&2
	cat "$1" >&2
	return 1
}

# start_js_nats SYNC: nats-server with JetStream on CPU B, file store in
# JS_STORE; SYNC is a jetstream sync_interval value, or empty for the
# server's built-in policy.
start_js_nats() {
	local log=$OUT/nats-server-js-$run.log
	rm -rf "$JS_STORE" "$log"
	{
		echo "listen: 127.0.0.1:$NS_PORT"
		echo "jetstream {"
		echo "  store_dir: \"$JS_STORE\""
		[ -z "$1" ] || echo "  sync_interval: $1"
		echo "}"
	} > "$JS_CONF"
	taskset -c "$CPU_B" nats-server -c "$JS_CONF" -l "$log" &
	BG_PIDS+=($!)
	bg_ready "$log" "Server is ready" "nats-server -c $JS_CONF" || { stop_bg; return 1; }
}

# start_js_lw LW-CONTROL-ARGS...: a private lwd with its gateway on
# GW_PORT and lw-control (both on CPU B), store in JS_STORE.
start_js_lw() {
	local log=$OUT/lw-control-$run.log
	rm -rf "$JS_STORE"
	start_gw_lwd perfjs$$ "$GW_PORT" 0 "$OUT/lwd-js-$run.log" || return 1
	taskset -c "$CPU_B" "$LWCTL" --domain perfjs$$ --store-dir "$JS_STORE" "$@" 2> "$log" &
	BG_PIDS+=($!)
	bg_ready "$log" "serving" "lw-control $*" || { stop_bg; stop_lwd; return 1; }
}

# js_side nats-server|lightwire LABEL POLICY SPEC...: one server with one
# fsync policy (POLICY: nats-server's sync_interval value, or
# lw-control's arguments), its benchmarks, then stop it and drop its store.
js_side() {
	local kind=$1 label=$2 policy=$3
	shift 3
	if [ "$kind" = nats-server ]; then
		if start_js_nats "$policy"; then
			js_benches "$label" "nats://127.0.0.1:$NS_PORT" "$@"
		else
			FAILED+=("run $run: nats-server -js")
		fi
	else
		# shellcheck disable=SC2086
		if start_js_lw $policy; then
			js_benches "$label" "nats://127.0.0.1:$GW_PORT" "$@"
		else
			FAILED+=("run $run: lwd + lw-control")
		fi
	fi
	stop_bg
	stop_lwd
	rm -rf "$JS_STORE"
}

HAVE_JS=0
if ! section js; then
	:
elif [ ! -x "$P/bench_js" ] || [ ! -x "$LWCTL" ]; then
	echo "SKIP: $P/bench_js or $LWCTL not built (libnats-dev or jansson" \
		"missing?): the JetStream section will not run" | tee -a "$LOG"
else
	HAVE_JS=1
fi
# The fsync policies compared (js_policies): lw-control's default is
# "interval" with a 1 s period (docs/streams.md). nats-server 2.10+ takes
# jetstream { sync_interval: 1s | always }: then both run at 1 s (the
# comparison that carries the target) and both at "always". Debian 12's
# 2.9.10 has no such option ("unknown field") and a fixed background
# sync every 2 minutes (strace: fsync of the block files 120 s after
# start, none before; the 2.10 docs give 2 min as the default), so
# lw-control runs at "interval" with 120 s for the target (the same
# policy), and at its default 1 s and "always" against the same
# nats-server figures, for information.
JS_NS_SYNC=
if [ "$HAVE_JS" = 1 ] && [ "$HAVE_NATS_SERVER" = 1 ]; then
	printf 'jetstream {\n  store_dir: "%s"\n  sync_interval: 1s\n}\n' "$JS_STORE" > "$JS_CONF"
	if nats-server -c "$JS_CONF" -t >> "$LOG" 2>&1; then JS_NS_SYNC=1s; fi
	rm -f "$JS_CONF"
fi
# lines: "label suffix|nats-server sync_interval or - (none)|lw-control
# args|benchmarks: all, pub or always (the lists above)"
if [ -n "$JS_NS_SYNC" ]; then
	js_policies=("|1s|--fsync interval --sync-interval-ms 1000|all"
		"-always|always|--fsync always|always")
else
	js_policies=("||--fsync interval --sync-interval-ms 120000|all"
		"-sync1s|-|--fsync interval --sync-interval-ms 1000|pub"
		"-always|-|--fsync always|pub")
fi

if [ "$HAVE_JS" = 1 ]; then
	echo "jetstream:  nats-server on $NS_PORT (sync_interval ${JS_NS_SYNC:-not supported})," \
		"lwd gateway $GW_PORT + lw-control; servers on CPU $CPU_B, client on CPU $CPU_A;" \
		"stores in $JS_STORE" | tee -a "$LOG"
	for run in $(seq 1 "$RUNS"); do
		echo "#RUN $run" >> "$RES"
		for pol in "${js_policies[@]}"; do
			IFS='|' read -r suffix ns_sync lw_args which <<< "$pol"
			case $which in
			all) specs=("${JS_BENCHES[@]}") ;;
			pub) specs=("${JS_PUB_BENCHES[@]}") ;;
			*) specs=("${JS_ALWAYS_BENCHES[@]}") ;;
			esac
			if [ "$HAVE_NATS_SERVER" = 1 ] && [ "$ns_sync" != - ]; then
				sides="nats-server lightwire"
				[ $((run % 2)) = 1 ] || sides="lightwire nats-server"
			else
				sides=lightwire
			fi
			for side in $sides; do
				if [ "$side" = nats-server ]; then
					js_side nats-server "nats-server$suffix" "$ns_sync" "${specs[@]}"
				else
					js_side lightwire "lightwire$suffix" "$lw_args" "${specs[@]}"
				fi
			done
		done
	done
fi

# --- summary ---------------------------------------------------------------
echo "=== summary ($RUNS run(s); all RESULT lines in $RES)"
python3 "$repo/perf/median.py" "$RES" \
	--ratio "pingpong_to_limit=lw_pingpong_spin_16B.p50_ns/limit_2line_rtt.p50_ns" \
	--peer "nats_tput_16B_e2e=lw_tput_16B.sub_msgs_s/$PEER_NATS_TPUT16_E2E" \
	--peer "nats_pingpong_p50_vs_lw_block=$PEER_NATS_PP_P50/lw_pingpong_block_16B.p50_ns" \
	--peer "iceoryx_pingpong_p50_vs_lw_spin=$PEER_ICEORYX_PP_P50/lw_pingpong_spin_16B.p50_ns" \
	--peer "aeron_ipc_pingpong_p50_vs_lw_spin=$PEER_AERON_PP_P50/lw_pingpong_spin_16B.p50_ns" \
	--target "pingpong_p50_le_${TARGET_PP_RATIO}x_limit=fabric_pingpong_rtt.ratio_to_limit<=$TARGET_PP_RATIO" \
	--target "cli_pingpong_p50_le_${TARGET_PP_RATIO}x_limit=ratio_pingpong_to_limit.value<=$TARGET_PP_RATIO" \
	--target "tput_16B_ge_20M_msg_s=lw_tput_16B.sub_msgs_s>=$TARGET_TPUT16" \
	--target "tput_16B_spin_ge_20M_msg_s=lw_tput_spin_16B.sub_msgs_s>=$TARGET_TPUT16" \
	--target "tput_16B_burst32_ge_20M_msg_s=lw_tput_burst32_16B.sub_msgs_s>=$TARGET_TPUT16" \
	--ratio "nats_tput_16B_lwd_vs_nats=nats_tput_16B_lwd.e2e_msgs_s/nats_tput_16B_nats.e2e_msgs_s" \
	--ratio "nats_tput_256B_lwd_vs_nats=nats_tput_256B_lwd.e2e_msgs_s/nats_tput_256B_nats.e2e_msgs_s" \
	--ratio "nats_req_p50_lwd_vs_nats=nats_req_rtt_16B_lwd.p50_ns/nats_req_rtt_16B_nats.p50_ns" \
	--ratio "nats_req_p99_lwd_vs_nats=nats_req_rtt_16B_lwd.p99_ns/nats_req_rtt_16B_nats.p99_ns" \
	--target "nats_tput_16B_ge_${TARGET_NATS_TPUT}x_nats_server=ratio_nats_tput_16B_lwd_vs_nats.value>=$TARGET_NATS_TPUT" \
	--target "nats_tput_256B_ge_${TARGET_NATS_TPUT}x_nats_server=ratio_nats_tput_256B_lwd_vs_nats.value>=$TARGET_NATS_TPUT" \
	--target "nats_req_p50_le_${TARGET_NATS_RTT}x_nats_server=ratio_nats_req_p50_lwd_vs_nats.value<=$TARGET_NATS_RTT" \
	--target "nats_tput_16B_lwd_lossless=nats_tput_16B_lwd.lost<=0" \
	--target "nats_tput_256B_lwd_lossless=nats_tput_256B_lwd.lost<=0" \
	--target "shm_rtt_gateway_on_le_${TARGET_GW_SHM}x_off=gw_shm_on_vs_off.ratio_to_limit_on_vs_off<=$TARGET_GW_SHM" \
	--ratio "js_async_16B_lw_vs_nats=js_pub_async_16B_lightwire.msgs_s/js_pub_async_16B_nats-server.msgs_s" \
	--ratio "js_async_256B_lw_vs_nats=js_pub_async_256B_lightwire.msgs_s/js_pub_async_256B_nats-server.msgs_s" \
	--ratio "js_sync_p50_lw_vs_nats=js_pub_sync_16B_lightwire.p50_us/js_pub_sync_16B_nats-server.p50_us" \
	--ratio "js_sync_p99_lw_vs_nats=js_pub_sync_16B_lightwire.p99_us/js_pub_sync_16B_nats-server.p99_us" \
	--ratio "js_raw_16B_lw_vs_nats=js_pub_raw_16B_lightwire.msgs_s/js_pub_raw_16B_nats-server.msgs_s" \
	--ratio "js_fetch_16B_lw_vs_nats=js_fetch_16B_lightwire.msgs_s/js_fetch_16B_nats-server.msgs_s" \
	--ratio "js_fetch_filtered_16B_lw_vs_nats=js_fetch_filtered_16B_lightwire.msgs_s/js_fetch_filtered_16B_nats-server.msgs_s" \
	--ratio "js_async_16B_lw_sync1s_vs_nats=js_pub_async_16B_lightwire-sync1s.msgs_s/js_pub_async_16B_nats-server.msgs_s" \
	--ratio "js_async_16B_lw_always_vs_nats=js_pub_async_16B_lightwire-always.msgs_s/js_pub_async_16B_nats-server.msgs_s" \
	--ratio "js_async_16B_lw_always_vs_nats_always=js_pub_async_16B_lightwire-always.msgs_s/js_pub_async_16B_nats-server-always.msgs_s" \
	--target "js_async_16B_ge_${TARGET_JS_PUB}x_nats_server=ratio_js_async_16B_lw_vs_nats.value>=$TARGET_JS_PUB" \
	--target "js_async_256B_ge_${TARGET_JS_PUB}x_nats_server=ratio_js_async_256B_lw_vs_nats.value>=$TARGET_JS_PUB" \
	--target "js_async_16B_always_ge_${TARGET_JS_PUB}x_nats_server_always=ratio_js_async_16B_lw_always_vs_nats_always.value>=$TARGET_JS_PUB" \
	| tee "$OUT/summary.txt"
echo "(vs_peers: factor > 1 means Lightwire is better; the peers' figures are recorded" \
	"in /work/shared/anchors/RESULTS.md, not measured in this run)" | tee -a "$OUT/summary.txt"

if [ "${#FAILED[@]}" -gt 0 ]; then
	(IFS=';'; echo "FAILED: ${FAILED[*]}") | tee -a "$OUT/summary.txt" >&2
	exit 1
fi
echo "results: $OUT"
