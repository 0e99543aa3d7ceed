#!/usr/bin/env bash
# The demo command. Until the proxy and the demo realm land it builds airgate and validates the
# example configurations.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)"
for f in deploy/examples/*.yaml; do
  [ -e "$f" ] || continue
  echo "== airgate check-config -c $f"
  build/release/airgate check-config -c "$f"
done
