#!/usr/bin/env bash
# The lw CLI as a user runs it, against a private lwd: pub/sub (raw and
# formatted), wildcards, queue groups, request/reply, no responders, stats
# (text and JSON), top --once, bench, bad input and exit codes.
set -uo pipefail
LW=${LW:?path to lw}; LWD=${LWD:?path to lwd}
export LW_DOMAIN=cli$$
tmp=$(mktemp -d)
# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
cleanup() { [ -n "${lwd_pid:-}" ] && kill -INT "$lwd_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

"$LWD" --nats-port 0 --http-port 0 >"$tmp/lwd.log" 2>&1 &
lwd_pid=$!
for _ in $(seq 200); do "$LW" stats >/dev/null 2>&1 && break; sleep 0.02; done
check "lwd starts and lw stats connects" "$LW" stats

# wait until a background lw sub/reply prints its ready line
wait_ready() { for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.02; done; return 1; }

"$LW" sub 'cli.*' --raw --count 3 >"$tmp/sub.out" 2>"$tmp/sub.err" &
sp=$!
check "sub says when it is subscribed" wait_ready "$tmp/sub.err" "Subscribing on"
"$LW" pub cli.a 'msg {{Count}}' --count 3 2>"$tmp/pub.err"
wait $sp
check "sub --raw --count 3 prints the three payloads" \
	test "$(cat "$tmp/sub.out")" = "$(printf 'msg 1\nmsg 2\nmsg 3')"
check "pub reports deliveries" grep -q "delivered to 1 subscription" "$tmp/pub.err"

"$LW" sub 'cli.>' --count 1 >"$tmp/fmt.out" 2>/dev/null &
sp=$!
sleep 0.2
"$LW" pub cli.x.y hello -H 'Trace: 1' --reply cli.back 2>/dev/null
wait $sp
check "formatted sub shows subject and reply" grep -q 'Received on "cli.x.y" with reply "cli.back"' "$tmp/fmt.out"
check "formatted sub shows the payload" grep -qx hello "$tmp/fmt.out"

for i in 1 2; do
	"$LW" sub cli.q --queue workers --raw >"$tmp/q$i.out" 2>"$tmp/q$i.err" &
	eval "q$i=\$!"
	wait_ready "$tmp/q$i.err" "Subscribing on"
done
"$LW" pub cli.q 'job' --count 10 2>/dev/null
sleep 0.3
kill -INT "$q1" "$q2"; wait "$q1" "$q2" 2>/dev/null
n1=$(wc -l <"$tmp/q1.out"); n2=$(wc -l <"$tmp/q2.out")
check "queue group: each message to one member ($n1 + $n2 = 10)" test $((n1 + n2)) -eq 10
check "queue group: both members got work" test "$n1" -gt 0 -a "$n2" -gt 0

"$LW" reply cli.svc 'answer {{Count}}' --count 2 2>"$tmp/rep.err" &
rp=$!
wait_ready "$tmp/rep.err" "Listening on"
check "req gets the reply" test "$("$LW" req cli.svc q --raw 2>/dev/null)" = "answer 1"
check "req gets the second reply" test "$("$LW" req cli.svc q --raw 2>/dev/null)" = "answer 2"
wait $rp
"$LW" req cli.nobody q >"$tmp/nr.out" 2>"$tmp/nr.err"; rc=$?
check "no responders exits 1" test $rc -eq 1
check "no responders is said" grep -qi "no responders" "$tmp/nr.err"

"$LW" pub 'bad..subject' x 2>"$tmp/bad.err"; rc=$?
check "invalid subject exits 1" test $rc -eq 1
check "invalid subject is explained" grep -q "empty token" "$tmp/bad.err"
"$LW" pub 2>/dev/null; rc=$?
check "usage error exits 2" test $rc -eq 2
"$LW" -d nosuchdomain$$ stats 2>"$tmp/nd.err"; rc=$?
check "missing domain exits 1 with a hint" test $rc -eq 1 -a -s "$tmp/nd.err"

"$LW" stats --json >"$tmp/stats.json"
check "stats --json is valid JSON" python3 -m json.tool "$tmp/stats.json" >/dev/null
check "stats --json names the domain" grep -q "\"$LW_DOMAIN\"" "$tmp/stats.json"

# One publish in 1024 is timed: 2100 messages taken give two samples.
"$LW" sub cli.lat --raw --count 2100 >/dev/null 2>"$tmp/lat.err" &
sp=$!
wait_ready "$tmp/lat.err" "Subscribing on"
"$LW" pub cli.lat x --count 2100 2>/dev/null
wait $sp
"$LW" stats >"$tmp/lat.out"
check "stats shows the sampled latency" grep -Eq "latency: +p50 <= .*, p99 <= .* \(([2-9]|[1-9][0-9]+) samples" "$tmp/lat.out"
"$LW" stats --json >"$tmp/lat.json"
check "stats --json has the latency buckets" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["latency"]
assert d["sample_every"] == 1024 and len(d["buckets"]) == 22
assert sum(b["count"] for b in d["buckets"]) >= 2 and d["sum_ns"] > 0' "$tmp/lat.json"

# lw top --once: one frame, no escape codes; this lwd has no gateway
# (--http-port 0), so the gateway is not reachable (or, if some other
# server holds 8222 on this machine, not shown as this domain's).
"$LW" sub cli.top --raw >/dev/null 2>"$tmp/topsub.err" &
tp=$!
wait_ready "$tmp/topsub.err" "Subscribing on"
"$LW" top --once --interval-ms 100 >"$tmp/top.out" 2>"$tmp/top.err"; rc=$?
check "top --once exits 0 without a gateway" test $rc -eq 0
check "top --once names the domain" grep -q "domain \"$LW_DOMAIN\"" "$tmp/top.out"
check "top --once shows the message counters" grep -qE '^  published +[0-9]+' "$tmp/top.out"
check "top --once lists the subscription" grep -qE ' cli\.top +- +lw-sub ' "$tmp/top.out"
check "top --once says the gateway is not reachable" \
	grep -qE 'NATS gateway .*(not reachable|not a Lightwire gateway|serves domain)' "$tmp/top.out"
check "top --once prints no escape codes" test "$(grep -c $'\033' "$tmp/top.out")" -eq 0
"$LW" top --once --interval-ms 100 --http 127.0.0.1:1 >"$tmp/top1.out" 2>&1; rc=$?
check "top --http to a closed port exits 0" test $rc -eq 0
check "top --http to a closed port says not reachable" \
	grep -q 'gateway (http://127.0.0.1:1/varz): not reachable' "$tmp/top1.out"
kill -INT "$tp"; wait "$tp" 2>/dev/null
"$LW" top --interval-ms 1 2>/dev/null; rc=$?
check "top with a bad interval exits 2" test $rc -eq 2

"$LW" bench pingpong --count 2000 --warmup 200 >"$tmp/bench.out" 2>&1
check "bench pingpong prints a RESULT line with percentiles" \
	grep -qE '^RESULT lw_pingpong_rtt_16B .*p50_ns=[0-9]+.*p999_ns=[0-9]+' "$tmp/bench.out"
"$LW" bench tput --count 20000 >"$tmp/tput.out" 2>&1
check "bench tput loses nothing" grep -qE '^RESULT lw_tput_16B .*lost=0' "$tmp/tput.out"
"$LW" bench fanout --subs 2 --count 5000 --csv >"$tmp/fan.out" 2>&1
check "bench fanout --csv prints a header and a row" test "$(grep -c , "$tmp/fan.out")" -ge 2

"$LWD" --nats-port 0 --http-port 0 >"$tmp/lwd2.log" 2>&1; rc=$?
check "second lwd on the domain is refused (exit 3)" test $rc -eq 3
check "second lwd says why" grep -q "already served" "$tmp/lwd2.log"

# Configuration file: options apply, flags win, a bad line is reported.
printf '# test config\nring_size = 64\nmax_subs = 100\nmax_payload = 8K\n' >"$tmp/lwd.conf"
"$LWD" -c "$tmp/lwd.conf" --domain conf$$ --max-subs 200 --nats-port 0 --http-port 0 \
	>"$tmp/conf.log" 2>&1 &
cp=$!
for _ in $(seq 200); do "$LW" -d conf$$ stats >/dev/null 2>&1 && break; sleep 0.02; done
"$LW" -d conf$$ stats --json >"$tmp/conf.json" 2>/dev/null
kill -INT "$cp"; wait "$cp"
check "config file sets ring_size" grep -q '"ring_size":64' "$tmp/conf.json"
check "config file sets max_payload" grep -q '"max_payload":8192' "$tmp/conf.json"
check "a flag overrides the config file" grep -q '"max_subs":200' "$tmp/conf.json"
printf 'ring_size = 64\nno_such_option = 1\n' >"$tmp/bad.conf"
"$LWD" -c "$tmp/bad.conf" --domain badconf$$ >"$tmp/badconf.log" 2>&1; rc=$?
check "a bad config line exits 2" test $rc -eq 2
check "a bad config line names the line" grep -q "line 2" "$tmp/badconf.log"

# A full shared-memory file system: a clear error at start, not a SIGBUS later.
mkdir -p "$tmp/small"
if mount -t tmpfs -o size=8m tmpfs "$tmp/small" 2>/dev/null; then
	LW_SHM_DIR="$tmp/small" "$LWD" --domain full$$ --hugepages off >"$tmp/full.log" 2>&1; rc=$?
	umount "$tmp/small"
	check "lwd on a full /dev/shm exits 2" test $rc -eq 2
	check "lwd on a full /dev/shm says so" grep -q "No space left" "$tmp/full.log"
else
	echo "skip - cannot mount a small tmpfs here (not root?)"
fi

# lwd killed (no clean stop): a waiting sub learns it and exits 1.
"$LWD" --domain kill$$ --nats-port 0 --http-port 0 >"$tmp/kill.log" 2>&1 &
kp=$!
for _ in $(seq 200); do "$LW" -d kill$$ stats >/dev/null 2>&1 && break; sleep 0.02; done
"$LW" -d kill$$ sub kill.x >/dev/null 2>"$tmp/kill.err" &
ks=$!
wait_ready "$tmp/kill.err" "Subscribing on"
kill -KILL "$kp"; wait "$kp" 2>/dev/null
for _ in $(seq 150); do kill -0 "$ks" 2>/dev/null || break; sleep 0.02; done
if kill -0 "$ks" 2>/dev/null; then kill -KILL "$ks"; fi
wait "$ks"; rc=$?
check "sub exits 1 when lwd is killed" test $rc -eq 1
check "sub says lwd is gone" grep -q "is gone" "$tmp/kill.err"
"$LWD" --domain kill$$ --nats-port 0 --http-port 0 >>"$tmp/kill.log" 2>&1 &
kp=$!
for _ in $(seq 200); do "$LW" -d kill$$ stats >/dev/null 2>&1 && break; sleep 0.02; done
kill -INT "$kp"; wait "$kp"

kill -INT "$lwd_pid"; wait "$lwd_pid"; rc=$?; lwd_pid=
check "lwd exits 0 on SIGINT" test $rc -eq 0
check "lwd removed its files" test ! -e "/dev/shm/lightwire-$LW_DOMAIN.lock"

tap_end
