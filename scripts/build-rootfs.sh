#!/usr/bin/env bash
# Builds a minimal Debian 12 root filesystem for airgate with mmdebstrap, for hosts that cannot
# reach a container registry: the packages of deploy/runtime-packages.txt and their dependencies
# only (no shell, no apt, no package manager run), airgate at /usr/local/bin/airgate, a non-root
# user `airgate` (65532:65532, as in deploy/Dockerfile and the Kubernetes securityContext).
#
# Usage: scripts/build-rootfs.sh OUTDIR [AIRGATE_BINARY]
#   OUTDIR          created; must be empty, absent, or a root filesystem this script built
#   AIRGATE_BINARY  default build/release/airgate (built with the release preset when missing)
# Then, e.g.: tar -C OUTDIR -c . | podman import --change 'USER=65532:65532' \
#   --change 'ENTRYPOINT=["/usr/local/bin/airgate"]' - airgate:local
#
# Environment:
#   AG_ROOTFS_MIRROR      Debian mirror (default http://deb.debian.org/debian)
#   AG_ROOTFS_CACHE       directory keeping the Debian part as a tarball, keyed by the package
#                         list, mirror and this script (default build/rootfs-cache; empty: none)
#   AG_ROOTFS_CACHE_DAYS  rebuild a cached tarball older than this (default 7: security updates)
# Needs root (or user namespaces for mmdebstrap's unshare mode) and the Debian package mmdebstrap.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "build-rootfs: $*" >&2
  exit 1
}
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: scripts/build-rootfs.sh OUTDIR [AIRGATE_BINARY]"
out=$1
bin=${2:-build/release/airgate}
mirror=${AG_ROOTFS_MIRROR:-http://deb.debian.org/debian}
cache=${AG_ROOTFS_CACHE-build/rootfs-cache}
cache_days=${AG_ROOTFS_CACHE_DAYS:-7}
list=deploy/runtime-packages.txt
marker=usr/share/airgate/rootfs-manifest.txt
uid=65532

command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is not installed (Debian package: mmdebstrap)"
[[ $cache_days =~ ^[0-9]+$ ]] || die "AG_ROOTFS_CACHE_DAYS must be a number of days, got '$cache_days'"

# The package list: one name a line, comments and blank lines ignored.
pkgs=()
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  line=${line%%#*}
  line=$(echo "$line" | tr -d '[:space:]')
  [ -z "$line" ] && continue
  [[ $line =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "$list:$n: not a Debian package name: '$line'"
  pkgs+=("$line")
done <"$list"
[ ${#pkgs[@]} -gt 0 ] || die "$list lists no package"

# OUTDIR: never wipe a directory this script did not make.
if [ -e "$out" ]; then
  [ -d "$out" ] || die "$out exists and is not a directory"
  if [ -n "$(ls -A "$out")" ]; then
    [ -f "$out/$marker" ] || die "$out is not empty and is not a root filesystem built by this script"
    rm -rf --one-file-system "$out"
  fi
fi

# The binary: a sanitizer build would need runtimes the root filesystem does not have.
if [ ! -x "$bin" ]; then
  [ "$bin" = build/release/airgate ] || die "$bin is not an executable"
  echo "build-rootfs: building $bin (release preset)" >&2
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc 2>/dev/null || echo 2)" --target airgate
fi
if ldd "$bin" 2>/dev/null | grep -Eq 'lib(a|ub|t|l)san'; then
  die "$bin links a sanitizer runtime; use a dev or release build"
fi

t0=$(date +%s)
# Hooks run on the host with the new tree as $1, right after the packages were extracted (the
# extract variant runs no maintainer script, and there is no shell inside to run one).
hooks=(
  # the CA bundle libcurl and OpenSSL read (what update-ca-certificates would have written)
  --extract-hook='mkdir -p "$1/etc/ssl/certs" && cat "$1"/usr/share/ca-certificates/*/*.crt >"$1/etc/ssl/certs/ca-certificates.crt"'
  # a non-root user and group for the process (the numeric id works without them too)
  --extract-hook='printf "root:x:0:0:root:/root:/usr/sbin/nologin\nairgate:x:65532:65532:airgate:/nonexistent:/usr/sbin/nologin\n" >"$1/etc/passwd"'
  --extract-hook='printf "root:x:0:\nairgate:x:65532:\n" >"$1/etc/group"'
  --extract-hook='ldconfig -r "$1"'
  # record the packages in var/lib/dpkg/status, so image scanners see which versions are inside
  --extract-hook='for d in "$1"/var/cache/apt/archives/*.deb; do dpkg-deb -f "$d" | awk "NR==1{print; print \"Status: install ok installed\"; next} {print}"; echo; done >"$1/var/lib/dpkg/status"'
)
key=$(
  {
    printf '%s\n' "${pkgs[@]}" "$mirror" bookworm
    cat "$0"
  } | sha256sum | cut -c1-16
)
base=
tmp_base=
from_cache=0
cleanup() { [ -z "$tmp_base" ] || rm -f "$tmp_base"; }
trap cleanup EXIT
if [ -n "$cache" ]; then
  mkdir -p "$cache"
  base="$cache/debian-$key.tar"
  if [ -f "$base" ] && [ -n "$(find "$base" -mtime -"$cache_days" 2>/dev/null)" ]; then
    echo "build-rootfs: reusing $base (younger than $cache_days days)" >&2
    from_cache=1
  else
    rm -f "$cache"/debian-*.tar
    base_new="$base.new"
    tmp_base=$base_new
  fi
else
  tmp_base=$(mktemp "${TMPDIR:-/tmp}/airgate-rootfs.XXXXXX.tar")
  base_new=$tmp_base
  base=$tmp_base
fi
if [ -n "$tmp_base" ]; then
  echo "build-rootfs: mmdebstrap bookworm from $mirror: ${pkgs[*]}" >&2
  rm -f "$base_new"
  mmdebstrap --quiet --variant=extract --format=tar \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --include="$(
      IFS=,
      echo "${pkgs[*]}"
    )" \
    "${hooks[@]}" bookworm "$base_new" "$mirror"
  if [ "$base_new" != "$base" ]; then
    mv "$base_new" "$base"
    tmp_base=
  fi
fi
t1=$(date +%s)

mkdir -p "$out"
tar -C "$out" --numeric-owner -xpf "$base"
# apt's configuration and state are of no use in an image that never runs apt
rm -rf "$out/etc/apt" "$out/var/lib/apt" "$out/var/cache/apt" "$out/var/log/apt"
install -d -m 0755 "$out/usr/local/bin" "$out/etc/airgate" "$out/usr/share/airgate"
install -m 0755 "$bin" "$out/usr/local/bin/airgate"
strip --strip-unneeded "$out/usr/local/bin/airgate" 2>/dev/null || true
[ -d "$out/tmp" ] || install -d -m 1777 "$out/tmp"
{
  echo "# airgate root filesystem: Debian 12 (bookworm) from $mirror, built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# runtime packages ($list): ${pkgs[*]}"
  echo "# every package inside, with its version:"
  awk '/^Package:/{p=$2} /^Version:/{print p, $2}' "$out/var/lib/dpkg/status" | sort
} >"$out/$marker"
t2=$(date +%s)

size=$(du -sk --one-file-system "$out" | cut -f1)
npkg=$(grep -vc '^#' "$out/$marker" || true)
echo "build-rootfs: $out: $((size / 1024)) MiB ($size KiB), $npkg Debian packages," \
  "airgate $(du -k "$out/usr/local/bin/airgate" | cut -f1) KiB;" \
  "Debian part $((t1 - t0)) s$([ $from_cache -eq 1 ] && echo ' (from the cache)'), assembly $((t2 - t1)) s" >&2
