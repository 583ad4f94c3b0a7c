#!/usr/bin/env bash
# Installs every Debian package Lightwire needs to build, test and benchmark.
# Idempotent; needs root (or sudo). Used by both README set-up commands and CI.
set -euo pipefail
pkgs=(build-essential meson ninja-build pkg-config
      dpdk libdpdk-dev libnuma-dev libcmocka-dev libjansson-dev libnats-dev
      python3 procps util-linux
      libssl-dev openssl          # NATS gateway TLS; the CLI makes the TLS tests' certificates
      clang libclang-rt-14-dev)   # gateway parser fuzz test (libFuzzer, ASan, UBSan)
# The nats.js gateway test needs Node.js and npm. A machine that has them
# already (NodeSource's nodejs, npm included) keeps its own: Debian's npm
# would not install beside that nodejs.
if ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update
  "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
