#!/usr/bin/env python3
"""Prints a config of N (default 60,000) distinct unknown top-level keys: 817 KB, under the
1 MiB file limit. ag_config_load spends 16 s on it in a Debug build (100 s under ASan): the
duplicate-key check of conf/overlay.c is quadratic in the keys of one mapping. See README.md.
Usage: python3 make_many_keys.py [N] > /tmp/many-keys.yaml"""
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
sys.stdout.write("".join("k%d: %d\n" % (i, i) for i in range(n)))
