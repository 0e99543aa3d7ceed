#!/usr/bin/env bash
# Golden-output tests of `airgate rolemap`: each case runs the CLI in a scratch copy of
# fixtures/ and compares the exit code, stdout and stderr with golden/NAME.{out,err}.
# Usage: run.sh AIRGATE_BINARY claims|token
#   claims  claims files, stdin, --no-verify, bad input (no Node needed)
#   token   tokens signed by a fresh RSA key (mktoken.mjs, Node's crypto) verified with --jwks
# AG_UPDATE_GOLDEN=1 rewrites the golden files from the current output instead of comparing.
set -uo pipefail

airgate=$(realpath "$1")
group=${2:-claims}
here=$(cd "$(dirname "$0")" && pwd)
golden=$here/golden
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here/fixtures/." "$work/"
cd "$work" || exit 1
# The environment overlays the config: keep the caller's AIRGATE_* out of the cases.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^AIRGATE_' || true)

cases=0
failed=0

# Seconds in expiry messages change from run to run.
normalise() { sed -E 's/[0-9]+ s ago/N s ago/g'; }

# run_case NAME WANT_EXIT STDIN_FILE ARGS...  (STDIN_FILE "" for none)
run_case() {
    local name=$1 want=$2 input=$3
    shift 3
    cases=$((cases + 1))
    local rc
    if [ -n "$input" ]; then
        timeout 30 "$airgate" rolemap "$@" <"$input" >"$name.out" 2>"$name.raw"
    else
        timeout 30 "$airgate" rolemap "$@" </dev/null >"$name.out" 2>"$name.raw"
    fi
    rc=$?
    normalise <"$name.raw" >"$name.err"
    if [ "${AG_UPDATE_GOLDEN:-}" = 1 ]; then
        cp "$name.out" "$golden/$name.out"
        [ -f "$golden/$name.err.grep" ] || cp "$name.err" "$golden/$name.err"
        [ "$rc" = "$want" ] || echo "NOTE $name: exit $rc (expected $want)"
        return
    fi
    local ok=1
    if [ "$rc" != "$want" ]; then
        echo "FAIL $name: exit $rc, want $want"
        ok=0
    fi
    for s in out err; do
        # NAME.err.grep instead of NAME.err: stderr need only contain that line (messages that
        # another component may word differently).
        if [ "$s" = err ] && [ -f "$golden/$name.err.grep" ]; then
            grep -qF -f "$golden/$name.err.grep" "$name.err" ||
                { echo "FAIL $name: stderr lacks $(cat "$golden/$name.err.grep")"; cat "$name.err"; ok=0; }
            continue
        fi
        if ! diff -u "$golden/$name.$s" "$name.$s" >"$name.diff"; then
            echo "FAIL $name: $s differs from golden/$name.$s"
            cat "$name.diff"
            ok=0
        fi
    done
    if [ $ok = 1 ]; then
        echo "ok   $name (exit $rc)"
    else
        failed=$((failed + 1))
    fi
}

# A JSON document with n distinct roles, and one with a role name of n bytes.
many_roles() {
    printf '{"sub":"x","resource_access":{"airflow":{"roles":['
    seq -f '"r%g"' 1 "$1" | paste -sd, -
    printf ']}}}'
}
long_role() {
    printf '{"sub":"x","resource_access":{"airflow":{"roles":["%s"]}}}' "$(head -c "$1" /dev/zero | tr '\0' r)"
}

