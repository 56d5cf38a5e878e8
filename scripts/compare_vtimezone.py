"""Compare our VTIMEZONE builder with icalendar's Timezone.from_tzid on every IANA zone.

Why: issue 17 item 7 asks whether icalendar's own builder should replace ours. Correctness is
judged by tests/vtimezone_oracle.py (two clients reading only the serialized VTIMEZONE must get
zoneinfo's offsets in 2020-2035); size is the serialized bytes, time a cold build.

    .venv/bin/python scripts/compare_vtimezone.py [--zones Europe/Berlin,...] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import icalendar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from davserver.ical import vtimezone as ours_module  # noqa: E402
from tests import vtimezone_oracle as oracle  # noqa: E402


def ours(tzid: str) -> icalendar.Timezone:
    return ours_module.vtimezone.__wrapped__(tzid)


def icalendar_from_tzid(tzid: str) -> icalendar.Timezone:
    # The window ours reproduces exactly (ten years back, fifteen ahead).
    return icalendar.Timezone.from_tzid(tzid, first_date=dt.date(2016, 1, 1), last_date=dt.date(2041, 1, 1))


BUILDERS: dict[str, Callable[[str], icalendar.Timezone]] = {
    "ours": ours,
    "icalendar.from_tzid": icalendar_from_tzid,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", help="comma-separated TZIDs (default: every IANA zone)")
    parser.add_argument("--json", type=Path, help="write per-zone results here")
    args = parser.parse_args()
    zones = args.zones.split(",") if args.zones else sorted(zoneinfo.available_timezones())
    rows: dict[str, dict[str, dict]] = {name: {} for name in BUILDERS}
    for tzid in zones:
        for name, build in BUILDERS.items():
            start = time.perf_counter()
            ical = build(tzid).to_ical()
            elapsed = (time.perf_counter() - start) * 1000
            count, bad = oracle.mismatches(tzid, ical)
            rows[name][tzid] = {"ms": elapsed, "bytes": len(ical), "probes": count, "wrong": bad}
    print(
        f"icalendar {icalendar.__version__}, {len(zones)} zones, years {oracle.FIRST_YEAR}-{oracle.LAST_YEAR}"
    )
    clients = " | ".join(f"zones wrong ({c})" for c in oracle.CLIENTS)
    print(f"| builder | {clients} | wrong probes | median bytes | max bytes | median ms | max ms |")
    print("|---|" + "---|" * (len(oracle.CLIENTS) + 5))
    for name, per_zone in rows.items():
        wrong = {c: [z for z, r in per_zone.items() if r["wrong"][c]] for c in oracle.CLIENTS}
        probes = sum(r["probes"] for r in per_zone.values()) * len(oracle.CLIENTS)
        bad = sum(len(v) for r in per_zone.values() for v in r["wrong"].values())
        sizes = [r["bytes"] for r in per_zone.values()]
        ms = [r["ms"] for r in per_zone.values()]
        counts = " | ".join(str(len(wrong[c])) for c in oracle.CLIENTS)
        print(
            f"| {name} | {counts} | {bad} of {probes} | {statistics.median(sizes):.0f} | {max(sizes)} "
            f"| {statistics.median(ms):.1f} | {max(ms):.1f} |"
        )
    for name, per_zone in rows.items():
        for c in oracle.CLIENTS:
            wrong = [z for z, r in per_zone.items() if r["wrong"][c]]
            if wrong:
                print(f"wrong ({name}, {c}, {len(wrong)}): {', '.join(wrong)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
