#!/usr/bin/env bash
# Static checks on the C sources: banned functions, clang-format, include cycles, cppcheck,
# clang-tidy (check set in .clang-tidy).
set -euo pipefail
cd "$(dirname "$0")/.."

src_dirs=(core conf auth rolemap proxy cli)
mapfile -t sources < <(find "${src_dirs[@]}" -name '*.c' 2>/dev/null | sort)

# curl's list: these invite overflows or hide errors; we use snprintf, memcpy with bounds, strtol.
if grep -nE '\b(strcpy|strcat|sprintf|atoi|strtok)\s*\(' "${sources[@]}" $(find "${src_dirs[@]}" tests -name '*.h' -o -name '*.c' 2>/dev/null | grep -v node_modules); then
  echo "lint: banned function in use (see above)" >&2
  exit 1
fi

# Formatting: .clang-format is the style; a file that differs from it fails lint.
mapfile -t formatted < <(git ls-files '*.c' '*.h' 2>/dev/null || find "${src_dirs[@]}" tests -name '*.[ch]')
unformatted=()
for f in "${formatted[@]}"; do
  case $f in tests/node_modules/*) continue ;; esac
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if [ ${#unformatted[@]} -gt 0 ]; then
  printf 'lint: not formatted with .clang-format (run clang-format -i on them): %s\n' "${unformatted[*]}" >&2
  exit 1
fi

# Include cycles: counting a .c and its .h as one module, no folder may have a cycle of more
# than 3 modules (scripts/include-cycles.py prints the largest per folder).
if ! cycles=$(python3 scripts/include-cycles.py --max 3 2>&1); then
  echo "$cycles" >&2
  echo "lint: an include cycle of more than 3 modules (see above)" >&2
  exit 1
fi

cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
  --inline-suppr --suppress=missingIncludeSystem -I . "${sources[@]}"

# clang-tidy needs a compilation database; the dev preset writes one.
cmake --preset dev >/dev/null
tidy_out=$(clang-tidy --quiet -p build/dev "${sources[@]}" 2>&1 | grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated' || true)
if grep -qE 'error:|warning:' <<<"$tidy_out"; then
  echo "$tidy_out" >&2
  echo "lint: clang-tidy found problems" >&2
  exit 1
fi
echo "lint: ok (${#sources[@]} files)"
