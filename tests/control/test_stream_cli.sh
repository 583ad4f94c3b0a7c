#!/usr/bin/env bash
# lw stream add|ls|info|get|purge|rm against a private lwd + lw-control,
# with messages stored by lw req (PubAck printed) and lw pub.
set -uo pipefail
CLI_TEST=scli
# shellcheck source=cli_env.sh
. "$(dirname "$0")/cli_env.sh"
"$LW" stream ls >/dev/null 2>"$tmp/nolwc.err"
check "no lw-control: exit 1 and says so" grep -q "no lw-control serves this domain" "$tmp/nolwc.err"
"$LW_CONTROL" --store-dir "$tmp/store" >"$tmp/ctl.log" 2>&1 &
ctl_pid=$!
for _ in $(seq 200); do "$LW" stream ls >/dev/null 2>&1 && break; sleep 0.02; done

check "stream add" "$LW" stream add ORDERS --subjects 'orders.*,refunds.>' --max-msgs 100 --dupe-window 30 --max-age 1h30m
"$LW" stream add ORDERS --subjects 'orders.*' --max-msgs 5 >/dev/null 2>"$tmp/add2.err"
check "stream add: a different config is refused" grep -q "different configuration" "$tmp/add2.err"
check "stream add: bad number is a usage error" bash -c '"$0" stream add X --max-msgs abc 2>/dev/null; test $? -eq 2' "$LW"
# A name with a dot would be two tokens of the API subject ("A.ORDERS"
# named stream ORDERS): refused before it is sent.
"$LW" stream info A.ORDERS 2>"$tmp/dot.err"; rc=$?
check "stream info A.ORDERS is a usage error" test $rc -eq 2
check "stream info A.ORDERS says why" grep -q "'A.ORDERS' is not a valid stream name" "$tmp/dot.err"
check "stream add with no subject in --subjects is a usage error" \
	bash -c '"$0" stream add Y --subjects "" 2>/dev/null; test $? -eq 2' "$LW"
"$LW" req orders.new 'first order' >"$tmp/req.out" 2>/dev/null
check "lw req gets the PubAck" grep -q '"stream":"ORDERS","seq":1' "$tmp/req.out"
"$LW" pub orders.new 'second order' 2>/dev/null
"$LW" pub refunds.eu.1 'a refund' 2>/dev/null
for _ in $(seq 100); do "$LW" stream info ORDERS | grep -q "messages:     3" && break; sleep 0.02; done
"$LW" stream info ORDERS >"$tmp/info.out"
check "stream info: subjects" grep -q "subjects:     orders.\*, refunds.>" "$tmp/info.out"
check "stream info: counts" grep -q "messages:     3 (.* bytes), first 1, last 3" "$tmp/info.out"
check "stream info: limits" grep -q "max_msgs 100, max_bytes -1, max_age 5400s," "$tmp/info.out"
check "stream info: dupe window" grep -q "dupe window:  30s" "$tmp/info.out"
check "stream add: bad duration is a usage error" bash -c '"$0" stream add X --max-age 3days 2>/dev/null; test $? -eq 2' "$LW"
check "stream add: a bad storage type is a usage error naming the choices" bash -c '"$0" stream add X --storage disk 2>&1 >/dev/null | grep -q "is not file or memory"; test "${PIPESTATUS[0]}" -eq 2' "$LW"
check "-t after the command" bash -c '"$0" stream ls -t 2000 | grep -q "^ORDERS "' "$LW"
check "stream info: an unknown option is named" bash -c '"$0" stream info ORDERS --bogus 2>&1 | grep -q "unknown option .--bogus."' "$LW"
check "stream info --json" bash -c '"$0" stream info ORDERS --json | grep -q "\"type\": \"io.nats.jetstream.api.v1.stream_info_response\""' "$LW"
"$LW" stream ls >"$tmp/ls.out"
check "stream ls" grep -Eq "^ORDERS +3 " "$tmp/ls.out"
"$LW" stream get ORDERS 2 >"$tmp/get.out"
check "stream get SEQ: subject" grep -q "Message 2 on orders.new" "$tmp/get.out"
check "stream get SEQ: data" grep -qx "second order" "$tmp/get.out"
"$LW" stream get ORDERS --last 'refunds.>' >"$tmp/last.out"
check "stream get --last" grep -qx "a refund" "$tmp/last.out"
"$LW" pub orders.hdr 'with headers' -H X-Kind:a 2>/dev/null
for _ in $(seq 100); do "$LW" stream get ORDERS --last orders.hdr >"$tmp/geth.out" 2>/dev/null && break; sleep 0.02; done
check "stream get: headers one per line" grep -qx "X-Kind: a" "$tmp/geth.out"
check "stream get: no raw NATS/1.0 line" bash -c '! grep -q "^NATS/1.0" "$0"' "$tmp/geth.out"
"$LW" stream get ORDERS 99 >/dev/null 2>"$tmp/get99.err"
check "stream get: no such message" grep -q "no message found" "$tmp/get99.err"
"$LW" stream purge ORDERS --subject 'orders.*' >"$tmp/purge.out"
check "stream purge --subject" grep -q "Purged 3 message(s)" "$tmp/purge.out"
check "stream redrive: no dead letters" bash -c '"$0" stream redrive ORDERS | grep -q "Redriven 0 message(s) into ORDERS"' "$LW"
"$LW" stream rm ORDERS >/dev/null
"$LW" stream info ORDERS >/dev/null 2>"$tmp/gone.err"
check "stream rm" grep -q "stream 'ORDERS': stream not found" "$tmp/gone.err"
check "stream rm: files gone" test ! -e "$tmp/store/ORDERS"

tap_end
