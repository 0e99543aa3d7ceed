#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what is missing, builds, lints, and runs every
# test in the dev build and again under AddressSanitizer + UBSan, then builds (no tests) the
# optimised Release configuration (-O3) with warnings as errors.
# Usage: scripts/test.sh [--quick|--rootfs]
#   --quick   dev build only, no sanitizer pass, no lint, no Release build
#   --rootfs  only the root filesystem step (needs build/dev/airgate)
# AG_SKIP_ROOTFS=1 skips the root filesystem step (counted as skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0 only_rootfs=0
[ "${1:-}" = "--quick" ] && quick=1
[ "${1:-}" = "--rootfs" ] && only_rootfs=1 quick=1
jobs=$(nproc 2>/dev/null || echo 2)

scripts/deps.sh test

if [ $quick -eq 0 ]; then
  echo "== lint"
  scripts/lint.sh
fi

total_pass=0 total_fail=0 total_skip=0
run_preset() {
  local preset=$1
  echo "== build ($preset)"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== test ($preset)"
  local junit="build/$preset/ctest-junit.xml" rc=0
  ctest --preset "$preset" -j "$jobs" --output-junit "$(pwd)/$junit" || rc=$?
  # Count from the JUnit report so skipped tests are counted as skipped, not passed.
  local counts
  counts=$(python3 - "$junit" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
p = f = s = 0
for tc in root.iter("testcase"):
    st = tc.get("status", "")
    if tc.find("skipped") is not None or st in ("notrun", "disabled"):
        s += 1
    elif tc.find("failure") is not None or tc.find("error") is not None or st == "fail":
        f += 1
    else:
        p += 1
print(p, f, s)
PY
)
  read -r p f s <<<"$counts"
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
  echo "$preset: $p passed, $f failed, $s skipped"
  return $rc
}

# The registry-free image: scripts/build-rootfs.sh (its Debian part cached in build/rootfs-cache,
# rebuilt weekly) with the dev binary, then airgate run inside it with chroot (version,
# check-config, serve + /readyz) and, where podman works, as an imported OCI image.
run_rootfs() {
  echo "== rootfs"
  local why=
  [ "${AG_SKIP_ROOTFS:-0}" = 1 ] && why="AG_SKIP_ROOTFS=1"
  [ -z "$why" ] && [ "$(id -u)" -ne 0 ] && why="needs root (mmdebstrap, chroot)"
  [ -z "$why" ] && [ ! -x build/dev/airgate ] && why="build/dev/airgate is not built"
  if [ -n "$why" ]; then
    echo "rootfs: SKIP: $why"
    total_skip=$((total_skip + 3))
    return 0
  fi
  local t0=$SECONDS rc t p=0 f=0 s=0
  if ! scripts/build-rootfs.sh build/rootfs build/dev/airgate; then
    echo "rootfs: FAIL: scripts/build-rootfs.sh"
    total_fail=$((total_fail + 3))
    return 1
  fi
  local built=$((SECONDS - t0))
  for t in rootfs rootfs_podman; do
    rc=0
    node "tests/deploy/$t.test.mjs" build/rootfs >"build/$t-test.log" 2>&1 || rc=$?
    case $rc in
    0) p=$((p + 1)) && echo "rootfs: $t passed" ;;
    77) s=$((s + 1)) && echo "rootfs: $t skipped: $(grep -m1 '^SKIP' "build/$t-test.log")" ;;
    *) f=$((f + 1)) && echo "rootfs: $t FAILED (build/$t-test.log):" && grep -E '^not ok|error' "build/$t-test.log" | head -20 ;;
    esac
  done
  p=$((p + 1)) # the build itself
  total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
  echo "rootfs: $(du -sk build/rootfs | cut -f1) KiB, built in $built s, checked in $((SECONDS - t0 - built)) s;" \
    "$p passed, $f failed, $s skipped"
  [ $f -eq 0 ]
}

status=0
if [ $only_rootfs -eq 1 ]; then
  run_rootfs || status=1
  echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
  exit $status
fi
run_preset dev || status=1
run_rootfs || status=1
if [ $quick -eq 0 ]; then
  run_preset asan || status=1
  # gcc -O3 finds maybe-uninitialized paths that -O0/-O2 do not: build it, warnings as errors.
  echo "== build (Release, -O3, warnings as errors; no tests)"
  if cmake -S . -B build/release-o3 -DCMAKE_BUILD_TYPE=Release -DAG_WERROR=ON \
    -DBUILD_TESTING=OFF >/dev/null && cmake --build build/release-o3 -j "$jobs"; then
    echo "release: built"
  else
    echo "release: build FAILED"
    status=1
  fi
fi
echo
echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
