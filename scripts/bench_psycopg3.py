"""psycopg 3's automatic prepares vs our PREPARE/EXECUTE (providers/sql/prepared.py), on PostgreSQL.

Why: issue 17 item 7 asks whether psycopg 3 (server-side prepares after `prepare_threshold`
executions of the same SQL text) can replace prepared.py's reach into psycopg2 and peewee
internals. The hot selects that tests/test_store_prepared.py exercises, each run the same way
in every variant, on one database, rounds alternating between the variants:

  psycopg2 + Prepared        today: SQL built once, PREPARE once per connection, EXECUTE
  psycopg2, plain peewee     no prepared.py: peewee builds the SQL per call, PostgreSQL parses it
  psycopg3, plain peewee     the same through psycopg 3 (auto-prepared after 5 executions)
  psycopg3 + SQL built once  prepared.py without PREPARE/EXECUTE: the built SQL is executed,
                             psycopg 3 prepares it (threshold 5 / threshold 0)
  psycopg3 + Prepared        today's PREPARE/EXECUTE text through psycopg 3

Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and `pip install "psycopg[binary]"`.

    .venv/bin/python scripts/bench_psycopg3.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import peewee as pw
import psycopg
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from providers.practice import api, store  # noqa: E402
from providers.practice.models import database_proxy  # noqa: E402
from providers.sql import prepared  # noqa: E402
from providers.sql.db import open_database  # noqa: E402

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
OPTIONS = "-c plan_cache_mode=force_custom_plan"  # as providers/sql/db.py connects


def admin():
    conn = psycopg2.connect(host=HOST, port=PORT, user=USER, dbname="postgres")
    conn.autocommit = True
    return conn


def populate(appointments: int, changes: int) -> dict:
    practice = api.get_or_create_practice("Praxis Bench", "bench-psycopg")
    owner = api.create_practitioner(practice, "bench owner", "pw-bench-owner-1")
    for i in range(20):
        api.create_practitioner(practice, f"bench colleague {i}", f"pw-bench-colleague-{i}")
    names = []
    day = dt.datetime(2026, 1, 5, 9)
    for i in range(appointments):
        start = day + dt.timedelta(days=i // 8, hours=i % 8)
        fields = api.AppointmentFields(start, start + dt.timedelta(minutes=50), subject=f"Termin {i}")
        names.append(api.create_appointment(owner, fields).resource_name)
    with database_proxy.atomic():
        for i in range(changes):
            api._log_change(owner.id, names[i % len(names)])
    since = store.current_change(owner.id) - 10
    return {"owner": owner.id, "login_key": owner.login_key, "names": names, "since": since}


def workloads(data: dict) -> dict[str, tuple[prepared.Prepared, tuple, str]]:
    """name -> (Prepared, arguments, how its rows are read: 'rows' models or 'tuples')."""
    owner, names = data["owner"], data["names"]
    return {
        "practitioner by login (auth)": (store._practitioner_by_login_key, (data["login_key"],), "rows"),
        "current change (ctag)": (store._current_change, (owner,), "tuples"),
        "changes since (sync, 10 rows)": (store._changes_since, (owner, data["since"]), "tuples"),
        "one full row (GET)": (store._load_one[False], (owner, names[7]), "rows"),
        "100 full rows (multiget)": (store._by_names(100, False), (owner, *names[100:200]), "rows"),
    }


def through_prepared(p: prepared.Prepared, args: tuple, kind: str) -> Callable[[], object]:
    if kind == "rows":
        return lambda: p.rows(*args)
    return lambda: p.raw_tuples(*args)


def through_peewee(p: prepared.Prepared, args: tuple, kind: str) -> Callable[[], object]:
    if kind == "rows":
        return lambda: list(p._build(*args))
    return lambda: list(p._build(*args).tuples())


def plain_execute(db, name, sql, bound):
    """prepared.py's PostgreSQL path with the PREPARE/EXECUTE left out."""
    return db.execute_sql(sql, bound)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per workload, variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--appointments", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=5000)
    args = parser.parse_args()
    name = f"praxis_bench_{uuid.uuid4().hex[:8]}"
    admin().cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        return run(name, args)
    finally:
        if not database_proxy.is_closed():
            database_proxy.close()
        admin().cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(name: str, args) -> int:
    pg2 = open_database(f"postgresql://{USER}@{HOST}:{PORT}/{name}")
    data = populate(args.appointments, args.changes)
    pg2.execute_sql("ANALYZE")
    pg3 = pw.PostgresqlDatabase(name, user=USER, host=HOST, port=PORT, options=OPTIONS, prefer_psycopg3=True)
    pg3_t0 = pw.PostgresqlDatabase(
        name, user=USER, host=HOST, port=PORT, options=OPTIONS, prefer_psycopg3=True
    )
    pg3_t0.connect()
    pg3_t0.connection().prepare_threshold = 0
    pg3.connect()
    assert isinstance(pg3.connection(), psycopg.Connection) and isinstance(
        pg2.connection(), psycopg2.extensions.connection
    )
    variants = {
        "psycopg2 + Prepared (today)": (pg2, through_prepared, prepared._execute_on_pg),
        "psycopg2, plain peewee": (pg2, through_peewee, prepared._execute_on_pg),
        "psycopg3, plain peewee (auto-prepare)": (pg3, through_peewee, prepared._execute_on_pg),
        "psycopg3 + SQL built once (auto-prepare, threshold 5)": (pg3, through_prepared, plain_execute),
        "psycopg3 + SQL built once (threshold 0)": (pg3_t0, through_prepared, plain_execute),
        "psycopg3 + Prepared (PREPARE/EXECUTE)": (pg3, through_prepared, prepared._execute_on_pg),
    }
    loads = workloads(data)
    original = prepared._execute_on_pg
    results: dict[tuple[str, str], list[float]] = {}
    failed: dict[tuple[str, str], str] = {}
    expected: dict[str, object] = {}
    for round_ in range(args.rounds):
        for variant, (db, how, executor) in variants.items():
            database_proxy.initialize(db)
            prepared._execute_on_pg = executor
            try:
                for load, (p, call_args, kind) in loads.items():
                    call = how(p, call_args, kind)
                    try:
                        answer = call()
                    except pw.DatabaseError as exc:
                        failed[(variant, load)] = str(exc).splitlines()[0]
                        db.rollback()
                        continue
                    shape = [
                        tuple(r.__data__.values()) if hasattr(r, "__data__") else tuple(r) for r in answer
                    ]
                    assert expected.setdefault(load, shape) == shape, (variant, load)
                    for _ in range(20):  # warm: past psycopg 3's prepare threshold
                        call()
                    start = time.perf_counter()
                    for _ in range(args.calls):
                        call()
                    results.setdefault((variant, load), []).append(
                        (time.perf_counter() - start) / args.calls * 1e6
                    )
            finally:
                prepared._execute_on_pg = original
        print(f"round {round_ + 1} done", file=sys.stderr)
    print(
        f"psycopg2 {psycopg2.__version__.split()[0]}, psycopg {psycopg.__version__}, "
        f"peewee {pw.__version__}, "
        f"PostgreSQL {pg2.server_version}; {args.appointments} appointments, {args.changes} changes; "
        f"µs per call, median of {args.rounds} rounds of {args.calls} calls (multiget {args.calls // 10})"
    )
    print("| variant | " + " | ".join(loads) + " |")
    print("|---|" + "---|" * len(loads))
    for variant in variants:
        cells = [
            f"fails: {failed[(variant, load)]}"
            if (variant, load) in failed
            else f"{statistics.median(results[(variant, load)]):.0f}"
            for load in loads
        ]
        print(f"| {variant} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
