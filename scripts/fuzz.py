"""Long fuzz run (issue 22): hostile PUT, PROPFIND, PROPPATCH and REPORT bodies against a
real server process, checked by the oracle of tests/fuzz.py, plus the server's peak memory.

    .venv/bin/python scripts/fuzz.py --cases 10000 [--database postgresql://...] [--seed 1]

The server runs in a child process (so its memory is its own) on a fresh SQLite database
unless --database is given. Prints the number of cases, the status counts, the slowest
answer, the server's peak RSS and every finding; exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests import fuzz  # noqa: E402

MAX_RSS_GROWTH_MB = 100


def _serve(db_url: str, port_file: str) -> None:
    """Child: the real server over a fresh practice, until SIGTERM."""
    from tests.conftest import start_server

    live = start_server(db_url, load_demo=False)
    Path(port_file).write_text(str(live.server.bind_addr[1]))
    signal.sigwait({signal.SIGTERM})
    live.server.stop()
    os._exit(0)


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="praxis-fuzz-")
    db_url = args.database or f"sqlite:///{scratch}/fuzz.db"
    port_file = f"{scratch}/port"
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    pid = os.fork()
    if pid == 0:
        _serve(db_url, port_file)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    try:
        return _run(args, db_url, port_file, pid)
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)


def _run(args, db_url: str, port_file: str, pid: int) -> int:
    from providers.practice import api
    from providers.sql.db import open_database
    from tests.conftest import LiveServer
    from tests.two_way import PASSWORD, new_practitioner, snapshot

    deadline = time.monotonic() + 120
    while not Path(port_file).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the server did not start")
        time.sleep(0.1)
    port = int(Path(port_file).read_text())
    open_database(db_url)
    user = new_practitioner("fuzz")
    start, hour = dt.datetime(2026, 3, 2, 9), dt.timedelta(hours=1)
    api.create_appointment(
        user, api.AppointmentFields(start, start + hour, rrule="FREQ=DAILY"), uid="fuzz-series"
    )
    api.create_appointment(
        user, api.AppointmentFields(start, start + hour, subject="einmal"), uid="fuzz-single"
    )
    live = LiveServer(base_url=f"http://127.0.0.1:{port}/", db_url=db_url, config=None)
    findings = fuzz.Findings()
    statuses: collections.Counter = collections.Counter()
    slowest = [0.0, ""]
    rss_start = _rss_mb(pid)
    started = time.monotonic()

    def request(method, path, body=None, user=None, password=None, headers=None):
        t0 = time.monotonic()
        r = LiveServer.request(live, method, path, body, user=user, password=password, headers=headers)
        seconds = time.monotonic() - t0
        statuses[(method, r.status_code)] += 1
        if seconds > slowest[0]:
            slowest[:] = [seconds, f"{method} {r.status_code}"]
        return r

    live.request = request  # count statuses and times on the way

    @settings(
        max_examples=args.cases,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=args.seed is not None,
    )
    @given(case=fuzz.request_case())
    def check(case):
        try:
            fuzz.run_case(live, user, PASSWORD, case, snapshot, findings)
        except AssertionError:
            pass  # recorded in findings; keep going so one run reports them all
        if findings.cases % 1000 == 0:
            print(f"  {findings.cases} cases, server RSS {_rss_mb(pid):.0f} MiB", flush=True)

    check()
    peak = _rss_mb(pid, "VmHWM")
    growth = _rss_mb(pid) - rss_start
    print(f"cases: {findings.cases} in {time.monotonic() - started:.0f} s on {db_url.split(':')[0]}")
    print("answers: " + ", ".join(f"{m} {s}: {n}" for (m, s), n in sorted(statuses.items())))
    print(f"slowest answer: {slowest[0]:.2f} s ({slowest[1]})")
    print(f"server RSS: start {rss_start:.0f} MiB, growth {growth:.0f} MiB, peak {peak:.0f} MiB")
    if growth > MAX_RSS_GROWTH_MB:
        findings.problems.append(f"server memory grew by {growth:.0f} MiB")
    for problem in findings.problems:
        print("FINDING:", problem)
    print(f"findings: {len(findings.problems)}")
    return 1 if findings.problems else 0


if __name__ == "__main__":
    sys.exit(main())
