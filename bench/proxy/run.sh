#!/usr/bin/env bash
# Side-by-side proxy benchmark: airgate vs nginx plain proxy_pass vs Apache + mod_auth_openidc,
# all in front of the same nginx upstream, on loopback, ports chosen at run time.
# Reports (asserts nothing): req/s, p50/p99, server CPU us/request, peak RSS, ratios, and the
# extra RSS of 10,000 idle keep-alive connections. See bench/README.md.
#
# Environment (all optional):
#   BENCH_SECONDS=10            seconds per measured wrk run (30 for careful runs)
#   BENCH_WARMUP_SECONDS=2      unmeasured warm-up per peer
#   BENCH_THREADS=2             wrk threads
#   BENCH_CONNECTIONS="64 1024" wrk connection counts
#   BENCH_DISTINCT_TOKENS=20000 tokens minted for the distinct-tokens run
#   BENCH_DISTINCT_CONNECTIONS=64
#   BENCH_IDLE_CONNECTIONS=10000  0 skips the idle keep-alive test
#   BENCH_IDLE_HOLD_SECONDS=5
#   BENCH_IDLE_PATH=/           what each idle connection asks for first (with the bearer token)
#   BENCH_REPEAT=1              rounds of every run; the report shows each figure's median
#   BENCH_PEERS="nginx apache airgate"
#   BENCH_PIN=0                 1: servers under test on CPU 0, wrk + upstream + IdP on CPU 1
#   BENCH_SKIP_DEPS=0           1: do not run scripts/deps.sh bench
#   BENCH_KEEP=0                1: keep the work directory (configs, logs, raw wrk output)
#   BENCH_PERF=0                1: perf profile of airgate during each run -> bench/out/perf-*.txt
#   BENCH_BUILD=1               0: do not (re)build build/release/airgate before measuring it
#   BENCH_AIRGATE_BIN=build/release/airgate
set -euo pipefail

case "${1:-}" in
-h | --help)
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
  ;;
"") ;;
*)
  echo "usage: bench/proxy/run.sh [--help]   (settings come from BENCH_* variables, see --help)" >&2
  exit 2
  ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out_dir="$repo/bench/out"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
bad_setting() { # a wrong BENCH_* value: usage error
  log "error: $*"
  exit 2
}
num() { # name value min max
  if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
    bad_setting "$1 must be an integer in $3..$4 (got '$2')"
  fi
}
jstr() { tr -d '"\134\n'; } # text safe inside a JSON string: no quotes, backslashes, newlines

seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP_SECONDS:-2}
threads=${BENCH_THREADS:-2}
conns_list=${BENCH_CONNECTIONS:-64 1024}
distinct=${BENCH_DISTINCT_TOKENS:-20000}
distinct_conns=${BENCH_DISTINCT_CONNECTIONS:-64}
idle_conns=${BENCH_IDLE_CONNECTIONS:-10000}
idle_hold=${BENCH_IDLE_HOLD_SECONDS:-5}
repeat=${BENCH_REPEAT:-1}
idle_path=${BENCH_IDLE_PATH:-/}
peers=${BENCH_PEERS:-nginx apache airgate}
pin=${BENCH_PIN:-0}
airgate_bin=${BENCH_AIRGATE_BIN:-$repo/build/release/airgate}
num BENCH_SECONDS "$seconds" 1 600
num BENCH_WARMUP_SECONDS "$warmup" 0 60
num BENCH_THREADS "$threads" 1 64
num BENCH_DISTINCT_TOKENS "$distinct" 1 200000
num BENCH_DISTINCT_CONNECTIONS "$distinct_conns" 1 20000
num BENCH_IDLE_CONNECTIONS "$idle_conns" 0 50000
num BENCH_IDLE_HOLD_SECONDS "$idle_hold" 0 600
num BENCH_REPEAT "$repeat" 1 20
[[ $idle_path =~ ^/[A-Za-z0-9/._-]*$ ]] || bad_setting "BENCH_IDLE_PATH must be a plain absolute path"
for c in $conns_list; do num BENCH_CONNECTIONS "$c" 1 20000; done
for p in $peers; do
  case $p in nginx | apache | airgate) ;; *) bad_setting "BENCH_PEERS: unknown peer '$p' (nginx apache airgate)" ;; esac
