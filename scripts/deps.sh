#!/usr/bin/env bash
# Installs every Debian and npm package airgate needs, and nothing when all is present.
# Usage: scripts/deps.sh [build|demo|test|bench|all]   (default: test, which includes build)
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-test}

# Build: compiler, CMake and the libraries airgate links.
apt_build=(build-essential cmake pkg-config git ca-certificates openssl
  libcjose-dev libjansson-dev libcurl4-openssl-dev libssl-dev libyaml-dev
  libcriterion-dev libhttp-parser-dev libhiredis-dev libmicrohttpd-dev)
# Tests: sanitizer runtime, static analysis, the real IdP (Node), real upstreams, a real browser,
# the deploy checks (kubectl kustomize, systemd-analyze, PyJWT as Airflow ships it, Flask +
# Flask-Login for webserver_config.py), mmdebstrap for the registry-free root filesystem
# (podman + runc are optional: its container check is skipped without them).
apt_test=(clang clang-tidy cppcheck libclang-rt-14-dev chromium nginx curl
  systemd python3 python3-jwt python3-cryptography python3-flask python3-flask-login
  redis-server mmdebstrap)
# Benchmarks: load generator and the peers we compare against.
apt_bench=(wrk apache2 libapache2-mod-auth-openidc hyperfine linux-perf procps)

case "$what" in
build) want=("${apt_build[@]}") ;;
demo) want=("${apt_build[@]}" curl) ;; # plus Node.js and the npm packages, below
test) want=("${apt_build[@]}" "${apt_test[@]}") ;;
bench) want=("${apt_build[@]}" "${apt_test[@]}" "${apt_bench[@]}") ;;
all) want=("${apt_build[@]}" "${apt_test[@]}" "${apt_bench[@]}") ;;
*) echo "usage: scripts/deps.sh [build|demo|test|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js may come from outside Debian (with its own npm, which conflicts with Debian's npm
# package): only ask apt for them when the commands are missing.
if [ "$what" != build ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  # Some images ship kubectl from another source; Debian's package would clash with it.
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  # nginx and apache2 must not start system services on port 80 as a side effect.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
    trap '"${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages for the test servers, the browser tests and the deploy checks (locked versions).
if [ "$what" != build ] && [ -f tests/package.json ]; then
  if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
    echo "deps: npm ci in tests/" >&2
    (cd tests && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
echo "deps: all present ($what)" >&2
