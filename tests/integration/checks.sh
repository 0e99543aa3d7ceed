# Shared helpers for the shell-based CLI tests; source it after setting $bin (the airgate binary).
# Gives $tmp (removed on exit), check/run/has/hasnt, and check_summary for the closing line.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0

check() { # check NAME CONDITION...
  local name=$1
  shift
  checks=$((checks + 1))
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name" >&2
    fails=$((fails + 1))
  fi
}
run() { # run ARGS... -> $rc, $out, $err (stdin from /dev/null)
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}
has() { grep -qF -- "$2" <<<"$1"; }
hasnt() { ! grep -qF -- "$2" <<<"$1"; }

check_summary() { # prints "N passed, N failed" and returns non-zero on any failure
  echo "$((checks - fails)) passed, $fails failed"
  [ "$fails" -eq 0 ]
}