done
case $pin in 0 | 1) ;; *) bad_setting "BENCH_PIN must be 0 or 1" ;; esac

if [ "${BENCH_SKIP_DEPS:-0}" != 1 ]; then
  "$repo/scripts/deps.sh" bench
fi
for c in wrk nginx apache2 node openssl curl taskset pgrep; do
  command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || die "$c not found (scripts/deps.sh bench installs it)"
done
PATH=$PATH:/usr/sbin
if [ "${BENCH_PERF:-0}" = 1 ] && ! command -v perf >/dev/null 2>&1; then
  die "BENCH_PERF=1 needs perf (Debian package linux-perf, in scripts/deps.sh bench)"
fi

# Enough descriptors for the idle test and wrk -c1024 (servers inherit this limit).
want_fd=$((idle_conns + 4096))
[ "$want_fd" -ge 65536 ] || want_fd=65536
ulimit -Hn "$want_fd" 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((idle_conns + 1024)) ]; then
  log "open-file limit $(ulimit -n) is too low for $idle_conns idle connections; reducing"
  idle_conns=$(($(ulimit -n) - 1024))
  [ "$idle_conns" -ge 0 ] || idle_conns=0
fi

ncpu=$(nproc)
core_server="" core_load=""
if [ "$pin" = 1 ]; then
  [ "$ncpu" -ge 2 ] || die "BENCH_PIN=1 needs at least 2 CPUs"
  core_server=0
  core_load=1
fi

# ---------------------------------------------------------------------------------------------
# Work directory and cleanup (also on Ctrl-C).
work=$(mktemp -d /tmp/airgate-bench.XXXXXX)
chmod 755 "$work" # Apache's children run as an unprivileged user and read the CA bundle
declare -A pid_of=()
started=()
idle_pid=""
load_pid=""
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  [ -z "$idle_pid" ] || kill "$idle_pid" 2>/dev/null || true
  [ -z "$load_pid" ] || kill "$load_pid" 2>/dev/null || true
  for p in "${started[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${started[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 1 ] || break
    sleep 0.1
  done
  for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

mkdir -p "$work"/{tmp,www,realm,pki,secrets,apache/run,wrk} "$out_dir"
chmod 777 "$work/apache/run"

# ---------------------------------------------------------------------------------------------
# Ports, PKI, realm, tokens.
mapfile -t ports < <(node "$here/lib/ports.mjs" 6)
[ "${#ports[@]}" = 6 ] || die "could not get free ports"
upstream_port=${ports[0]} nginx_port=${ports[1]} apache_port=${ports[2]}
airgate_port=${ports[3]} idp_https_port=${ports[4]} idp_http_port=${ports[5]}
realm=data
issuer="https://127.0.0.1:$idp_https_port/realms/$realm"
jwks_https="$issuer/protocol/openid-connect/certs"

log "PKI: a CA and the IdP's certificate for 127.0.0.1"
(
  cd "$work/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
    -subj "/CN=airgate bench CA" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout idp.key -out idp.csr -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf
  openssl x509 -req -in idp.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out idp.crt -days 2 \
    -extfile ext.cnf 2>/dev/null
  chmod 644 ca.crt idp.crt
  chmod 600 ca.key idp.key
)

log "realm: RSA key, JWKS, discovery, 1 token + $distinct distinct tokens"
mint_info=$(node "$here/lib/mint.mjs" --out "$work/realm" --issuer "$issuer" --jwks-uri "$jwks_https" \
  --distinct "$distinct" --ttl 14400)
token_file="$work/realm/token.txt"
tokens_file="$work/realm/tokens.txt"
token=$(cat "$token_file")
head -c 32 /dev/urandom | base64 | tr -d '\n' >"$work/secrets/client-secret"
head -c 48 /dev/urandom >"$work/secrets/cookie-secret"
chmod 600 "$work/secrets/"*

