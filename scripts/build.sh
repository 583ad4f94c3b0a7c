#!/usr/bin/env bash
# Installs the Debian dependencies (scripts/deps.sh) and builds into ./build.
# Warnings are errors, as in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build -Dwerror=true --buildtype=debugoptimized
fi
ninja -C build
