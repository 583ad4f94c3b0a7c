#!/usr/bin/env bash
# lw consumer add|ls|info|next|rm against a private lwd + lw-control:
# pull consumers fed by lw req / lw pub, acks, redelivery after ack-wait,
# filters, deliver policies, a push consumer read with lw sub, errors.
set -uo pipefail
CLI_TEST=ccli
# shellcheck source=cli_env.sh
. "$(dirname "$0")/cli_env.sh"
exits "no lw-control: exit 1" 1 "$LW" consumer ls ORDERS
check "no lw-control: says so" grep -q "no lw-control serves this domain" "$tmp/err"
"$LW_CONTROL" --store-dir "$tmp/store" >"$tmp/ctl.log" 2>&1 &
ctl_pid=$!
for _ in $(seq 200); do "$LW" stream ls >/dev/null 2>&1 && break; sleep 0.02; done

# --- usage ------------------------------------------------------------------------
exits "no command: usage error" 2 "$LW" consumer
check "no command: names the commands" grep -q "missing command (add, ls, info, next, rm)" "$tmp/err"
exits "--help" 0 "$LW" consumer --help
check "--help: usage text" grep -q "next STREAM NAME" "$tmp/out"
exits "lw --help lists consumer" 0 "$LW" --help
check "lw --help: consumer line" grep -q "^  consumer " "$tmp/out"
exits "unknown command" 2 "$LW" consumer frob ORDERS
exits "add: missing NAME" 2 "$LW" consumer add ORDERS
exits "add: unknown option" 2 "$LW" consumer add ORDERS c1 --bogus
check "add: unknown option named" grep -q "unknown option '--bogus'" "$tmp/err"
exits "add: bad duration" 2 "$LW" consumer add ORDERS c1 --ack-wait 5parsecs
check "add: bad duration named" grep -q "'5parsecs' is not a positive duration" "$tmp/err"
exits "add: bad backoff" 2 "$LW" consumer add ORDERS c1 --backoff 1s,x
exits "add: bad ack policy" 2 "$LW" consumer add ORDERS c1 --ack sometimes
exits "add: bad deliver policy" 2 "$LW" consumer add ORDERS c1 --deliver yesterday
exits "add: bad deliver time" 2 "$LW" consumer add ORDERS c1 --deliver 2026-13-01T00:00:00Z
exits "add: option without value" 2 "$LW" consumer add ORDERS c1 --filter
exits "add: dotted name" 2 "$LW" consumer add ORDERS a.b
check "add: dotted name is named as invalid" grep -q "'a.b' is not a valid name" "$tmp/err"
for d in 1.5 s 1x -1s 1s2 . 99999999999h ''; do
	exits "add: '$d' is not a duration" 2 "$LW" consumer add ORDERS c1 --inactive-threshold "$d"
done
exits "next: bad wait" 2 "$LW" consumer next ORDERS c1 --wait 0
exits "next: bad count" 2 "$LW" consumer next ORDERS c1 --count none
exits "info: too many args" 2 "$LW" consumer info ORDERS c1 extra
exits "add: unknown stream" 1 "$LW" consumer add NOPE c1
check "add: unknown stream says stream not found" grep -q "stream not found" "$tmp/err"

# --- a pull consumer --------------------------------------------------------------
"$LW" stream add ORDERS --subjects 'orders.*' >/dev/null
exits "add pull consumer" 0 "$LW" consumer add ORDERS worker --ack-wait 1s --max-deliver 5 \
	--backoff 1s,2s --description 'the worker'
check "add: summary" grep -q "^Consumer worker on stream ORDERS (pull, durable)" "$tmp/out"
check "add: ack line" grep -q "ack:          explicit, wait 1s, max deliver 5" "$tmp/out"
check "add: backoff line" grep -q "backoff:      1s, 2s" "$tmp/out"
exits "add again, same config: idempotent" 0 "$LW" consumer add ORDERS worker --ack-wait 1s \
	--max-deliver 5 --backoff 1s,2s --description 'the worker'
