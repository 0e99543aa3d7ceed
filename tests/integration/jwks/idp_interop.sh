#!/usr/bin/env bash
# Interop: tokens minted by the Keycloak-shaped IdP (tests/servers/idp.mjs, oidc-provider + jose)
# for RS256, PS256 and ES256 verify with `airgate token verify --jwks <certs URL>`; expired,
# wrong-audience and tampered ones do not; after a key rotation the new kid verifies.
# Usage: idp_interop.sh AIRGATE_BINARY     (exit 77 = skipped, with the reason)
set -euo pipefail
airgate=$1
src=$(cd "$(dirname "$0")/../../.." && pwd)
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }
[ -d "$src/tests/node_modules/oidc-provider" ] || { echo "SKIP: npm --prefix tests install not run"; exit 77; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

expect() { # expect CODE DESCRIPTION -- command...
  local want=$1 what=$2 got=0
  shift 3
  "$@" >"$work/out" 2>"$work/err" || got=$?
  [ "$got" -eq "$want" ] || { cat "$work/err" >&2; fail "$what: exit $got, expected $want"; }
  echo "ok - $what"
}

for alg in RS256 PS256 ES256; do
  node "$src/tests/servers/idp.mjs" --test-api --alg "$alg" >"$work/idp.json" 2>"$work/idp.err" &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$work/idp.json" ] && break; sleep 0.1; done
  [ -s "$work/idp.json" ] || { cat "$work/idp.err" >&2; fail "idp.mjs did not start"; }
  iss=$(sed -E 's/.*"issuer":"([^"]+)".*/\1/' "$work/idp.json")
  port=$(sed -E 's/.*"port":([0-9]+).*/\1/' "$work/idp.json")
  certs="$iss/protocol/openid-connect/certs"
  mint() { # mint JSON_BODY -> token
    curl -fsS -X POST -H 'Content-Type: application/json' -d "$1" \
      "http://127.0.0.1:$port/_test/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
  }
  tok=$(mint '{"username":"admin","ttl":300}')
  expect 0 "$alg: IdP access token verifies" -- \
    "$airgate" token verify --jwks "$certs" --issuer "$iss" --audience airflow --alg "$alg" "$tok"
  grep -q '"preferred_username": "admin"' "$work/out" || fail "$alg: payload not printed"
  expect 0 "$alg: token from stdin" -- sh -c "printf '%s\n' '$tok' | '$airgate' token verify --jwks '$certs' -"
  expect 1 "$alg: wrong audience" -- \
    "$airgate" token verify --jwks "$certs" --audience other-client "$tok"
  expect 1 "$alg: alg outside the allow-list" -- \
    "$airgate" token verify --jwks "$certs" --alg EdDSA "$tok"
  other=$(mint '{"username":"public","ttl":300}')
  spliced="$(echo "$tok" | cut -d. -f1).$(echo "$other" | cut -d. -f2).$(echo "$tok" | cut -d. -f3)"
  expect 1 "$alg: another token's payload under this signature" -- \
    "$airgate" token verify --jwks "$certs" "$spliced"
  grep -q 'invalid (crypto): signature does not verify' "$work/err" || fail "$alg: not a signature failure"
  old=$(mint '{"username":"viewer","ttl":-300}')
  expect 1 "$alg: expired token" -- "$airgate" token verify --jwks "$certs" "$old"
  grep -q 'invalid (expired)' "$work/err" || fail "$alg: expiry not named"
  curl -fsS -X POST "http://127.0.0.1:$port/_test/keys/rotate" >/dev/null
  new=$(mint '{"username":"op","ttl":300}')
  [ "$(echo "$new" | cut -d. -f1)" != "$(echo "$tok" | cut -d. -f1)" ] || fail "$alg: kid did not change"
  expect 0 "$alg: token under the rotated key" -- "$airgate" token verify --jwks "$certs" "$new"
  expect 0 "$alg: token under the old key (still published)" -- "$airgate" token verify --jwks "$certs" "$tok"
  kill "${pids[-1]}"
  wait "${pids[-1]}" 2>/dev/null || true
  : >"$work/idp.json"
done
echo "idp interop: all passed"