printf 'ok' >"$work/www/2b.txt"
head -c 65536 /dev/urandom >"$work/www/64k.bin"
chmod -R a+rX "$work/www"

apache_user=www-data
id "$apache_user" >/dev/null 2>&1 || apache_user=nobody
apache_group=$(id -gn "$apache_user")
moddir=/usr/lib/apache2/modules

render() { # template output
  sed -e "s|@DIR@|$work|g" -e "s|@UPSTREAM_PORT@|$upstream_port|g" -e "s|@NGINX_PORT@|$nginx_port|g" \
    -e "s|@APACHE_PORT@|$apache_port|g" -e "s|@AIRGATE_PORT@|$airgate_port|g" \
    -e "s|@IDP_HTTPS_PORT@|$idp_https_port|g" -e "s|@IDP_HTTP_PORT@|$idp_http_port|g" \
    -e "s|@REALM@|$realm|g" -e "s|@ISSUER@|$issuer|g" -e "s|@JWKS_HTTPS_URI@|$jwks_https|g" \
    -e "s|@MODDIR@|$moddir|g" -e "s|@APACHE_USER@|$apache_user|g" -e "s|@APACHE_GROUP@|$apache_group|g" \
    -e "s|@APACHE_PASSPHRASE@|$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')|g" \
    -e "s|@APACHE_LOGLEVEL@|${BENCH_APACHE_LOGLEVEL:-warn}|g" \
    -e "s|@UPSTREAM_WORKERS@|${BENCH_UPSTREAM_WORKERS:-auto}|g" \
    -e "s|@PROXY_WORKERS@|${BENCH_NGINX_WORKERS:-auto}|g" \
    -e "s|@AIRGATE_MAX_CONNECTIONS@|$((idle_conns + 4096))|g" "$1" >"$2"
  if grep -v '^ *#' "$2" | grep -q '@[A-Z_]*@'; then die "unfilled placeholder in $2"; fi
}
render "$here/conf/upstream-nginx.conf.in" "$work/upstream-nginx.conf"
render "$here/conf/idp-nginx.conf.in" "$work/idp-nginx.conf"
render "$here/conf/proxy-nginx.conf.in" "$work/proxy-nginx.conf"
render "$here/conf/apache.conf.in" "$work/apache.conf"
render "$here/conf/airgate.yaml.in" "$work/airgate.yaml"

