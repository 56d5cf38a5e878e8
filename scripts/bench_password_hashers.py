"""Measure the password hashers we could use: verify time and peak memory per hash.

Compares the standard library's scrypt (our old `scrypt$` format) with argon2-cffi's
Argon2id at parameters of roughly equal strength (memory x passes over it), one hash at a
time on one core, as a login pays it. Each configuration runs in a fresh subprocess so its
peak RSS growth is the hash's own memory. Usage: python scripts/bench_password_hashers.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

ROUNDS = 25

CONFIGS = {
    # ours before issue 17 item 7: 128 * r * N = 16 MiB, one pass
    "scrypt N=2^14 r=8 p=1 (16 MiB, old default)": ("scrypt", {"n": 2**14, "r": 8, "p": 1}),
    # OWASP's scrypt line at this memory: five times the work
    "scrypt N=2^14 r=8 p=5 (16 MiB, OWASP)": ("scrypt", {"n": 2**14, "r": 8, "p": 5}),
    "argon2id m=16 MiB t=2 p=1": ("argon2", {"memory_cost": 16 * 1024, "time_cost": 2, "parallelism": 1}),
    # OWASP's first Argon2id line
    "argon2id m=19 MiB t=2 p=1 (OWASP)": (
        "argon2",
        {"memory_cost": 19 * 1024, "time_cost": 2, "parallelism": 1},
    ),
    # argon2-cffi's default (RFC 9106 low-memory profile)
    "argon2id m=64 MiB t=3 p=4 (argon2-cffi default)": (
        "argon2",
        {"memory_cost": 64 * 1024, "time_cost": 3, "parallelism": 4},
    ),
}

CHILD = r"""
import hashlib, json, os, resource, sys, time
kind, params, rounds = json.loads(sys.argv[1])
salt = os.urandom(16)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if kind == "scrypt":
    def verify():
        hashlib.scrypt(b"correct horse battery", salt=salt, dklen=32, maxmem=2**30, **params)
else:
    from argon2 import PasswordHasher
    hasher = PasswordHasher(**params)
    stored = hasher.hash("correct horse battery")
    def verify():
        hasher.verify(stored, "correct horse battery")
times = []
for _ in range(rounds):
    start = time.perf_counter()
    verify()
    times.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(json.dumps({"times": times, "peak_kib": peak}))
"""


def main() -> None:
    results = {}
    for name, (kind, params) in CONFIGS.items():
        out = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps([kind, params, ROUNDS])],
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(out.stdout)
        median_ms = statistics.median(data["times"]) * 1000
        results[name] = {"median_ms": round(median_ms, 1), "peak_mib": round(data["peak_kib"] / 1024, 1)}
        peak_mib = data["peak_kib"] / 1024
        print(f"{name:50s} verify median {median_ms:7.1f} ms   peak memory +{peak_mib:6.1f} MiB")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
