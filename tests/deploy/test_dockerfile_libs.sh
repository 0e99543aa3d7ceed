#!/usr/bin/env bash
# deploy/runtime-packages.txt (the one runtime package list, installed by deploy/Dockerfile's
# runtime stage and by scripts/build-rootfs.sh) holds every shared library the built airgate needs.
# Each library `ldd` shows is mapped to its Debian package with `dpkg -S`; that package must be
# listed (directly linked libraries: explicitly), pulled in by one of the listed packages, or part
# of every Debian image (essential packages and their dependencies; the root filesystem of
# build-rootfs.sh has no essential packages: its own test runs airgate inside it).
# Usage: test_dockerfile_libs.sh SOURCE_DIR AIRGATE_BINARY
set -euo pipefail
src=$1 airgate=$2
for tool in ldd dpkg dpkg-query objdump; do
  command -v $tool >/dev/null 2>&1 || {
    echo "SKIP: $tool is not installed"
    exit 77
  }
done
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
command -v $py >/dev/null 2>&1 || {
  echo "SKIP: python3 is not installed"
  exit 77
}
exec $py - "$src/deploy/Dockerfile" "$airgate" "$src/deploy/runtime-packages.txt" <<'PY'
import re, subprocess, sys

dockerfile, binary, pkglist = sys.argv[1], sys.argv[2], sys.argv[3]
fail = []

# --- the Dockerfile: stages, runtime package list, user
text = open(dockerfile).read().replace("\\\n", " ")
stages = re.split(r"(?im)^FROM\s+", text)[1:]
if len(stages) < 2:
    sys.exit("FAIL: expected a multi-stage Dockerfile, found %d stage(s)" % len(stages))
build, runtime = stages[0], stages[-1]
build_image, runtime_image = build.split()[0], runtime.split()[0]
if not re.fullmatch(r"debian:(12|bookworm)", build_image):
    fail.append("build stage is %s, not Debian 12" % build_image)
if not re.fullmatch(r"debian:(12|bookworm)-slim", runtime_image):
    fail.append("runtime stage is %s, not Debian 12 slim" % runtime_image)
listed = set()
for n, line in enumerate(open(pkglist), 1):
    name = line.split("#", 1)[0].strip()
    if not name:
        continue
    if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name):
        fail.append("%s:%d: not a Debian package name: %r" % (pkglist, n, name))
    listed.add(name)
if not listed:
    fail.append("%s lists no package" % pkglist)
# the runtime stage installs that list and nothing else
if not re.search(r"COPY\s+deploy/runtime-packages\.txt\s", runtime):
    fail.append("the runtime stage does not COPY deploy/runtime-packages.txt")
installs = re.findall(r"apt-get install([^&\n]*)", runtime)
if len(installs) != 1 or not re.search(r"runtime-packages\.txt\s*\|\s*xargs\s+apt-get install", runtime):
    fail.append("the runtime stage must install exactly the list (... runtime-packages.txt | xargs apt-get install)")
for m in installs:
    extra = [t for t in m.split() if not t.startswith("-")]
    if extra:
        fail.append("the runtime stage installs packages outside the list: %s" % " ".join(extra))
for p in sorted(listed):
    if p.endswith("-dev") or p in ("build-essential", "cmake", "gcc", "pkg-config"):
        fail.append("build-only package %s in the runtime stage" % p)
users = re.findall(r"(?im)^USER\s+(\S+)", runtime)
if not users or users[-1].split(":")[0] in ("0", "root"):
    fail.append("runtime stage does not switch to a non-root USER")
if "COPY --from=" not in runtime:
    fail.append("runtime stage does not copy the binary from the build stage")

# --- installed packages and their dependencies (local dpkg database, no network)
fmt = "${Package}\t${Essential}\t${Status}\t${Depends}, ${Pre-Depends}\n"
db = {}
for line in subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True,
                           check=True).stdout.splitlines():
    pkg, essential, status, deps = line.split("\t")
    if status.endswith(" installed"):
        db[pkg] = (essential == "yes", deps)

def depends(pkg):
    out = set()
    for clause in db.get(pkg, (False, ""))[1].split(","):
        for alt in clause.split("|"):
            name = re.sub(r"\(.*?\)|:\S+", "", alt).strip()
            if name in db:
                out.add(name)
    return out

def closure(roots):
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(depends(p))
    return seen

base = closure(p for p, (ess, _) in db.items() if ess)
provided = closure(p for p in listed if p in db) | listed

# --- the binary's libraries -> packages
def owner(path):
    import os
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        if c.startswith("/usr/lib/"):
            cands.append(c[4:])
        elif c.startswith("/lib/"):
            cands.append("/usr" + c)
    for c in cands:
        r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].split(",")[0].strip()
    return None

ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)
if ldd.returncode != 0:
    sys.exit("FAIL: ldd %s: %s" % (binary, ldd.stderr.strip()))
needed = set(re.findall(r"NEEDED\s+(\S+)", subprocess.run(
    ["objdump", "-p", binary], capture_output=True, text=True, check=True).stdout))
libs = 0
for line in ldd.stdout.splitlines():
    m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
    if not m:
        continue
    name, path = (m.group(1), m.group(2)) if m.lastindex == 2 else (m.group(1), m.group(1))
    if path == "not":
        fail.append("%s is not found on this machine" % name)
        continue
    pkg = owner(path)
    libs += 1
    if pkg is None:
        fail.append("%s (%s) belongs to no Debian package" % (name, path))
        continue
    direct = name in needed
    how = ("listed" if pkg in listed else "in every Debian image" if pkg in base
           else "dependency of a listed package" if pkg in provided else None)
    print("%-28s %-22s %s%s" % (name, pkg, how or "MISSING", " (direct)" if direct else ""))
    if how is None:
        fail.append("%s needs package %s, which the runtime stage does not install" % (name, pkg))
    elif direct and pkg not in listed and pkg not in base:
        fail.append("%s is linked directly: list %s explicitly in the runtime stage" % (name, pkg))

print("runtime packages: %s" % " ".join(sorted(listed)))
print("%d libraries checked" % libs)
if libs == 0:
    fail.append("ldd showed no libraries")
for f in fail:
    print("FAIL: " + f)
sys.exit(1 if fail else 0)
PY