# ---------------------------------------------------------------------------------------------
# Process helpers: every process of a server (master + workers; threads are in each process's
# /proc stat), CPU ticks (utime+stime of each live process, plus what the master has reaped),
# summed peak RSS (VmHWM) and current RSS.
tree_pids() {
  local c
  echo "$1"
  for c in $(pgrep -P "$1" 2>/dev/null || true); do tree_pids "$c"; done
}
cpu_ticks() {
  local root=$1 total=0 p f
  for p in $(tree_pids "$root"); do
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    # shellcheck disable=SC2086
    set -- $f
    total=$((total + ${12} + ${13}))
    [ "$p" != "$root" ] || total=$((total + ${14} + ${15}))
  done
  echo "$total"
}
status_kib() { # root field
  local total=0 p v
  for p in $(tree_pids "$1"); do
    v=$(awk -v k="$2:" '$1 == k { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
tail_of() { cat "$@" 2>/dev/null | tail -c 400 | tr '\n' ' ' || true; }
thread_ticks() { # pid -> "name ticks" per thread name (utime+stime summed over same-named threads)
  local t
  for t in /proc/"$1"/task/*/stat; do
    sed 's/^[0-9]* (\(.*\)) [A-Za-z] \(.*\)$/\1\t\2/' "$t" 2>/dev/null || true
  done | awk -F'\t' '{ split($2, f, " "); n = $1; gsub(/[^A-Za-z0-9_.-]/, "_", n); c[n] += f[11] + f[12] }
    END { for (n in c) print n, c[n] }'
}
thread_json() { # before after -> {"name":ticks,...} of the difference
  awk 'NR == FNR { b[$1] = $2; next } { d[$1] = $2 - b[$1] }
    END { printf "{"; s = ""; for (n in d) { printf "%s\"%s\":%d", s, n, d[n]; s = "," } printf "}" }' \
    <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
nprocs() { tree_pids "$1" | wc -l; }
clk_tck=$(getconf CLK_TCK)
machine_ticks() { # "busy total" jiffies of the whole machine
  awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}
busy_cores() { # "busy0 total0" "busy1 total1" -> cores busy in between
  local a b
  read -r -a a <<<"$1"
  read -r -a b <<<"$2"
  awk -v db=$((b[0] - a[0])) -v dt=$((b[1] - a[1])) -v n="$ncpu" 'BEGIN { v = 0; if (dt > 0) v = n * db / dt; printf "%.2f", v }'
}

wait_port() { # name port pid
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$2/" 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
start() { # name core(server|load) command...
  local name=$1 where=$2
  shift 2
  local core=$core_load
  [ "$where" != server ] || core=$core_server
  # exec: the recorded pid is the server's own (its master process), not a subshell's.
  (
    [ -z "$core" ] || exec taskset -c "$core" "$@"
    exec "$@"
  ) >"$work/$name.stdout" 2>"$work/$name.stderr" &
  pid_of[$name]=$!
  started+=("$!")
}

# ---------------------------------------------------------------------------------------------
# Servers.
log "starting upstream nginx on :$upstream_port and the IdP (https :$idp_https_port)"
start upstream load nginx -p "$work" -c "$work/upstream-nginx.conf" -e "$work/upstream-error.log"
start idp load nginx -p "$work" -c "$work/idp-nginx.conf" -e "$work/idp-error.log"
wait_port upstream "$upstream_port" "${pid_of[upstream]}" || die "upstream nginx did not start: $(tail_of "$work/upstream.stderr" "$work/upstream-error.log")"
for _ in $(seq 1 50); do
  curl -sf --max-time 2 --cacert "$work/pki/ca.crt" "$jwks_https" >/dev/null && break
  sleep 0.1
done
curl -sf --max-time 5 --cacert "$work/pki/ca.crt" "$jwks_https" >/dev/null ||
  die "IdP does not serve the JWKS over https: $(tail_of "$work/idp.stderr" "$work/idp-error.log")"

declare -A avail=() reason=() auth_checks=()
for p in $peers; do avail[$p]=0 reason[$p]="not started"; done

if [[ " $peers " == *" nginx "* ]]; then
  start nginx server nginx -p "$work" -c "$work/proxy-nginx.conf" -e "$work/proxy-nginx-error.log"
  if wait_port nginx "$nginx_port" "${pid_of[nginx]}"; then avail[nginx]=1 reason[nginx]=""; else reason[nginx]="did not start: $(tail_of "$work/nginx.stderr" "$work/proxy-nginx-error.log")"; fi
fi
if [[ " $peers " == *" apache "* ]]; then
  start apache server apache2 -d "$work/apache" -f "$work/apache.conf" -DFOREGROUND
  if wait_port apache "$apache_port" "${pid_of[apache]}"; then avail[apache]=1 reason[apache]=""; else reason[apache]="did not start: $(tail_of "$work/apache.stderr" "$work/apache/error.log")"; fi
fi
if [[ " $peers " == *" airgate "* ]]; then
  if [ -z "${BENCH_AIRGATE_BIN:-}" ] && [ "${BENCH_BUILD:-1}" = 1 ]; then
    # Incremental: measures the tree as it is, and costs nothing when the binary is current.
    log "building airgate (release preset)"
    if ! (cd "$repo" && { [ -f build/release/CMakeCache.txt ] || cmake --preset release >"$work/build.log" 2>&1; } &&
      cmake --build --preset release -j"$ncpu" >>"$work/build.log" 2>&1); then
      log "airgate release build failed (measuring the existing binary, if any): $(grep -m3 -E 'error|Error' "$work/build.log" | tr '\n' ' ')"
    fi
  fi
  if [ ! -x "$airgate_bin" ]; then
    reason[airgate]="no binary at ${airgate_bin#"$repo"/}"
  else
    # airgate reads AIRGATE_* variables as config keys: none from the caller's environment.
    mapfile -t unset_env < <(env | sed -n 's/^\(AIRGATE_[A-Za-z0-9_]*\)=.*/-u\n\1/p')
    start airgate server env "${unset_env[@]}" "$airgate_bin" serve -c "$work/airgate.yaml"
    if wait_port airgate "$airgate_port" "${pid_of[airgate]}"; then
      avail[airgate]=1 reason[airgate]=""
    else
      reason[airgate]="serve did not come up: $(tail_of "$work/airgate.stderr")"
    fi
  fi
fi
port_of() { case $1 in nginx) echo "$nginx_port" ;; apache) echo "$apache_port" ;; airgate) echo "$airgate_port" ;; esac }

