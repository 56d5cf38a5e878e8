"""Import benchmark: writes a practice export of N appointments and times `praxis-caldav import`.

    python scripts/bench_import.py write FILE [--appointments 100000]
    python scripts/bench_import.py run FILE --database URL   # first import, then the same file again
    python scripts/bench_import.py validators FILE           # schema check per validator

20 practitioners, 5,000 patients, 4 locations; one appointment in twenty is a weekly series
with an exception. Reports wall time, CPU time and peak RSS (of the child process) of each run.
The results: docs/benchmarks/import.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

PRACTITIONERS, PATIENTS, LOCATIONS = 20, 5000, 4
FIRST_DAY = dt.datetime(2027, 1, 4, 8, 0)


def export(appointments: int, seed: int = 19) -> dict:
    rng = random.Random(seed)
    data = {
        "practice": {"id": "bench", "name": "Bench-Praxis", "timezone": "Europe/Vienna"},
        "practitioners": [
            {"id": f"p{i}", "username": f"bench user {i}", "password": f"pw-{i}"}
            for i in range(PRACTITIONERS)
        ],
        "patients": [
            {"id": f"pat{i}", "patient_number": str(1000 + i), "first_name": f"V{i}", "last_name": f"N{i}"}
            for i in range(PATIENTS)
        ],
        "locations": [{"id": f"loc{i}", "name": f"Raum {i}"} for i in range(LOCATIONS)],
        "appointments": [],
    }
    for i in range(appointments):
        start = FIRST_DAY + dt.timedelta(days=rng.randrange(700), hours=rng.randrange(10))
        rec = {
            "id": f"a{i}",
            "practitioner": f"p{i % PRACTITIONERS}",
            "patient": f"pat{rng.randrange(PATIENTS)}",
            "location": f"loc{rng.randrange(LOCATIONS)}",
            "subject": "Sitzung",
            "start": start.isoformat(),
            "end": (start + dt.timedelta(minutes=50)).isoformat(),
        }
        if i % 20 == 0:
            rec["rrule"] = "FREQ=WEEKLY;COUNT=10"
            rec["exdates"] = [(start + dt.timedelta(weeks=2)).isoformat()]
        data["appointments"].append(rec)
    return data


def run(path: str, database: str) -> None:
    """Each run's own wall time, CPU time and peak RSS (wait4 gives one child's, not the
    largest of all children so far)."""
    command = [str(Path(sys.executable).with_name("praxis-caldav")), "--database", database, "import", path]
    for label in ("first import", "unchanged re-import"):
        started = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=quiet, text=True)
            output = child.stdout.read() if child.stdout else ""
            _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        summary = next((line for line in output.splitlines() if line.startswith("imported")), "")
        print(
            f"{label}: {elapsed:.1f} s wall, {usage.ru_utime + usage.ru_stime:.1f} s CPU, "
            f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB, exit {os.waitstatus_to_exitcode(status)}: {summary}"
        )


def validators(path: str) -> None:
    """The structural check of every appointment by each candidate validator (docs/benchmarks/import.md)."""
    import fastjsonschema
    import jsonschema

    from providers.practice import import_schema

    schema = import_schema.schema()
    item = {**schema["properties"]["appointments"]["items"], "$defs": schema["$defs"]}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    records = data["appointments"]
    compiled, cached = fastjsonschema.compile(item), jsonschema.Draft202012Validator(item)
    whole = jsonschema.Draft202012Validator(schema)
    candidates = {
        "fastjsonschema, per record (compiled once)": lambda: [compiled(r) for r in records],
        "jsonschema, per record (cached validator)": lambda: [cached.is_valid(r) for r in records],
        "jsonschema, whole file": lambda: whole.is_valid(data),
        "the importer's check (fastjsonschema + messages)": lambda: [
            import_schema.check_appointment(r, "appointments[0]") for r in records
        ],
    }
    for label, check in candidates.items():
        started = time.process_time()
        check()
        print(f"{label}: {time.process_time() - started:.2f} s CPU for {len(records)} appointments")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    write = sub.add_parser("write")
    write.add_argument("file")
    write.add_argument("--appointments", type=int, default=100_000)
    timed = sub.add_parser("run")
    timed.add_argument("file")
    timed.add_argument("--database", required=True)
    sub.add_parser("validators").add_argument("file")
    args = parser.parse_args()
    if args.action == "validators":
        validators(args.file)
    elif args.action == "write":
        Path(args.file).write_text(json.dumps(export(args.appointments)), encoding="utf-8")
    else:
        run(args.file, args.database)


if __name__ == "__main__":
    main()
