"""WebDAV-Push benchmark: how soon a device hears of a change, and what push saves in requests.

1. Latency: `praxis-caldav serve` (one process, and `--processes 2`) with push on, a DAVx5-shaped
   registration, a local push service that decrypts every message (tests/test_push.PushService);
   then CHANGES device PUTs, each on a fresh connection (either process may take it), timed from
   sending the PUT to the decrypted message. A random pause before each PUT keeps the changes
   out of step with the sender's 200 ms poll (back to back, every PUT would land just after a
   poll and wait a whole interval).
2. Requests: a DAVx5-shaped sync (as tests/clients/test_davx5.py replays it, with sync-collection
   as DAVx5 uses when the calendar offers it): PROPFIND Depth 0 of getctag/sync-token; when that
   changed, sync-collection and a calendar-multiget of what changed. The requests of a poll that
   finds nothing and of one that finds a change are counted here, then multiplied out for a
   practice of DEVICES devices polling every 15 minutes, and for the same practice on push with
   a 6-hour safety poll, at a stated change rate.

Usage: .venv/bin/python scripts/bench_push.py [--backend postgresql|sqlite] [--changes 50]
Writes the figures as JSON to stdout's last line; docs/benchmarks/push.md holds a run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.clients.test_davx5 import CAPABILITIES, NS, UA, multiget  # noqa: E402
from tests.conftest import DEMO_PASSWORD, DEMO_USER, PG_HOST, PG_PORT, PG_USER  # noqa: E402
from tests.serve_processes import serving_processes  # noqa: E402
from tests.test_cli import cli  # noqa: E402
from tests.test_push import PushService, register_body  # noqa: E402
from tests.two_way import ICAL, event  # noqa: E402

CALENDAR = "/anna_maier/calendar/"
CONFIG = "threads: 4\npush:\n  enabled: true\n  allow_insecure_endpoints: true\n  coalesce_seconds: 0\n"
DAV = "{DAV:}"

# The practice of the request-rate row (assumptions, stated in docs/benchmarks/push.md).
DEVICES = 50
POLL_MINUTES = 15
SAFETY_POLL_HOURS = 6
PRACTITIONERS = 25  # two devices each
# Appointments booked, moved or cancelled per calendar and day, spread over the opening hours.
CHANGE_RATES = (0, 5, 20, 40)
OPEN_HOURS = 10


@contextlib.contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    """A new, empty database; dropped (PostgreSQL) or deleted (SQLite) afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/praxis.db"
        return
    import psycopg2

    name = f"praxis_bench_push_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure_latency(base: str, service: PushService, changes: int) -> list[float]:
    """Seconds from sending each PUT to its decrypted push message."""
    auth = (DEMO_USER.encode(), DEMO_PASSWORD.encode())
    answer = requests.post(
        base + CALENDAR,
        data=register_body(service.base + "/davx5", service).encode(),
        headers={"Content-Type": "application/xml", "User-Agent": UA},
        auth=auth,
        timeout=30,
    )
    assert answer.status_code == 201, answer.status_code
    latencies = []
    for i in range(changes):
        time.sleep(random.uniform(0.05, 0.45))
        before = len(service.messages)
        started = time.monotonic()
        with requests.Session() as fresh:
            put = fresh.put(
                f"{base}{CALENDAR}bench-{i}.ics", data=event(f"bench-{i}"), headers=ICAL, auth=auth
            )
        assert put.status_code in (201, 204), put.status_code
        while len(service.messages) <= before:
            assert time.monotonic() - started < 10, f"no message for change {i}"
            time.sleep(0.001)
        latencies.append(time.monotonic() - started)
    time.sleep(1)
    assert len(service.messages) == changes, f"{len(service.messages)} messages for {changes} changes"
    return latencies