# ---------------------------------------------------------------------------------------------
# Correctness first: a good token must reach the upstream (both bodies); a missing, tampered,
# foreign-key or expired token must get 401 from the authenticating peers.
code() { # port path [token]
  if [ -n "${3:-}" ]; then
    curl -s -o "$work/body" -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $3" "http://127.0.0.1:$1$2" || true
  else
    curl -s -o "$work/body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$1$2" || true
  fi
}
for p in $peers; do
  [ "${avail[$p]}" = 1 ] || continue
  port=$(port_of "$p")
  c2=$(code "$port" / "$token")
  s2=$(stat -c %s "$work/body")
  c64=$(code "$port" /64k "$token")
  s64=$(stat -c %s "$work/body")
  checks="\"good_2b\":$c2,\"good_2b_bytes\":$s2,\"good_64k\":$c64,\"good_64k_bytes\":$s64"
  if [ "$c2" != 200 ] || [ "$s2" != 2 ] || [ "$c64" != 200 ] || [ "$s64" != 65536 ]; then
    avail[$p]=0
    reason[$p]="a valid token did not get the upstream's bodies (2 B: HTTP $c2, $s2 bytes; 64 KiB: HTTP $c64, $s64 bytes)"
  fi
  if [ "$p" != nginx ]; then
    cn=$(code "$port" /)
    cb=$(code "$port" / "$(cat "$work/realm/bad-signature.txt")")
    cw=$(code "$port" / "$(cat "$work/realm/wrong-key.txt")")
    ce=$(code "$port" / "$(cat "$work/realm/expired.txt")")
    checks+=",\"no_token\":$cn,\"bad_signature\":$cb,\"wrong_key\":$cw,\"expired\":$ce"
    if [ "$cn" = 401 ] && [ "$cb" = 401 ] && [ "$cw" = 401 ] && [ "$ce" = 401 ]; then
      checks+=",\"validates\":true"
    else
      checks+=",\"validates\":false"
      log "WARNING: $p does not refuse every bad token (none $cn, tampered $cb, foreign key $cw, expired $ce)"
    fi
  fi
  auth_checks[$p]="{$checks}"
  log "$p checks: {$checks}"
done

# ---------------------------------------------------------------------------------------------
# Idle keep-alive connections: extra RSS of the server while COUNT connections sit idle after
# one request each. Run before the load so freed load buffers do not hide the cost.
idle_json=()
idle_test() { # peer
  local p=$1 port pid before after line f
  port=$(port_of "$p")
  pid=${pid_of[$p]}
  f="$work/idle-$p.out"
  local path=$idle_path
  before=$(status_kib "$pid" VmRSS)
  (
    set -- node "$here/lib/idle.mjs" --port "$port" --count "$idle_conns" --hold "$idle_hold" \
      --path "$path" --token-file "$token_file" --timeout $((idle_hold + 120))
    [ -z "$core_load" ] || exec taskset -c "$core_load" "$@"
    exec "$@"
  ) >"$f" 2>&1 &
  idle_pid=$!
  for _ in $(seq 1 1200); do
    grep -q '^READY\|^DONE' "$f" && break
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep 1
  after=$(status_kib "$pid" VmRSS)
  for _ in $(seq 1 $((idle_hold * 10 + 300))); do
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$idle_pid" 2>/dev/null || true
  wait "$idle_pid" 2>/dev/null || true
  idle_pid=""
  line=$(sed -n 's/^DONE //p' "$f")
  [ -n "$line" ] || line='{"end":"no result"}'
  idle_json+=("{\"peer\":\"$p\",\"connections\":$idle_conns,\"rss_before_kib\":$before,\"rss_idle_kib\":$after,\"extra_kib\":$((after - before)),\"client\":$line}")
  log "idle $p: $idle_conns connections, RSS $before -> $after KiB (+$(((after - before) / 1024)) MiB); client $line"
}
if [ "$idle_conns" -gt 0 ]; then
  for p in airgate nginx; do
    if [[ " $peers " != *" $p "* ]] || [ "${avail[$p]}" != 1 ]; then continue; fi
    idle_test "$p"
    sleep 1
  done