exits "add again, other config: refused" 1 "$LW" consumer add ORDERS worker --ack-wait 9s
check "add again: consumer already exists" grep -q "consumer already exists" "$tmp/err"
exits "ls" 0 "$LW" consumer ls ORDERS
check "ls: header" grep -q "^CONSUMER .*NUM PENDING .*ACK PENDING .*DELIVERED SEQ" "$tmp/out"
check "ls: worker line" grep -Eq "^worker +0 +0 +0  pull$" "$tmp/out"
exits "info" 0 "$LW" consumer info ORDERS worker
check "info: description" grep -q "description:  the worker" "$tmp/out"
check "info: filter" grep -q "filter:       (all subjects)" "$tmp/out"
check "info: deliver" grep -q "deliver:      all$" "$tmp/out"
check "info: state" grep -q "state:        num_pending 0, num_ack_pending 0, num_redelivered 0, num_waiting 0" "$tmp/out"
exits "info --json" 0 "$LW" consumer info ORDERS worker --json
check "info --json: type" grep -q '"type": "io.nats.jetstream.api.v1.consumer_info_response"' "$tmp/out"
check "info --json: durable_name" grep -q '"durable_name": "worker"' "$tmp/out"
check "info --json: ack_wait in ns" grep -q '"ack_wait": 1000000000,' "$tmp/out"
check "info --json: backoff" bash -c 'tr -d " \n" <"$0" | grep -q "\"backoff\":\[1000000000,2000000000\]"' "$tmp/out"

"$LW" req orders.new 'one' >"$tmp/req1" 2>/dev/null
"$LW" req orders.new 'two' >/dev/null 2>&1
"$LW" req orders.old 'three' >/dev/null 2>&1
check "lw req stored the messages" grep -q '"seq":1' "$tmp/req1"
exits "ls: 3 pending" 0 "$LW" consumer ls ORDERS
check "ls: num_pending 3" grep -Eq "^worker +3 +0 +0  pull$" "$tmp/out"

exits "next --count 2" 0 "$LW" consumer next ORDERS worker --count 2
check "next: first message" grep -q '^\[#1\] Received on "orders.new": stream seq 1, delivered 1, consumer seq 1, pending 2, at ' "$tmp/out"
check "next: second message" grep -q '^\[#2\] Received on "orders.new": stream seq 2, delivered 1' "$tmp/out"
check "next: data" bash -c 'grep -qx "one" "$0" && grep -qx "two" "$0" && ! grep -q three "$0"' "$tmp/out"
check "next: acked" grep -q "Received 2 message(s), acknowledged" "$tmp/err"
"$LW" consumer info ORDERS worker >"$tmp/info2"
check "info after next: delivered stream seq 2" grep -q "delivered:    stream seq 2, consumer seq 2" "$tmp/info2"
check "info after next: ack floor 2" grep -q "ack floor:    stream seq 2, consumer seq 2" "$tmp/info2"
check "info after next: no ack pending" grep -q "num_pending 1, num_ack_pending 0," "$tmp/info2"

exits "next --no-ack" 0 "$LW" consumer next ORDERS worker --no-ack
check "next --no-ack: third, first delivery" grep -q '"orders.old": stream seq 3, delivered 1' "$tmp/out"
check "next --no-ack: not acked" bash -c '! grep -q acknowledged "$0"' "$tmp/err"
"$LW" consumer info ORDERS worker >"$tmp/info3"
check "info: one ack pending" grep -q "num_pending 0, num_ack_pending 1," "$tmp/info3"
sleep 1.2	# ack wait 1s, backoff 1s for the first redelivery
exits "next: redelivery after ack wait" 0 "$LW" consumer next ORDERS worker --wait 3s
check "next: redelivered, delivery count 2" grep -q '"orders.old": stream seq 3, delivered 2' "$tmp/out"
check "next: redelivered data" grep -qx "three" "$tmp/out"
"$LW" consumer info ORDERS worker >"$tmp/info4"
check "info after redelivery ack: nothing pending" grep -q "num_pending 0, num_ack_pending 0, num_redelivered 0," "$tmp/info4"

start=$(date +%s%N)
exits "next on an empty consumer: exit 1" 1 "$LW" consumer next ORDERS worker --wait 300ms
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "next empty: says no messages" grep -q "no messages" "$tmp/err"
check "next empty: waited --wait, not much more (${took} ms)" test "$took" -ge 250 -a "$took" -lt 2500
exits "next: unknown consumer" 1 "$LW" consumer next ORDERS nobody --wait 300ms
check "next: unknown consumer says so" grep -q "consumer not found" "$tmp/err"

# Durations as Go writes them (ack wait must stay above what the tests wait).
# With a backoff its first step is the ack wait, as nats-server has it.
exits "add: durations" 0 "$LW" consumer add ORDERS durs --ack-wait 2m --inactive-threshold 1.5s \
	--backoff 1m30s,2h --max-deliver 3
