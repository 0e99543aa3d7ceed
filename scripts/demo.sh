#!/usr/bin/env bash
# The local demo, all on loopback: builds airgate (release), starts a Keycloak-shaped IdP realm
# (tests/servers/idp.mjs, realm "demo"), a stand-in Airflow webserver that shows the headers it
# receives (tests/servers/upstream.mjs), and airgate in front of it. Prints the URL and the demo
# users, then runs until Ctrl-C and stops everything it started.
#
#   scripts/demo.sh            # airgate on http://127.0.0.1:4180 (DEMO_PORT=... to change),
#                              # its management listener on 127.0.0.1:9090 (DEMO_MANAGEMENT_PORT)
#   DEMO_NO_BUILD=1 scripts/demo.sh   # reuse build/release/airgate (DEMO_AIRGATE=path: another)
#   scripts/demo.sh --replicas 2      # two (or three) replicas sharing state through a local
#                                     # redis-server: sign out on one, the other signs out too
set -euo pipefail
cd "$(dirname "$0")/.."

replicas=1
while [ $# -gt 0 ]; do
  case "$1" in
  --replicas) replicas=${2:-}; shift 2 ;;
  --replicas=*) replicas=${1#*=}; shift ;;
  -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$replicas" in 1 | 2 | 3) ;; *) echo "demo: --replicas must be 1, 2 or 3" >&2; exit 2 ;; esac

port=${DEMO_PORT:-4180}
mgmt_port=${DEMO_MANAGEMENT_PORT:-9090}
pids=()
work=$(mktemp -d "${TMPDIR:-/tmp}/airgate-demo.XXXXXX")

cleanup() {
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "stopping..."; exit 0' INT TERM

die() {
  echo "demo: $*" >&2
  for f in "$work"/*.log; do
    [ -s "$f" ] && { echo "--- $(basename "$f") (last lines)" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}

if [ -z "${DEMO_NO_BUILD:-}" ]; then
  scripts/deps.sh demo
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
airgate=${DEMO_AIRGATE:-build/release/airgate}
[ -x "$airgate" ] || die "$airgate is missing (run without DEMO_NO_BUILD)"
command -v node >/dev/null || die "Node.js is needed for the demo IdP: run scripts/deps.sh test"
command -v curl >/dev/null || die "curl is needed: run scripts/deps.sh test"
if [ ! -d tests/node_modules/oidc-provider ]; then
  echo "== installing the demo IdP's npm packages (tests/package.json)"
  npm --prefix tests ci --no-audit --no-fund >/dev/null
fi

# Reads the one JSON line a test server prints when it listens (15 s at most).
await_line() {
  local file=$1 pid=$2 what=$3
  for _ in $(seq 1 150); do
    if [ -s "$file" ]; then
      head -n1 "$file"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || die "$what exited"
    sleep 0.1
  done
  die "$what did not start within 15 s"
}
json_get() { node -e 'const j=JSON.parse(process.argv[1]); process.stdout.write(String(j[process.argv[2]]))' "$1" "$2"; }

port_free() {
  node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(+process.argv[1],"127.0.0.1",()=>s.close(()=>process.exit(0)))' "$1"
}
for ((i = 0; i < replicas; i++)); do
  port_free $((port + i)) || die "port $((port + i)) is taken on 127.0.0.1 (set DEMO_PORT)"
  port_free $((mgmt_port + i)) ||
    die "port $((mgmt_port + i)) is taken on 127.0.0.1 (set DEMO_MANAGEMENT_PORT)"
done

client_secret=$(openssl rand -hex 24)
openssl rand -base64 48 >"$work/cookie-secret"
printf '%s' "$client_secret" >"$work/client-secret"
chmod 600 "$work/cookie-secret" "$work/client-secret"

echo "== starting the demo IdP (realm demo)"
node tests/servers/idp.mjs --realm demo --client-id airflow --client-secret "$client_secret" \
  >"$work/idp.json" 2>"$work/idp.log" &
pids+=($!)
idp_line=$(await_line "$work/idp.json" "${pids[-1]}" "the IdP")
issuer=$(json_get "$idp_line" issuer)

echo "== starting the stand-in Airflow webserver"
node tests/servers/upstream.mjs --name airflow-demo >"$work/upstream.json" 2>"$work/upstream.log" &
pids+=($!)
up_line=$(await_line "$work/upstream.json" "${pids[-1]}" "the upstream")
up_port=$(json_get "$up_line" port)

state_block=""
if [ "$replicas" -gt 1 ]; then
  command -v redis-server >/dev/null || die "redis-server is needed for --replicas: run scripts/deps.sh test"
  redis_port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})')
  echo "== starting redis-server on 127.0.0.1:$redis_port (shared state)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
  pids+=($!)
  state_block="state:
  redis_url: \"redis://127.0.0.1:$redis_port/0\""
fi

for ((i = 0; i < replicas; i++)); do
p=$((port + i))
cat >"$work/airgate-$i.yaml" <<EOF
listen: "127.0.0.1:$p"
public_url: "http://127.0.0.1:$p"
management:
  listen: "127.0.0.1:$((mgmt_port + i))"
oidc:
  issuer: "$issuer"
  client_id: "airflow"
  client_secret_file: "$work/client-secret"
  scopes: ["openid", "profile", "email"]
session:
  cookie_name: "_airgate"
  cookie_secret_file: "$work/cookie-secret"
  lifetime_s: 86400
roles:
  claims: ["resource_access.airflow.roles"]
  map:
    airflow_admin: Admin
    airflow_op: Op
    airflow_user: User
    airflow_viewer: Viewer
    airflow_public: Public
  unmapped: deny
upstreams:
  servers: ["http://127.0.0.1:$up_port"]
  health_path: "/health"
log:
  level: info
$state_block
EOF

echo "== starting airgate on 127.0.0.1:$p"
"$airgate" serve -c "$work/airgate-$i.yaml" 2>"$work/airgate-$i.log" &
pids+=($!)
for _ in $(seq 1 150); do
  kill -0 "${pids[-1]}" 2>/dev/null || die "airgate exited"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/readyz")" = 200 ] && break
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/readyz")" = 200 ] ||
  die "airgate did not become ready"
done
others=""
for ((i = 1; i < replicas; i++)); do
  others="$others
  Replica $((i + 1)):  http://127.0.0.1:$((port + i))/   (same cookie; sign out on one, both sign out)"
done

cat <<EOF

  airgate demo is running.

  Open   http://127.0.0.1:$port/        (use 127.0.0.1, not localhost)$others

  Users (password = user name)    IdP role          Airflow role
    admin                         airflow_admin     Admin
    op                            airflow_op        Op
    user                          airflow_user      User
    viewer                        airflow_viewer    Viewer
    public                        airflow_public    Public
    norole                        (none)            403 page (unmapped: deny)

  Sign out:   http://127.0.0.1:$port/oauth2/logout
  Who am I:   http://127.0.0.1:$port/oauth2/userinfo
  Metrics:    http://127.0.0.1:$mgmt_port/metrics   (status: /statusz; management listener)
  IdP realm:  $issuer
  Logs:       $work/airgate-*.log

  Press Ctrl-C to stop.
EOF
while :; do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a demo process ($pid) exited"
  done
  sleep 1
done