fi

# ---------------------------------------------------------------------------------------------
# Load.
results="$work/results.jsonl"
: >"$results"
run_wrk() { # peer label conns path script measure(0|1) secs
  local p=$1 label=$2 c=$3 path=$4 script=$5 measure=$6 secs=$7 port pid t0 t1 raw js b0 b1
  port=$(port_of "$p")
  pid=${pid_of[$p]}
  raw="$work/wrk/$p-$label-c$c.txt"
  # One quiet second first: whatever CPU the machine spends meanwhile is other people's work,
  # which makes this run's figures noisy; it is recorded with the run.
  b0=$(machine_ticks)
  sleep 1
  b1=$(machine_ticks)
  t0=$(cpu_ticks "$pid")
  local th0 th1
  th0=$(thread_ticks "$pid")
  # In the background so that Ctrl-C / SIGTERM reach the trap at once.
  # exec: load_pid is timeout's own pid, and timeout passes a TERM on to wrk.
  (
    export BENCH_TOKEN_FILE=$token_file BENCH_TOKENS_FILE=$tokens_file
    set -- timeout $((secs + 60)) wrk -t"$threads" -c"$c" -d"${secs}s" --timeout 10s --latency \
      -s "$here/lib/$script" "http://127.0.0.1:$port$path"
    [ -z "$core_load" ] || exec taskset -c "$core_load" "$@"
    exec "$@"
  ) >"$raw" 2>&1 &
  load_pid=$!
  local perf_pid=""
  if [ "$measure" = 1 ] && [ "${BENCH_PERF:-0}" = 1 ] && [ "$p" = airgate ] && [ ! -e "$work/perf-$label-c$c.data" ]; then
    # CPU profile of the server during this run (call graphs), reported next to the JSON.
    perf record -q -F 999 -g -p "$pid" -o "$work/perf-$label-c$c.data" -- sleep "$secs" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  wait "$load_pid" || true
  load_pid=""
  if [ -n "$perf_pid" ]; then
    wait "$perf_pid" || true
    {
      echo "# airgate CPU profile, $label -c$c: by thread and library, then by symbol"
      perf report -i "$work/perf-$label-c$c.data" --stdio --no-children -g none --sort comm,dso \
        --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' || true
      perf report -i "$work/perf-$label-c$c.data" --stdio --no-children -g none --sort comm,dso,sym \
        --percent-limit 0.3 2>/dev/null | grep -v '^#' | grep -v '^$' | head -300 || true
    } >"$out_dir/perf-airgate-$label-c$c.txt"
    log "perf profile: bench/out/perf-airgate-$label-c$c.txt"
  fi
  t1=$(cpu_ticks "$pid")
  th1=$(thread_ticks "$pid")
  [ "$measure" = 1 ] || return 0
  js=$(sed -n 's/^WRKJSON //p' "$raw" | tail -1)
  if [ -z "$js" ]; then
    log "wrk produced no result for $p $label c$c: $(tail -3 "$raw" | tr '\n' ' ')"
    js='null'
  fi
  printf '{"peer":"%s","run":"%s","connections":%d,"path":"%s","wrk":%s,"cpu_ticks":%d,"clk_tck":%d,"hwm_kib":%d,"rss_kib":%d,"processes":%d,"background_cores":%s,"master_thread_ticks":%s}\n' \
    "$p" "$label" "$c" "$path" "$js" "$((t1 - t0))" "$clk_tck" "$(status_kib "$pid" VmHWM)" \
    "$(status_kib "$pid" VmRSS)" "$(nprocs "$pid")" "$(busy_cores "$b0" "$b1")" \
    "$(thread_json "$th0" "$th1")" >>"$results"
  node "$here/lib/report.mjs" --line "$(tail -1 "$results")" >&2 || true
}

