#!/usr/bin/env bash
# End-to-end test of `airgate check-config`: exit codes (0 valid, 2 invalid or usage), the
# output on stdout/stderr, secrets never printed, hostile files refused, the example configs
# valid, and docs/config.md identical to `airgate check-config --reference`.
# Usage: check_config_cli.sh PATH_TO_AIRGATE   (AG_SOURCE_DIR: the repository)
set -uo pipefail
bin=$1
src=${AG_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
fx=$src/tests/fixtures/config
# shellcheck source=../checks.sh
. "$(dirname "$0")/../checks.sh"

# Unknown AIRGATE_* variables are errors: do not let the caller's environment leak in.
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep '^AIRGATE_')

run check-config -c "$fx/good.yaml"
check "good config exits 0" test "$rc" -eq 0
check "good config prints the effective config" has "$out" '  client_id: "airflow"  # line 7'
check "good config shows defaults" has "$out" '  leeway_s: 60  # default'
check "secrets redacted" has "$out" '  client_secret: "<redacted>"'
check "secret value never printed" hasnt "$out$err" 'fixture-client-secret'
check "cookie secret never printed" hasnt "$out$err" 'fixture-cookie-secret'
check "nothing on stderr when valid" test -z "$err"

run check-config -q -c "$fx/good.yaml"
check "--quiet prints nothing" test "$rc" -eq 0 -a -z "$out"

run check-config -c "$fx/bad.yaml"
check "bad config exits 2" test "$rc" -eq 2
check "bad: listen" has "$err" "$fx/bad.yaml:2: listen: \"0.0.0.0\" is not host:port or [v6]:port (IPv6 needs brackets)"
check "bad: unknown key with suggestion" has "$err" "$fx/bad.yaml:8: oidc.alowed_algs: unknown key (did you mean oidc.allowed_algs?)"
check "bad: unreadable secret file" has "$err" "$fx/bad.yaml:7: oidc.client_secret_file: cannot read \"$fx/secrets/does-not-exist\": No such file or directory"
check "bad: http issuer" has "$err" "$fx/bad.yaml:5: oidc.issuer: is http:// while public_url is https://"
check "bad: summary line" has "$err" "airgate check-config: $fx/bad.yaml is not valid"
check "bad: nothing on stdout" test -z "$out"

# Claim-path grammar is rolemap's: check-config compiles the role map as serve does.
AIRGATE_ROLES_CLAIMS='resource_access["airflow"].roles' run check-config -c "$fx/good.yaml"
check "bad claim path exits 2" test "$rc" -eq 2
check "bad claim path is explained" has "$err" 'roles: '
check "bad claim path names the path" has "$err" 'resource_access["airflow"].roles'
AIRGATE_ROLES_CLAIMS='resource_access."my client".roles' run check-config -q -c "$fx/good.yaml"
check "quoted claim path with a space is valid" test "$rc" -eq 0

# Role names are checked: a typo of deny or of a role must not become a role nobody created.
sed 's/^  map: .*/  map: { airflow_admin: Admn, airflow_viewer: Viewer }\n  unmapped: denny/' \
  "$fx/good.yaml" >"$tmp/role-typos.yaml"
cp -r "$fx/secrets" "$tmp/"
run check-config -c "$tmp/role-typos.yaml"
check "role typos exit 2" test "$rc" -eq 2
check "roles.map typo: file:line and did you mean" has "$err" "$tmp/role-typos.yaml:12: roles.map.airflow_admin: \"Admn\" is not a built-in Airflow role (Admin, Op, User, Viewer, Public) nor listed in roles.custom (did you mean Admin?)"
check "roles.unmapped typo: file:line and did you mean" has "$err" "$tmp/role-typos.yaml:13: roles.unmapped: \"denny\" is neither deny nor a built-in Airflow role (Admin, Op, User, Viewer, Public) nor listed in roles.custom (did you mean deny?)"
AIRGATE_ROLES_CUSTOM='DataEng' AIRGATE_ROLES_UNMAPPED=DataEng run check-config -q -c "$fx/good.yaml"
check "a declared custom role is accepted" test "$rc" -eq 0
AIRGATE_ROLES_UNMAPPED=DataEng run check-config -c "$fx/good.yaml"
check "an undeclared custom role exits 2" test "$rc" -eq 2
check "an undeclared custom role names the variable" has "$err" 'env AIRGATE_ROLES_UNMAPPED: roles.unmapped: "DataEng" is neither deny'

