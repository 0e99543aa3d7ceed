#!/usr/bin/env bash
# `airgate` dispatch: exit codes and output of help, version, unknown commands and each
# command's --help (the contract: every command takes --help and exits 0 with it).
# Usage: cli_dispatch.sh PATH_TO_AIRGATE
set -uo pipefail
bin=$1
# shellcheck source=../checks.sh
. "$(dirname "$0")/../checks.sh"

run
check "no command: exit 2" test "$rc" -eq 2
check "no command: usage on stderr" has "$err" "Usage: airgate COMMAND"

for h in --help -h help; do
  run "$h"
  check "$h: exit 0" test "$rc" -eq 0
  check "$h: usage on stdout lists every command" \
    bash -c 'for c in serve check-config rolemap "token verify" version; do grep -qF -- "$c" <<<"$1" || exit 1; done' _ "$out"
done

for v in version --version -V; do
  run "$v"
  check "$v: exit 0" test "$rc" -eq 0
  check "$v: prints the version" bash -c '[[ "$1" =~ ^airgate\ [0-9]+\.[0-9]+\.[0-9]+$ ]]' _ "$out"
done

run bogus
check "unknown command: exit 2" test "$rc" -eq 2
check "unknown command: named" has "$err" "unknown command 'bogus'"
check "unknown command: no wild guess" bash -c '! grep -qF "did you mean" <<<"$1"' _ "$err"

run chek-config
check "mistyped command: exit 2" test "$rc" -eq 2
check "mistyped command: did you mean" has "$err" "unknown command 'chek-config' (did you mean check-config?)"

for c in serve check-config rolemap "token verify"; do
  # shellcheck disable=SC2086 # "token verify" is two words on purpose
  run $c --help
  check "$c --help: exit 0" test "$rc" -eq 0
  check "$c --help: usage on stdout" has "$out" "Usage: airgate $c"
done

for c in serve check-config rolemap; do
  run "$c"
  check "$c without -c: exit 2" test "$rc" -eq 2
  check "$c without -c: says why" test -n "$err"
done

check_summary
