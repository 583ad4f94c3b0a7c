#!/usr/bin/env bash
# Newcomer command 2 (and CI): install every dependency, build with
# warnings as errors, run every test suite, and end with one line
# "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh || exit 1
log=$(mktemp)
meson test -C build --print-errorlogs --num-processes 1 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
count() { awk -v k="$1" '$1 == k":" { n = $2 } END { print n + 0 }' "$log"; }
ok=$(count Ok); fail=$(( $(count Fail) + $(count Timeout) + $(count "Unexpected Pass") )); skip=$(count Skipped)
rm -f "$log"
echo "$ok passed, $fail failed, $skip skipped"
exit "$rc"