class Davx5Sync:
    """DAVx5's sync of one calendar, counting its requests (credentials sent up front)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.auth = (DEMO_USER.encode(), DEMO_PASSWORD.encode())
        self.session.headers["User-Agent"] = UA
        self.token = ""
        self.ctag: str | None = None
        self.requests = 0
        self.bytes = 0

    def _send(self, method: str, body: str, depth: str) -> etree._Element:
        answer = self.session.request(
            method,
            self.base + CALENDAR,
            data=body.encode(),
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            timeout=30,
        )
        assert answer.status_code == 207, (method, answer.status_code)
        self.requests += 1
        self.bytes += len(answer.content)
        return etree.fromstring(answer.content)

    def sync(self) -> tuple[int, float]:
        """One run: (requests it took, seconds)."""
        before, started = self.requests, time.monotonic()
        caps = self._send("PROPFIND", CAPABILITIES, "0")
        ctag = caps.findtext(".//{http://calendarserver.org/ns/}getctag")
        if ctag is None or ctag != self.ctag:
            body = (
                f"<?xml version='1.0' encoding='UTF-8' ?><sync-collection {NS}><sync-token>{self.token}"
                f"</sync-token><sync-level>1</sync-level><prop><getetag/></prop></sync-collection>"
            )
            listed = self._send("REPORT", body, "1")
            self.token = listed.findtext(f"{DAV}sync-token") or ""
            changed = [
                r.findtext(f"{DAV}href")
                for r in listed.findall(f"{DAV}response")
                if r.find(f".//{DAV}getetag") is not None
            ]
            for i in range(0, len(changed), 10):  # DAVx5 downloads in bunches of 10
                self._send("REPORT", multiget(changed[i : i + 10]), "1")
            self.ctag = ctag
        return self.requests - before, time.monotonic() - started


def measure_poll_cost(base: str) -> dict[str, float]:
    """Requests (and time) of a poll that finds nothing and of one that finds one change."""
    device = Davx5Sync(base)
    device.sync()  # the first sync downloads everything: not a poll
    idle = [device.sync() for _ in range(20)]
    changed = []
    auth = (DEMO_USER.encode(), DEMO_PASSWORD.encode())
    for i in range(10):
        put = requests.put(f"{base}{CALENDAR}poll-{i}.ics", data=event(f"poll-{i}"), headers=ICAL, auth=auth)
        assert put.status_code in (201, 204)
        changed.append(device.sync())
    assert {n for n, _ in idle} == {idle[0][0]} and {n for n, _ in changed} == {changed[0][0]}
    return {
        "idle_poll_requests": idle[0][0],
        "idle_poll_ms": statistics.median(s for _, s in idle) * 1000,
        "changed_poll_requests": changed[0][0],
        "changed_poll_ms": statistics.median(s for _, s in changed) * 1000,
    }


def request_rate(cost: dict[str, float], changes_per_calendar: int) -> dict[str, float]:
    """Requests a day of the practice, polling vs push (one 24-hour day). Every change is
    counted on its own (push coalesces only changes within coalesce_seconds)."""
    idle, found = cost["idle_poll_requests"], cost["changed_poll_requests"]
    devices_per_calendar = DEVICES / PRACTITIONERS
    # Polling: 96 polls a day; of those in opening hours, one per change at most finds it.
    polls = 24 * 60 / POLL_MINUTES
    finding = min(changes_per_calendar, OPEN_HOURS * 60 / POLL_MINUTES)
    # Push: every change brings each device of the calendar a message and one sync that finds
    # it; the safety polls find nothing (push told them already).
    messages = PRACTITIONERS * changes_per_calendar * devices_per_calendar
    safety = DEVICES * (24 / SAFETY_POLL_HOURS) * idle
    return {
        "changes_per_calendar_day": changes_per_calendar,
        "polling_requests": DEVICES * (polls * idle + finding * (found - idle)),
        "polling_idle_requests": DEVICES * (polls - finding) * idle,
        "push_requests": safety + messages * found,
        "push_idle_requests": safety,
        "push_messages": messages,
    }


def run(backend: str, processes: int, changes: int) -> dict:
    with scratch_database(backend) as db_url, tempfile.TemporaryDirectory() as work:
        made = cli("--database", db_url, "demo", "--no-serve", timeout=120)
        assert made.returncode == 0, made.stderr
        with serving_processes(db_url, Path(work), CONFIG, processes=processes) as base:
            service = PushService()
            try:
                latencies = measure_latency(base, service, changes)
            finally:
                service.close()
            cost = measure_poll_cost(base) if processes == 1 else {}
    return {
        "backend": backend,
        "processes": processes,
        "changes": changes,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "max_ms": max(latencies) * 1000,
        **cost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), action="append")
    parser.add_argument("--processes", type=int, action="append", help="default: 1 and 2")
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    results = []
    for backend in args.backend or ["postgresql"]:
        for processes in args.processes or [1, 2]:
            row = run(backend, processes, args.changes)
            results.append(row)
            print(
                f"{backend:10} processes={processes}: PUT -> decrypted message p50 {row['p50_ms']:.0f} ms, "
                f"p95 {row['p95_ms']:.0f} ms, max {row['max_ms']:.0f} ms over {args.changes} changes",
                flush=True,
            )
            if "idle_poll_requests" in row:
                print(
                    f"  a poll costs {row['idle_poll_requests']} request(s) when nothing changed "
                    f"({row['idle_poll_ms']:.1f} ms), {row['changed_poll_requests']} after a change "
                    f"({row['changed_poll_ms']:.1f} ms)",
                    flush=True,
                )
                row["per_day"] = [request_rate(row, rate) for rate in CHANGE_RATES]
                for day in row["per_day"]:
                    print(
                        f"  {DEVICES} devices, {day['changes_per_calendar_day']} changes per calendar "
                        f"and day: polling every {POLL_MINUTES} min {day['polling_requests']:,.0f} "
                        f"requests ({day['polling_idle_requests']:,.0f} find nothing); push with a "
                        f"{SAFETY_POLL_HOURS} h safety poll {day['push_requests']:,.0f} requests "
                        f"({day['push_idle_requests']:,.0f} find nothing) + "
                        f"{day['push_messages']:,.0f} push messages",
                        flush=True,
                    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
