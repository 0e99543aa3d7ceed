#!/usr/bin/env bash
# `airgate check-config` passes on every example config, with the demo secrets they ship and with
# real secret files given through the environment (as the systemd unit and Kubernetes do), and the
# environment really wins over the file's *_file paths.
# Usage: test_examples.sh SOURCE_DIR AIRGATE_BINARY
set -euo pipefail
src=$1 airgate=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0

for f in "$src"/deploy/examples/*.yaml; do
  n=$((n + 1))
  echo "== airgate check-config -c ${f#"$src"/}"
  if ! (cd "$tmp" && "$airgate" check-config -c "$f" >"$tmp/out" 2>&1); then
    cat "$tmp/out"
    echo "FAIL: check-config rejected ${f#"$src"/}"
    fail=1
    continue
  fi
  # Secrets never appear in the printed config.
  for s in "$src"/deploy/examples/secrets/demo-*; do
    if grep -qF "$(cat "$s")" "$tmp/out"; then
      echo "FAIL: check-config printed the secret from $s"
      fail=1
    fi
  done
done
[ "$n" -ge 2 ] || {
  echo "FAIL: expected at least two example configs, found $n"
  exit 1
}

# Policy of each example, as printed by check-config.
"$airgate" check-config -c "$src/deploy/examples/gke.yaml" >"$tmp/gke.out" 2>&1
"$airgate" check-config -c "$src/deploy/examples/vm.yaml" >"$tmp/vm.out" 2>&1
for want in 35.191.0.0/16 130.211.0.0/22 86400 '"airflow_admin": ["Admin"]' '"airflow_viewer": ["Viewer"]' deny; do
  grep -qF -- "$want" "$tmp/gke.out" || { echo "FAIL: gke.yaml: $want not in effective config"; fail=1; }
done
# the default GKE example never makes a viewer an Admin; the recipe that does says so
if grep -qF -- '"viewer": ["Admin"]' "$tmp/gke.out"; then echo "FAIL: gke.yaml maps viewer to Admin"; fail=1; fi
"$airgate" check-config -c "$src/deploy/examples/gke-viewer-is-admin.yaml" >"$tmp/recipe.out" 2>&1 ||
  { echo "FAIL: gke-viewer-is-admin.yaml does not pass check-config"; fail=1; }
grep -q 'THE RECIPE, NOT A DEFAULT' "$src/deploy/examples/gke-viewer-is-admin.yaml" ||
  { echo "FAIL: the viewer->Admin recipe is not labelled"; fail=1; }
for want in airflow_admin airflow_op airflow_user airflow_viewer airflow_public Public \
  10.0.0.11 10.0.0.12 10.0.0.13; do
  grep -q -- "$want" "$tmp/vm.out" || { echo "FAIL: vm.yaml: $want not in effective config"; fail=1; }
done

# Real secrets through the environment, as LoadCredential= / Secret mounts deliver them.
openssl rand -base64 32 >"$tmp/cookie-secret"
printf 'real-client-secret' >"$tmp/client-secret"
for f in gke vm; do
  if ! AIRGATE_OIDC_CLIENT_SECRET_FILE=$tmp/client-secret \
    AIRGATE_SESSION_COOKIE_SECRET_FILE=$tmp/cookie-secret \
    "$airgate" check-config -c "$src/deploy/examples/$f.yaml" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    echo "FAIL: $f.yaml with secrets from the environment"
    fail=1
  fi
done
# ... and the environment is really used: a too-short cookie secret there must be refused.
printf 'short' >"$tmp/short"
if AIRGATE_SESSION_COOKIE_SECRET_FILE=$tmp/short \
  "$airgate" check-config -c "$src/deploy/examples/vm.yaml" >"$tmp/out" 2>&1; then
  echo "FAIL: AIRGATE_SESSION_COOKIE_SECRET_FILE did not override the config file"
  fail=1
else
  grep -q "cookie_secret" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: unclear error"; fail=1; }
fi

# An assertion key from a file (assertion.key_file): P-256 is accepted, another curve is refused
# by check-config already (not only later by serve), naming the curve.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/p256.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p384.pem" 2>/dev/null
if ! AIRGATE_ASSERTION_KEY_FILE=$tmp/p256.pem \
  "$airgate" check-config -c "$src/deploy/examples/vm.yaml" >"$tmp/out" 2>&1; then
  cat "$tmp/out"
  echo "FAIL: a P-256 assertion key was refused"
  fail=1
fi
if AIRGATE_ASSERTION_KEY_FILE=$tmp/p384.pem \
  "$airgate" check-config -c "$src/deploy/examples/vm.yaml" >"$tmp/out" 2>&1; then
  echo "FAIL: a P-384 assertion key was accepted"
  fail=1
elif ! grep -q "need P-256" "$tmp/out"; then
  cat "$tmp/out"
  echo "FAIL: unclear error for a P-384 assertion key"
  fail=1
fi

[ $fail -eq 0 ] && echo "PASS ($n examples)"
exit $fail