check "durations: summary" bash -c 'grep -q "wait 1m30s, max deliver 3" "$0" && grep -q "backoff:      1m30s, 2h0m0s" "$0" && grep -q "inactive:     1.5s" "$0"' "$tmp/out"
"$LW" consumer info ORDERS durs --json >"$tmp/durs.json"
check "durations: in ns" bash -c 'tr -d " \n" <"$0" | grep -q "\"ack_wait\":90000000000,.*\"inactive_threshold\":1500000000" && tr -d " \n" <"$0" | grep -q "\"backoff\":\[90000000000,7200000000000\]"' "$tmp/durs.json"
"$LW" consumer rm ORDERS durs >/dev/null

# --- filters and deliver policies -------------------------------------------------
exits "add with --filter" 0 "$LW" consumer add ORDERS olds --filter orders.old
check "add --filter: summary" grep -q "filter:       orders.old$" "$tmp/out"
exits "filtered next: gets the one matching message" 0 "$LW" consumer next ORDERS olds --count 5 --wait 500ms
check "filtered next: orders.old only" bash -c 'grep -c "Received on" "$0" | grep -qx 1 && grep -q "\"orders.old\": stream seq 3" "$0" && grep -qx three "$0"' "$tmp/out"
exits "add with two filters" 0 "$LW" consumer add ORDERS both --filter orders.old,orders.new --ack none
exits "two filters: info --json" 0 "$LW" consumer info ORDERS both --json
check "two filters: filter_subjects" bash -c 'tr -d " \n" <"$0" | grep -q "\"filter_subjects\":\[\"orders.old\",\"orders.new\"\]"' "$tmp/out"
check "two filters: ack none" grep -q '"ack_policy": "none"' "$tmp/out"
exits "add --deliver last" 0 "$LW" consumer add ORDERS lastc --deliver last
exits "deliver last: next" 0 "$LW" consumer next ORDERS lastc --count 3 --wait 500ms
check "deliver last: only the last message" bash -c 'grep -c "Received on" "$0" | grep -qx 1 && grep -q "stream seq 3," "$0"' "$tmp/out"
exits "add --deliver 2" 0 "$LW" consumer add ORDERS fromtwo --deliver 2
check "deliver 2: summary" grep -q "deliver:      by_start_sequence 2" "$tmp/out"
exits "deliver 2: next" 0 "$LW" consumer next ORDERS fromtwo
check "deliver 2: starts at seq 2" bash -c 'grep -q "stream seq 2," "$0" && grep -qx two "$0"' "$tmp/out"
exits "add --deliver TIME" 0 "$LW" consumer add ORDERS fromtime --deliver 2001-02-03T04:05:06Z
exits "deliver TIME: next" 0 "$LW" consumer next ORDERS fromtime
check "deliver TIME: starts at seq 1" grep -q "stream seq 1," "$tmp/out"
exits "add --deliver new" 0 "$LW" consumer add ORDERS newc --deliver new
exits "deliver new: nothing old" 1 "$LW" consumer next ORDERS newc --wait 300ms
check "deliver new: no messages" grep -q "no messages" "$tmp/err"
"$LW" pub orders.new 'four' 2>/dev/null
exits "deliver new: the new message" 0 "$LW" consumer next ORDERS newc --wait 2s
check "deliver new: seq 4" bash -c 'grep -q "stream seq 4," "$0" && grep -qx four "$0"' "$tmp/out"
# A pull waiting for messages gets one published meanwhile; a second pull
# beyond --max-waiting 1 is refused with lw-control's 409.
exits "add --max-waiting 1" 0 "$LW" consumer add ORDERS mw --filter orders.mw --max-waiting 1
"$LW" consumer next ORDERS mw --wait 5s >"$tmp/mw.out" 2>"$tmp/mw.err" &
mw_pid=$!
for _ in $(seq 200); do "$LW" consumer info ORDERS mw | grep -q "num_waiting 1$" && break; sleep 0.02; done
exits "next beyond max waiting: exit 1" 1 "$LW" consumer next ORDERS mw --wait 1s
check "next beyond max waiting: 409" grep -q "refused the pull request: 409 Exceeded MaxWaiting" "$tmp/err"
"$LW" pub orders.mw 'waited for' 2>/dev/null
wait "$mw_pid"; mw_rc=$?
check "waiting pull: exit 0" test "$mw_rc" -eq 0
check "waiting pull: got the message published while it waited" grep -qx "waited for" "$tmp/mw.out"
exits "ls: every consumer, sorted" 0 "$LW" consumer ls ORDERS
check "ls: sorted names" bash -c 'awk "NR > 1 { print \$1 }" "$0" | tr "\n" " " | grep -qx "both fromtime fromtwo lastc mw newc olds worker "' "$tmp/out"

