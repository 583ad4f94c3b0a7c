# Sourced by the lw stream / lw consumer CLI tests (after `set -uo
# pipefail`, with the domain prefix in CLI_TEST): a private domain, a
# temporary directory $tmp, the TAP helpers, lwd started on the domain and
# waited for ($lwd_pid), and a cleanup on exit that stops what the test
# started in $sub_pid and $ctl_pid, then lwd.
LW=${LW:?path to lw}; LWD=${LWD:?path to lwd}; LW_CONTROL=${LW_CONTROL:?path to lw-control}
export LW_DOMAIN=${CLI_TEST:?domain prefix}$$
tmp=$(mktemp -d)
# shellcheck source=../tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"
cleanup() {
	[ -n "${sub_pid:-}" ] && kill -TERM "$sub_pid" 2>/dev/null
	[ -n "${ctl_pid:-}" ] && kill -TERM "$ctl_pid" 2>/dev/null
	[ -n "${lwd_pid:-}" ] && { sleep 0.1; kill -INT "$lwd_pid" 2>/dev/null; }
	wait 2>/dev/null; rm -rf "$tmp"
	# what a lw-control killed on purpose leaves (a clean one removes it)
	rm -f "${LW_SHM_DIR:-/dev/shm}/lightwire-$LW_DOMAIN.control.lock"
}
trap cleanup EXIT

"$LWD" --nats-port 0 --http-port 0 --reap-ms 10 >"$tmp/lwd.log" 2>&1 &
lwd_pid=$!
for _ in $(seq 200); do "$LW" stats >/dev/null 2>&1 && break; sleep 0.02; done
