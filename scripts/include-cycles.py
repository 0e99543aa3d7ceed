#!/usr/bin/env python3
"""Prints the largest include cycle of each source folder.

A module is a .c file and its .h (x_int.h counts with x). Each top-level folder (core, conf,
auth, ...) is one graph over its modules, subfolders included; an edge a -> b means a file of a
includes a header of b. A cycle is a strongly connected component of that graph.

Usage: scripts/include-cycles.py [--max N] [folder ...]
With --max N, exits 1 when any folder has a cycle of more than N modules.
"""
import argparse
import os
import re
import sys

FOLDERS = ["core", "conf", "auth", "rolemap", "state", "proxy", "cli"]
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def module_of(path):
    """proxy/stream/conn_read.c -> proxy/stream/conn_read; x_int.h -> x."""
    base, _ = os.path.splitext(path)
    if base.endswith("_int"):
        base = base[: -len("_int")]
    return base


def graph(root, folder):
    """Edges between the modules of folder (paths relative to root)."""
    files = []
    for d, _, names in os.walk(os.path.join(root, folder)):
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(d, n), root))
    # a .c file that has no header of its own is still a module
    mods = {module_of(f) for f in files}
    edges = {m: set() for m in mods}
    for f in files:
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        src = module_of(f)
        for inc in INCLUDE.findall(text):
            dst = module_of(inc)
            if dst in mods and dst != src:
                edges[src].add(dst)
    return edges


def components(edges):
    """Strongly connected components (Tarjan, iterative: no recursion limit)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=None, help="fail above this many modules")
    ap.add_argument("folders", nargs="*", help="top-level folders (default: all sources)")
    args = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    folders = args.folders or [f for f in FOLDERS if os.path.isdir(os.path.join(root, f))]
    bad = False
    for folder in folders:
        if not os.path.isdir(os.path.join(root, folder)):
            print(f"include-cycles: no folder {folder}", file=sys.stderr)
            return 2
        comps = [c for c in components(graph(root, folder)) if len(c) > 1]
        if not comps:
            print(f"{folder}: no cycle")
            continue
        big = max(comps, key=len)
        prefix = folder + "/"
        names = ", ".join(m[len(prefix):] if m.startswith(prefix) else m for m in big)
        print(f"{folder}: {len(big)} modules: {names}")
        if args.max is not None and len(big) > args.max:
            bad = True
    if bad:
        print(f"include-cycles: a folder has a cycle of more than {args.max} modules",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
