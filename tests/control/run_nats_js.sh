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

# Ports 57000-61999 from the pid: apart from the other gateway tests.
port=$((57000 + ($$ % 2500) * 2))
export LW_DOMAIN=cnjs$$
store="$work/store.$$"
rm -rf "$store"
"$LWD" --domain "$LW_DOMAIN" --nats-port "$port" --http-port 0 --reap-ms 10 >"$work/lwd.log" 2>&1 &
lwd_pid=$!
ctl_pid=
cleanup() {
	[ -n "$ctl_pid" ] && { kill -TERM "$ctl_pid" 2>/dev/null; wait "$ctl_pid" 2>/dev/null; }
	[ -n "$lwd_pid" ] && { kill -TERM "$lwd_pid" 2>/dev/null; wait "$lwd_pid" 2>/dev/null; }
	rm -rf "$store"
}
trap cleanup EXIT
up=0
for _ in $(seq 300); do
	kill -0 "$lwd_pid" 2>/dev/null || { cat "$work/lwd.log" >&2; lwd_pid=; die "lwd exited at start"; }
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
	sleep 0.02
done
[ "$up" -eq 1 ] || die "lwd's gateway did not open port $port"
"$LW_CONTROL" --store-dir "$store" >"$work/lw-control.log" 2>&1 &
ctl_pid=$!
sleep 0.3
kill -0 "$ctl_pid" 2>/dev/null || { cat "$work/lw-control.log" >&2; ctl_pid=; die "lw-control exited at start"; }

(cd "$work" && NATS_URL="nats://127.0.0.1:$port" timeout 120 node --test --test-reporter=spec jetstream.test.js jetstream_v3.test.mjs)
rc=$?
[ "$rc" -eq 0 ] || { cat "$work/lw-control.log" >&2; die "node --test failed"; }
exit 0
