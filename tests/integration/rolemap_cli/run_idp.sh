#!/usr/bin/env bash
# End to end: `airgate rolemap --token` against the Keycloak-shaped test IdP (tests/servers/idp.mjs),
# with keys found the production way (issuer discovery + JWKS over HTTP), tokens minted by the IdP.
# Usage: run_idp.sh AIRGATE_BINARY     (exit 77 = skipped, with the reason)
set -uo pipefail

airgate=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
[ -d "$repo/tests/node_modules/oidc-provider" ] ||
    { echo "SKIP: test servers' npm packages missing (npm --prefix tests install)"; exit 77; }

work=$(mktemp -d)
idp_pid=
cleanup() {
    [ -n "$idp_pid" ] && kill "$idp_pid" 2>/dev/null && wait "$idp_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cp "$here/fixtures/client-secret" "$here/fixtures/cookie-secret" "$work/"
cd "$work" || exit 1
while read -r v; do unset "$v"; done < <(compgen -e | grep '^AIRGATE_' || true)

node "$repo/tests/servers/idp.mjs" --port 0 --client-id airflow --test-api >idp.json 2>idp.log &
idp_pid=$!
for _ in $(seq 1 100); do
    [ -s idp.json ] && break
    kill -0 "$idp_pid" 2>/dev/null || { echo "FAIL: idp exited"; cat idp.log; exit 1; }
    sleep 0.1
done
[ -s idp.json ] || { echo "FAIL: idp did not start within 10 s"; cat idp.log; exit 1; }
issuer=$(node -e 'console.log(JSON.parse(require("fs").readFileSync("idp.json","utf8").split("\n")[0]).issuer)')
port=$(node -e 'console.log(JSON.parse(require("fs").readFileSync("idp.json","utf8").split("\n")[0]).port)')
base=http://127.0.0.1:$port

cat >airgate.yaml <<YAML
public_url: "http://127.0.0.1:4180"
oidc:
  issuer: "$issuer"
  client_id: "airflow"
  client_secret_file: "client-secret"
session:
  cookie_secret_file: "cookie-secret"
roles:
  claims: ["resource_access.airflow.roles"]
  map: { viewer: Admin }
  unmapped: deny
upstreams:
  servers: ["http://127.0.0.1:8080"]
YAML

mint() { # mint JSON_BODY -> access token on stdout
    curl -sf --max-time 10 -H 'content-type: application/json' -d "$1" "$base/_test/token" |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).access_token))'
}

cases=0
failed=0
# expect NAME WANT_EXIT PATTERN... : every pattern (grep -E) must occur in stdout+stderr
expect() {
    local name=$1 want=$2 rc
    shift 2
    cases=$((cases + 1))
    rc=$(cat "$name.rc")
    local ok=1
    [ "$rc" = "$want" ] || { echo "FAIL $name: exit $rc, want $want"; ok=0; }
    for p in "$@"; do
        grep -qE -- "$p" "$name.log" || { echo "FAIL $name: output lacks /$p/"; ok=0; }
    done
    if [ $ok = 1 ]; then echo "ok   $name (exit $rc)"; else failed=$((failed + 1)); cat "$name.log"; fi
}
run() { # run NAME ARGS... (stdin from $stdin_file when set)
    local name=$1
    shift
    timeout 30 "$airgate" rolemap -c airgate.yaml "$@" <"${stdin_file:-/dev/null}" >"$name.log" 2>&1
    echo $? >"$name.rc"
}

tok=$(mint '{"username":"viewer"}')
[ -n "$tok" ] || { echo "FAIL: could not mint a token"; cat idp.log; exit 1; }
run viewer --token "$tok"
expect viewer 0 "verified \(RS256, kid [^)]+\) against the JWKS of issuer $issuer" \
    'User: +viewer \(from preferred_username\)' 'IdP roles: +.*viewer' 'Airflow roles: +Admin$' \
    'Decision: +ALLOW'

run viewer_json --token "$tok" --json
expect viewer_json 0 '"verified": true' '"alg": "RS256"' '"decision": "allow"'

# --jwks with the realm's certs URL (no discovery).
run jwks_url --token "$tok" --jwks "$issuer/protocol/openid-connect/certs"
expect jwks_url 0 "against the JWK Set $issuer/protocol/openid-connect/certs" 'Decision: +ALLOW'

printf '%s\n' "$tok" >tok.txt
stdin_file=tok.txt run viewer_stdin -
expect viewer_stdin 0 'token from stdin, verified' 'Airflow roles: +Admin$'

run norole --token "$(mint '{"username":"norole"}')"
expect norole 1 'Decision: +DENY' 'no roles found at resource_access.airflow.roles'

run admin_role_not_viewer --token "$(mint '{"username":"admin"}')"
expect admin_role_not_viewer 1 'IdP roles: +airflow_admin' 'Decision: +DENY'

run expired --token "$(mint '{"username":"viewer","ttl":-300}')"
expect expired 2 'token rejected: token expired'

run other_client --token "$(mint '{"username":"viewer","client_id":"someone-else"}')"
expect other_client 2 'token rejected: '

# A tampered payload (roles changed) with the original signature.
IFS=. read -r h p s <<<"$tok"
forged=$(printf '%s' "$p" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const c=JSON.parse(Buffer.from(s,"base64url"));c.preferred_username="mallory";process.stdout.write(Buffer.from(JSON.stringify(c)).toString("base64url"))})')
run tampered --token "$h.$forged.$s"
expect tampered 2 'token rejected: signature does not verify'
run tampered_no_verify --token "$h.$forged.$s" --no-verify
expect tampered_no_verify 0 '^!!! UNVERIFIED: signature NOT checked' 'User: +mallory'

# Key rotation at the IdP: a token under the new kid verifies with freshly fetched keys.
curl -sf --max-time 10 -X POST "$base/_test/keys/rotate" >/dev/null || { echo "FAIL: rotate"; exit 1; }
run rotated --token "$(mint '{"username":"viewer"}')"
expect rotated 0 'Decision: +ALLOW'

# The IdP goes away: keys cannot be loaded -> exit 2 with the reason, not a mapping.
kill "$idp_pid" && wait "$idp_pid" 2>/dev/null
idp_pid=
run idp_down --token "$tok"
expect idp_down 2 "token rejected: cannot load the keys of issuer $issuer"

echo "idp: $cases cases, $failed failed"
[ "$failed" = 0 ]