for p in $peers; do
  [ "${avail[$p]}" = 1 ] || continue
  if [ "$warmup" -gt 0 ]; then
    log "warm-up $p (${warmup}s)"
    run_wrk "$p" warmup 64 / bearer.lua 0 "$warmup"
  fi
done
# Peers take turns within each round, so slow drifts of the machine hit all of them alike.
for round in $(seq 1 "$repeat"); do
  for body in 2b 64k; do
    path=/
    [ "$body" = 2b ] || path=/64k
    for c in $conns_list; do
      for p in $peers; do
        [ "${avail[$p]}" = 1 ] || continue
        log "$p: $body, -c$c, ${seconds}s (round $round/$repeat)"
        run_wrk "$p" "$body" "$c" "$path" bearer.lua 1 "$seconds"
      done
    done
  done
  for p in $peers; do
    [ "${avail[$p]}" = 1 ] || continue
    log "$p: distinct tokens ($distinct), 2b, -c$distinct_conns, ${seconds}s (round $round/$repeat)"
    run_wrk "$p" distinct "$distinct_conns" / distinct.lua 1 "$seconds"
  done
done

# ---------------------------------------------------------------------------------------------
# Report.
{
  printf '{"started":"%s","seconds":%d,"warmup_seconds":%d,"wrk_threads":%d,"cpus":%d,"pinned":%s,' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$seconds" "$warmup" "$threads" "$ncpu" \
    "$([ "$pin" = 1 ] && echo true || echo false)"
  printf '"cpu_model":"%s","kernel":"%s",' "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo | jstr)" "$(uname -r)"
  printf '"versions":{"nginx":"%s","apache":"%s","mod_auth_openidc":"%s","wrk":"%s","airgate":"%s"},' \
    "$(nginx -v 2>&1 | sed 's/.*nginx\///')" "$(apache2 -v | sed -n 's/Server version: //p')" \
    "$(dpkg-query -W -f='${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo unknown)" \
    "$(wrk -v 2>&1 | head -1 | awk '{ print $2 }')" \
    "$({ [ -x "$airgate_bin" ] && "$airgate_bin" version 2>/dev/null | head -1 | jstr; } || echo unavailable)"
  printf '"commit":"%s%s",' "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "$(git -C "$repo" diff --quiet HEAD -- 2>/dev/null || echo '+uncommitted changes')"
  printf '"token":%s,"distinct_tokens":%d,"idle_connections":%d,"idle_hold_seconds":%d,"rounds":%d,' \
    "$mint_info" "$distinct" "$idle_conns" "$idle_hold" "$repeat"
  printf '"peers":{'
  sep=""
  for p in $peers; do
    printf '%s"%s":{"available":%s,"reason":"%s","checks":%s}' "$sep" "$p" \
      "$([ "${avail[$p]}" = 1 ] && echo true || echo false)" \
      "$(printf '%s' "${reason[$p]}" | tr '\n' ' ' | jstr)" "${auth_checks[$p]:-null}"
    sep=,
  done
  printf '},"idle":[%s],' "$(
    IFS=,
    echo "${idle_json[*]:-}"
  )"
  printf '"runs":[%s]}\n' "$(paste -sd, "$results")"
} >"$work/report.json"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
node "$here/lib/report.mjs" --report "$work/report.json" --json-out "$out_dir/proxy-$stamp.json"
cp "$out_dir/proxy-$stamp.json" "$out_dir/proxy-latest.json"
log "results: bench/out/proxy-$stamp.json"
