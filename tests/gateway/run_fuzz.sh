#!/usr/bin/env bash
# Builds the parser fuzz target (fuzz_gw_proto.c) with clang's libFuzzer,
# AddressSanitizer and UBSan, and runs it for a bounded time from the seed
# corpus in fuzz_corpus/. Any crash, sanitizer report or broken invariant
# fails the test, and so does a missing clang or libFuzzer runtime:
# scripts/deps.sh installs both (clang, libclang-rt-14-dev), so their
# absence is a broken set-up, not a reason to skip.
#
# usage: run_fuzz.sh SOURCE_ROOT WORK_DIR
# env:   LW_FUZZ_SECONDS (default 20), CC_FUZZ (default clang)
set -euo pipefail
src=$1
work=$2
secs=${LW_FUZZ_SECONDS:-20}
cc=${CC_FUZZ:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "gw_fuzz: '$cc' not found: run scripts/deps.sh (installs clang and libclang-rt-14-dev)" >&2
	exit 1
fi
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
# -fno-sanitize-recover: a UBSan finding aborts the run like a crash.
if ! "$cc" -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I "$src/dataplane/gateway" \
	"$src/tests/gateway/fuzz_gw_proto.c" "$src/dataplane/gateway/lw_gw_proto.c" \
	-o "$work/fuzz_gw_proto"; then
	echo "gw_fuzz: cannot build with -fsanitize=fuzzer: is libclang-rt-14-dev installed? (scripts/deps.sh)" >&2
	exit 1
fi
# New inputs go to the scratch corpus (first directory), never to the
# seeds in the source tree.
set +e
"$work/fuzz_gw_proto" -max_total_time="$secs" -rss_limit_mb=1024 -timeout=10 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
	"$work/corpus" "$src/tests/gateway/fuzz_corpus" >"$work/fuzz.log" 2>&1
rc=$?
set -e
grep -E '^(INFO: Seed|Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$work/fuzz.log" || true
if [ "$rc" -ne 0 ]; then
	tail -n 60 "$work/fuzz.log" >&2
	for f in "$work"/artifacts/*; do
		[ -e "$f" ] || continue
		echo "gw_fuzz: reproducer $f (base64: $(base64 -w0 "$f")); run: $work/fuzz_gw_proto $f" >&2
	done
	echo "gw_fuzz: FAILED (exit $rc)" >&2
	exit 1
fi
echo "gw_fuzz: no crash in ${secs}s"