case "$group" in
claims)
    many_roles 10000 >many-roles.json
    long_role 300 >long-role.json
    # recipe (a): viewer -> Admin, everyone else refused
    run_case a_viewer_human 0 "" -c recipe-a.yaml --claims alice-viewer.json
    run_case a_viewer_json 0 "" -c recipe-a.yaml --claims alice-viewer.json --json
    run_case a_editor_denied_human 1 "" -c recipe-a.yaml --claims bob-editor.json
    run_case a_editor_denied_json 1 "" -c recipe-a.yaml --claims bob-editor.json --json
    run_case a_norole_denied 1 "" -c recipe-a.yaml --claims norole.json
    # recipe (b): five roles, none -> Public
    run_case b_all_five_human 0 "" -c recipe-b.yaml --claims all-five.json
    run_case b_all_five_json 0 "" -c recipe-b.yaml --claims all-five.json --json
    run_case b_norole_public 0 "" -c recipe-b.yaml --claims norole.json
    run_case b_sub_only_json 0 "" -c recipe-b.yaml --claims sub-only.json --json
    # several paths, a client id with a dot, groups, custom roles
    run_case teams_human 0 "" -c teams.yaml --claims teams-dana.json
    run_case teams_json 0 "" -c teams.yaml --claims teams-dana.json --json
    # stdin: claims (starts with '{') or a token
    run_case stdin_claims 0 alice-viewer.json -c recipe-a.yaml -
    run_case stdin_empty 2 empty.json -c recipe-a.yaml -
    # odd but valid input
    run_case roles_string_is_one_role 0 "" -c recipe-a.yaml --claims roles-string.json
    run_case odd_unicode_human 1 "" -c recipe-a.yaml --claims odd-unicode.json
    run_case odd_unicode_json 1 "" -c recipe-a.yaml --claims odd-unicode.json --json
    # bad input: exit 2 with the reason, never a mapping
    run_case bad_not_object 2 "" -c recipe-a.yaml --claims not-object.json
    run_case bad_not_object_json 2 "" -c recipe-a.yaml --claims not-object.json --json
    run_case bad_path_hits_string 2 "" -c recipe-a.yaml --claims path-string.json
    run_case bad_roles_null 2 "" -c recipe-a.yaml --claims roles-null.json
    run_case bad_element_number 2 "" -c recipe-a.yaml --claims element-number.json
    run_case bad_nul_byte 2 "" -c recipe-a.yaml --claims nul-byte.json
    run_case bad_many_roles 2 "" -c recipe-a.yaml --claims many-roles.json
    run_case bad_long_role 2 "" -c recipe-a.yaml --claims long-role.json
    run_case bad_invalid_json 2 "" -c recipe-a.yaml --claims invalid-json.json
    run_case bad_duplicate_keys 2 "" -c recipe-a.yaml --claims duplicate-keys.json
    run_case bad_empty_claims_file 2 "" -c recipe-a.yaml --claims empty.json
    run_case bad_missing_claims_file 2 "" -c recipe-a.yaml --claims no-such-file.json
    run_case bad_empty_token 2 "" -c recipe-a.yaml --token ""
    run_case bad_not_a_jws_no_verify 2 "" -c recipe-a.yaml --token not-a-token --no-verify
    run_case bad_roles_path_config 2 "" -c bad-path.yaml --claims alice-viewer.json
    # usage
    run_case usage_no_input 2 "" -c recipe-a.yaml
    run_case usage_two_inputs 2 "" -c recipe-a.yaml --claims a.json --token x
    run_case usage_no_config 2 "" --claims alice-viewer.json
    run_case usage_jwks_and_no_verify 2 "" -c recipe-a.yaml --token x --jwks j --no-verify
    run_case usage_unknown_flag 2 "" -c recipe-a.yaml --claims a.json --verbose
    run_case help 0 "" --help
    ;;
token)
    command -v node >/dev/null || { echo "SKIP: node is not installed (needed to sign test tokens)"; exit 77; }
    node "$here/mktoken.mjs" . https://sso.example.com/realms/data airflow || exit 1
    run_case tok_viewer_verified 0 "" -c recipe-a.yaml --token "$(cat viewer.jwt)" --jwks jwks.json
    run_case tok_viewer_verified_json 0 "" -c recipe-a.yaml --token "$(cat viewer.jwt)" --jwks jwks.json --json
    run_case tok_editor_denied 1 "" -c recipe-a.yaml --token "$(cat editor.jwt)" --jwks jwks.json
    run_case tok_stdin_verified 0 viewer.jwt -c recipe-a.yaml - --jwks jwks.json
    run_case tok_stdin_token_flag 0 viewer.jwt -c recipe-a.yaml --token - --jwks jwks.json
    run_case tok_tampered 2 "" -c recipe-a.yaml --token "$(cat tampered.jwt)" --jwks jwks.json
    run_case tok_tampered_json 2 "" -c recipe-a.yaml --token "$(cat tampered.jwt)" --jwks jwks.json --json
    run_case tok_expired 2 "" -c recipe-a.yaml --token "$(cat expired.jwt)" --jwks jwks.json
    run_case tok_wrong_issuer 2 "" -c recipe-a.yaml --token "$(cat wrong-iss.jwt)" --jwks jwks.json
    run_case tok_azp_not_audience 2 "" -c recipe-a.yaml --token "$(cat azp-only.jwt)" --jwks jwks.json
    run_case tok_other_key 2 "" -c recipe-a.yaml --token "$(cat other-key.jwt)" --jwks jwks.json
    run_case tok_alg_none 2 "" -c recipe-a.yaml --token "$(cat alg-none.jwt)" --jwks jwks.json
    run_case tok_hs256_confusion 2 "" -c recipe-a.yaml --token "$(cat hs256.jwt)" --jwks jwks.json
    run_case tok_missing_jwks 2 "" -c recipe-a.yaml --token "$(cat viewer.jwt)" --jwks no-such-jwks.json
    # --no-verify maps even a tampered token, and says so loudly in both formats
    run_case tok_tampered_no_verify 1 "" -c recipe-a.yaml --token "$(cat tampered.jwt)" --no-verify
    run_case tok_tampered_no_verify_json 1 "" -c recipe-a.yaml --token "$(cat tampered.jwt)" --no-verify --json
    ;;
*)
    echo "usage: run.sh AIRGATE claims|token" >&2
    exit 2
    ;;
esac

echo "$group: $cases cases, $failed failed"
[ "$failed" = 0 ]
