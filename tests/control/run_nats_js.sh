#!/usr/bin/env bash
# lw-control with the real nats.js client (tests/control/nats_js/):
# installs the pinned npm package into a copy in the build directory (never
# into the source tree), starts a private lwd (gateway on a pid-derived
# port) and lw-control with a private store, runs `node --test`, stops both.
#
# Fails, never skips, when node or npm is missing or the install fails:
# scripts/deps.sh provides them, as for tests/gateway/run_nats_js.sh.
#
# usage: run_nats_js.sh SOURCE_DIR WORK_DIR   (env: LWD, LW_CONTROL)
set -uo pipefail
src=$1
work=$2
LWD=${LWD:?path to lwd}
LW_CONTROL=${LW_CONTROL:?path to lw-control}

die() { echo "control_nats_js: $*" >&2; exit 1; }

. "$(dirname "$0")/../nats_js_setup.sh"
nats_js_setup "$src" "$work" control_nats_js

# Ports 18000-19999 from the pid: below the kernel's ephemeral range
# (32768 up, where any outgoing connection may hold a port) and apart from
# the other gateway tests; a port taken anyway moves to the next one.
export LW_DOMAIN=cnjs$$
store="$work/store.$$"
rm -rf "$store"
lwd_pid=
ctl_pid=
cleanup() {
	[ -n "$ctl_pid" ] && { kill -TERM "$ctl_pid" 2>/dev/null; wait "$ctl_pid" 2>/dev/null; }
	[ -n "$lwd_pid" ] && { kill -TERM "$lwd_pid" 2>/dev/null; wait "$lwd_pid" 2>/dev/null; }
	rm -rf "$store"
}
trap cleanup EXIT
up=0
for attempt in 0 1 2 3; do
	port=$((18000 + (($$ + attempt * 397) % 1000) * 2))
	"$LWD" --domain "$LW_DOMAIN" --nats-port "$port" --http-port 0 --reap-ms 10 >"$work/lwd.log" 2>&1 &
	lwd_pid=$!
	for _ in $(seq 300); do
		kill -0 "$lwd_pid" 2>/dev/null || { wait "$lwd_pid" || true; lwd_pid=; break; }
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
		sleep 0.02
	done
	[ "$up" -eq 1 ] && break
	[ -z "$lwd_pid" ] && grep -q "cannot listen" "$work/lwd.log" && continue
	cat "$work/lwd.log" >&2
	die "lwd did not start"
done
[ "$up" -eq 1 ] || { cat "$work/lwd.log" >&2; die "lwd's gateway found no free port"; }
"$LW_CONTROL" --store-dir "$store" >"$work/lw-control.log" 2>&1 &
ctl_pid=$!
sleep 0.3
kill -0 "$ctl_pid" 2>/dev/null || { cat "$work/lw-control.log" >&2; ctl_pid=; die "lw-control exited at start"; }

# The JetStream JSON schemas, reference data beside the project (not in
# it): schemas.test.js validates the API's answers against them.
schemas=${NATS_SCHEMAS:-$(cd "$src/../../.." && pwd)/../shared/reference/nats-schemas}
(cd "$work" && NATS_URL="nats://127.0.0.1:$port" NATS_SCHEMAS="$schemas" timeout 120 \
	node --test --test-reporter=spec jetstream.test.js jetstream_v3.test.mjs schemas.test.js parity.test.js)
rc=$?
[ "$rc" -eq 0 ] || { cat "$work/lw-control.log" >&2; die "node --test failed"; }
exit 0
