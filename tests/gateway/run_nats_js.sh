#!/usr/bin/env bash
# End-to-end tests with the real nats.js client (tests/gateway/nats_js/):
# installs the pinned npm packages into a copy in the build directory
# (never into the source tree), starts two private lwds on their own
# domains and ports (one plain, one with TLS and a CA made here with the
# openssl CLI), runs `node --test`, stops them.
#
# Fails, never skips, when node or npm is missing or the install fails:
# scripts/deps.sh provides Node.js and npm, and the npm registry is part of
# the test set-up, like Debian's packages are.
#
# usage: run_nats_js.sh SOURCE_DIR WORK_DIR   (env: LW, LWD)
set -uo pipefail
src=$1
work=$2
LW=${LW:?path to lw}
LWD=${LWD:?path to lwd}

die() { echo "gw_nats_js: $*" >&2; exit 1; }

. "$(dirname "$0")/../nats_js_setup.sh"
nats_js_setup "$src" "$work" gw_nats_js
echo "gw_nats_js: nats.js $(node -p 'require(process.argv[1]).version' "$work/node_modules/nats/package.json"), node $(node --version)"

# --- certificates for the TLS test ------------------------------------
certs="$work/certs"
rm -rf "$certs" && mkdir -p "$certs" || die "cannot create $certs"
command -v openssl >/dev/null 2>&1 || die "'openssl' not found: run scripts/deps.sh"
(
	cd "$certs" &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lw-js-test-ca \
		-keyout ca-key.pem -out ca.pem &&
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
		-keyout server-key.pem -out server.csr &&
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext &&
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
		-days 2 -extfile server.ext -out server.pem
) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; die "openssl could not make certificates"; }

# --- two private lwds: plain, and TLS ----------------------------------
# Ports 10000-17999 from the pid: below the kernel's ephemeral range and
# apart from the other gateway tests' ranges (18000 up).
port=$((10000 + ($$ % 2000) * 4))
hport=$((port + 1))
tport=$((port + 2))
export LW_DOMAIN=njs$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pids=()
}
trap cleanup EXIT

# start_lwd LOG PORT ARGS...: starts lwd, waits for its NATS port.
start_lwd() {
	local log=$1 p=$2 pid
	shift 2
	"$LWD" --nats-port "$p" --reap-ms 10 "$@" >"$log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$log" >&2
			die "lwd exited at start"
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			return 0
		fi
		sleep 0.02
	done
	cat "$log" >&2
	die "lwd's gateway did not open port $p"
}
start_lwd "$work/lwd.log" "$port" --domain "$LW_DOMAIN" --http-port "$hport"
start_lwd "$work/lwd-tls.log" "$tport" --domain "njst$$" --http-port 0 \
	--tls-cert "$certs/server.pem" --tls-key "$certs/server-key.pem"

# --- the tests -----------------------------------------------------------
(cd "$work" && NATS_URL="nats://127.0.0.1:$port" NATS_TLS_URL="127.0.0.1:$tport" \
	NATS_TLS_CA="$certs/ca.pem" LW="$LW" timeout 240 node --test --test-reporter=spec gateway.test.js)
rc=$?
lrc=0
for p in "${pids[@]}"; do
	kill -TERM "$p" 2>/dev/null
	wait "$p" || lrc=$?
done
pids=()
if [ "$lrc" -ne 0 ]; then
	cat "$work"/lwd*.log >&2
	die "an lwd exited with status $lrc"
fi
[ "$rc" -eq 0 ] || { cat "$work"/lwd*.log >&2; die "node --test failed"; }
exit 0