AIRGATE_OIDC_LEEWAY_S=abc run check-config -c "$fx/good.yaml"
check "env bad value exits 2" test "$rc" -eq 2
check "env bad value names the variable" has "$err" 'env AIRGATE_OIDC_LEEWAY_S: oidc.leeway_s: expected an integer, got "abc"'

AIRGATE_OIDC_LEEWAY_S=7 AIRGATE_OIDC_CLIENT_SECRET=from-the-env run check-config -c "$fx/good.yaml"
check "env wins over the file" has "$out" '  leeway_s: 7  # env AIRGATE_OIDC_LEEWAY_S'
check "env secret redacted" has "$out" '  client_secret: "<redacted>"  # env AIRGATE_OIDC_CLIENT_SECRET'
check "env secret never printed" hasnt "$out$err" 'from-the-env'

AIRGATE_OIDC_ISUER=x run check-config -c "$fx/good.yaml"
check "unknown env variable exits 2" test "$rc" -eq 2
check "unknown env variable: did you mean" has "$err" 'env AIRGATE_OIDC_ISUER: unknown variable (did you mean AIRGATE_OIDC_ISSUER?)'

run check-config
check "no -c is a usage error (2)" test "$rc" -eq 2
check "usage error explains" has "$err" '-c FILE is required'
run check-config -c "$fx/good.yaml" --frobnicate
check "unknown argument is a usage error (2)" test "$rc" -eq 2
run check-config --help
check "--help exits 0" test "$rc" -eq 0
check "--help shows usage" has "$out" 'Usage: airgate check-config -c FILE'
run check-config -c "$tmp/missing.yaml"
check "missing file exits 2" test "$rc" -eq 2
check "missing file message" has "$err" "$tmp/missing.yaml:1: cannot read the config: No such file or directory"

# A key that loads but cannot be used (the assertion signer needs P-256) is reported against
# where it was set.
if openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p384.pem" 2>/dev/null; then
  AIRGATE_ASSERTION_KEY_FILE=$tmp/p384.pem run check-config -c "$fx/good.yaml"
  check "unusable assertion key exits 2" test "$rc" -eq 2
  check "unusable assertion key names its source" has "$err" 'env AIRGATE_ASSERTION_KEY_FILE: assertion.key: '
fi

# Hostile files, generated here (nothing big is committed). ctest's TIMEOUT catches a hang.
head -c 10485760 /dev/zero | tr '\0' '#' >"$tmp/big.yaml"
run check-config -c "$tmp/big.yaml"
check "10 MB file exits 2" test "$rc" -eq 2
check "10 MB file refused by size" has "$err" 'larger than the limit of 1048576'
{
  echo 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'
  for i in 1 2 3 4 5 6 7 8 9; do
    p=$((i - 1))
    echo "a$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"
  done
} >"$tmp/laughs.yaml"
run check-config -c "$tmp/laughs.yaml"
check "billion laughs exits 2" test "$rc" -eq 2
check "billion laughs refused at the first anchor" has "$err" "$tmp/laughs.yaml:1: YAML anchors (&name) are not allowed"
printf 'listen: \xff\n' >"$tmp/latin1.yaml"
run check-config -c "$tmp/latin1.yaml"
check "non-UTF-8 exits 2" test "$rc" -eq 2 -a -n "$err"

# The example configs shipped for the README quick start must stay valid.
for f in "$src"/deploy/examples/*.yaml; do
  [ -e "$f" ] || continue
  run check-config -q -c "$f"
  check "example $(basename "$f") is valid" test "$rc" -eq 0
  [ "$rc" -eq 0 ] || echo "$err" >&2
done

# docs/config.md is generated: it must not drift from the option table.
run check-config --reference
check "--reference exits 0" test "$rc" -eq 0
"$bin" check-config --reference >"$tmp/ref.md"
if ! diff -u "$src/docs/config.md" "$tmp/ref.md" >"$tmp/ref.diff"; then
  cat "$tmp/ref.diff" >&2
  echo "docs/config.md is stale: run  airgate check-config --reference > docs/config.md" >&2
  check "docs/config.md matches --reference" false
else
  check "docs/config.md matches --reference" true
fi

check_summary
