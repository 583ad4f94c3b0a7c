#!/usr/bin/env bash
# Newcomer command 1: install, build, start lwd with its embedded defaults
# (domain "default", no hugepages needed, no NIC, no config file) and show
# a short publish/subscribe and request/reply demo. lwd keeps running in
# the background afterwards so you can try the lw CLI; the script prints
# how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
LWD=$PWD/build/dataplane/lwd/lwd
LW=$PWD/build/apps/lw/lw
domain=${LW_DOMAIN:-default}
export LW_DOMAIN=$domain
log=/tmp/lwd-$domain.log

if "$LW" stats >/dev/null 2>&1; then
  echo "== lwd already serves domain '$domain'"
else
  echo "== starting lwd (domain '$domain', log $log)"
  setsid "$LWD" --domain "$domain" >"$log" 2>&1 < /dev/null &
  for _ in $(seq 100); do "$LW" stats >/dev/null 2>&1 && break; sleep 0.05; done
  "$LW" stats >/dev/null || { cat "$log"; exit 1; }
  head -n 1 "$log"
fi

echo "== lw sub 'demo.>' (waits for 3 messages)"
"$LW" sub 'demo.>' --count 3 &
sub=$!
sleep 0.3
echo "== lw pub demo.hello 'hello #{{Count}}' --count 3"
"$LW" pub demo.hello 'hello #{{Count}}' --count 3
wait "$sub"

echo "== lw reply demo.echo --echo  +  lw req demo.echo ping"
"$LW" reply demo.echo --echo --count 1 &
rep=$!
sleep 0.3
"$LW" req demo.echo ping
wait "$rep"
echo "== lw req demo.nobody (no responders)"
"$LW" req demo.nobody hi || true

echo "== lw stats"
"$LW" stats
pid=$(sed -n 2p "/dev/shm/lightwire-$domain.lock" 2>/dev/null || true)
echo
echo "lwd is running (pid ${pid:-?}). Try: export PATH=$PWD/build/apps/lw:\$PATH; lw sub 'foo.*' & lw pub foo.bar hi"
echo "Stop it with: kill ${pid:-<pid>}"
