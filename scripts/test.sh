#!/usr/bin/env bash
# Newcomer command 2 (and CI): install every dependency, build with
# warnings as errors, run every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
meson test -C build --print-errorlogs --num-processes 1 "$@"