# --- push consumer ----------------------------------------------------------------
"$LW" sub push.out --count 5 >"$tmp/push.out" 2>"$tmp/push.err" &
sub_pid=$!
for _ in $(seq 200); do grep -q "Subscribing on" "$tmp/push.err" && break; sleep 0.02; done
exits "add push consumer" 0 "$LW" consumer add ORDERS pusher --target push.out --ack none
check "push: summary" grep -q "^Consumer pusher on stream ORDERS (push, durable)" "$tmp/out"
check "push: deliver line" grep -q "deliver:      all, to push.out" "$tmp/out"
for _ in $(seq 150); do kill -0 "$sub_pid" 2>/dev/null || break; sleep 0.02; done
check "push: lw sub got the 5 stored messages" bash -c 'grep -c "Received on" "$0" | grep -qx 5' "$tmp/push.out"
check "push: stored subjects and data" bash -c 'grep -q "Received on \"orders.new\" with reply \"\$JS.ACK.ORDERS.pusher.1.1." "$0" && grep -qx one "$0" && grep -qx three "$0" && grep -qx four "$0" && grep -qx "waited for" "$0"' "$tmp/push.out"
kill -TERM "$sub_pid" 2>/dev/null; wait "$sub_pid" 2>/dev/null; sub_pid=
exits "next on a push consumer: refused" 1 "$LW" consumer next ORDERS pusher
check "next on push: says use lw sub" grep -q "push consumer delivering to push.out" "$tmp/err"
exits "add: push with --max-waiting refused by lw-control" 1 "$LW" consumer add ORDERS p2 --target x.y --max-waiting 3
check "push + max-waiting: lw-control's description" grep -q "push mode can not set max waiting" "$tmp/err"

# --- rm ---------------------------------------------------------------------------
exits "rm" 0 "$LW" consumer rm ORDERS worker
check "rm: says so" grep -q "Deleted consumer worker of stream ORDERS" "$tmp/out"
exits "info after rm: exit 1" 1 "$LW" consumer info ORDERS worker
check "info after rm: consumer not found" grep -q "consumer 'worker' of stream 'ORDERS': consumer not found" "$tmp/err"
exits "rm again: exit 1" 1 "$LW" consumer rm ORDERS worker
exits "ls: unknown stream" 1 "$LW" consumer ls NOPE
check "ls: unknown stream says stream not found" grep -q "stream 'NOPE': stream not found" "$tmp/err"
check "ls: worker gone" bash -c '! "$0" consumer ls ORDERS | grep -q "^worker "' "$LW"

# --- a full disk ---------------------------------------------------------------------
# A durable is confirmed only once it is on disk: on a full store it is
# refused (a confirmed one would be gone after the next restart).
mkdir -p "$tmp/small"
if mount -t tmpfs -o size=1m tmpfs "$tmp/small" 2>/dev/null; then
	fd=full$$
	"$LWD" --domain $fd --nats-port 0 --http-port 0 >"$tmp/full-lwd.log" 2>&1 &
	full_lwd=$!
	for _ in $(seq 200); do "$LW" -d $fd stats >/dev/null 2>&1 && break; sleep 0.02; done
	"$LW_CONTROL" --domain $fd --store-dir "$tmp/small/store" >"$tmp/full-ctl.log" 2>&1 &
	full_ctl=$!
	for _ in $(seq 200); do "$LW" -d $fd stream ls >/dev/null 2>&1 && break; sleep 0.02; done
	"$LW" -d $fd stream add FULL --subjects 'full.>' >/dev/null 2>&1
	big=$(head -c 8000 /dev/zero | tr '\0' x)
	for _ in $(seq 400); do
		"$LW" -d $fd req full.x "$big" -t 2000 2>&1 | grep -q '"seq"' || break
	done
	exits "add on a full disk: refused" 1 "$LW" -d $fd consumer add FULL d1
	check "add on a full disk: says why" grep -q "insufficient resources: cannot save the consumer" "$tmp/err"
	check "add on a full disk: lw-control logs it" grep -q "cannot save its state" "$tmp/full-ctl.log"
	exits "add on a full disk: no consumer left behind" 1 "$LW" -d $fd consumer info FULL d1
	kill -TERM "$full_ctl"; wait "$full_ctl"
	kill -INT "$full_lwd"; wait "$full_lwd"
	umount "$tmp/small"
else
	echo "skip - cannot mount a small tmpfs here (not root?)"
fi

tap_end
