"""A/B of two revisions of our server on the same data: did a change of ours move a figure?

Single figures of a shared VM move by tens of percent between runs, so bench.py compares
columns of one run. A change of our own is judged here instead: the servers of two
revisions take turns on one database (each round starts each afresh), one client sends
PUTs of new objects (If-None-Match: *, as devices do) and GETs of every loaded object, and
the medians over the rounds are compared. The server's CPU per request comes from /proc.

    .venv/bin/python scripts/bench_ab.py --base f1b7172 --backend postgresql --rounds 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data  # noqa: E402
import bench_servers as srv  # noqa: E402
from bench_http import Client  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ICAL = {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}


def start(tree: Path, db_url: str, workdir: Path, label: str) -> srv.Running:
    """Our server from `tree` (its own code, this virtualenv's libraries)."""
    port = srv.free_port()
    cmd = [
        sys.executable,
        "-m",
        "davserver.cli",
        "--database",
        db_url,
        "serve",
        "--host",
        srv.HOST,
        "--port",
        str(port),
    ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    log = workdir / f"{label}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=tree,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = srv.Running(label, proc, port, f"/{srv.USER}/calendar/", (srv.USER, srv.PASSWORD), log)
    for _ in range(300):
        try:
            Client(srv.HOST, port, server.auth, timeout=5).request("OPTIONS", "/")
            return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise srv.ServerError(f"{label} did not start: {server.log_tail()}")


def put(client: Client, server: srv.Running, event: bench_data.Event) -> None:
    resp = client.request("PUT", server.calendar + event.name, event.ics, ICAL)
    if resp.status != 201:
        raise srv.ServerError(f"PUT {event.name}: HTTP {resp.status}")


def get(client: Client, server: srv.Running, name: str) -> None:
    resp = client.request("GET", server.calendar + name)
    if resp.status != 200:
        raise srv.ServerError(f"GET {name}: HTTP {resp.status}")


def timed(fn, items) -> list[float]:
    times = []
    for item in items:
        start_ = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start_)
    return times


def one_round(
    tree: Path, label: str, db_url: str, workdir: Path, names: list[str], events: list[bench_data.Event]
) -> dict[str, float]:
    server = start(tree, db_url, workdir, label)
    client = Client(srv.HOST, server.port, server.auth)
    try:
        for event in events[:20]:
            put(client, server, event)
        for name in names:  # rendered once, as after a device's first sync
            get(client, server, name)
        cpu0 = server.cpu_seconds()
        puts = timed(lambda e: put(client, server, e), events[20:])
        cpu1 = server.cpu_seconds()
        gets = timed(lambda n: get(client, server, n), names)
        cpu2 = server.cpu_seconds()
    finally:
        client.close()
        server.stop()
    return {
        "PUT p50 (ms)": statistics.median(puts) * 1e3,
        "PUT server CPU (ms)": (cpu1 - cpu0) / len(puts) * 1e3,
        "GET p50 (ms)": statistics.median(gets) * 1e3,
        "GET server CPU (ms)": (cpu2 - cpu1) / len(gets) * 1e3,
    }


def load_database(tree: Path, label: str, db_url: str, workdir: Path, events: list) -> None:
    """The bench user and every event, written by the revision at `tree` through its own server."""
    subprocess.run(
        [sys.executable, "-m", "davserver.cli", "--database", db_url, "user", "add", srv.USER]
        + ["--password-stdin"],
        input=srv.PASSWORD + "\n",
        text=True,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        check=True,
        capture_output=True,
    )
    loader = start(tree, db_url, workdir, f"load {label}")
    client = Client(srv.HOST, loader.port, loader.auth)
    for event in events:
        put(client, loader, event)
    client.close()
    loader.stop()


@dataclass
class Setup:
    """Both revisions checked out, each with its own database holding the same data."""

    trees: dict[str, Path]
    db_urls: dict[str, str]  # one per revision
    workdir: Path
    data: bench_data.Dataset
    names: list[str]


@contextmanager
def ab_setup(base: str, head: str | None, backend: str, n: int, prefix: str) -> Iterator[Setup]:
    """Check out `base` (and `head`; None: this working tree), load `n` objects; remove all
    after. Shared by bench_ab.py and bench_ab_reads.py so both compare the same way."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    trees: dict[str, Path] = {}
    postgres = {"base": srv.Postgres(), "head": srv.Postgres()} if backend == "postgresql" else None
    try:
        for label, rev in (("base", base), ("head", head)):
            if rev is None:
                trees[label] = ROOT
                continue
            trees[label] = workdir / label
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(trees[label]), rev],
                check=True,
            )
        # One database per revision, loaded by that revision with the same generated data:
        # the two may differ in schema version (a newer server migrates, an older one refuses).
        data = bench_data.generate(n)
        db_urls = {
            label: postgres[label].create() if postgres else f"sqlite:///{workdir / f'{label}.db'}"
            for label in trees
        }
        for label, tree in trees.items():
            load_database(tree, label, db_urls[label], workdir, data.events)
        yield Setup(trees, db_urls, workdir, data, [e.name for e in data.events])
    finally:
        for tree in trees.values():
            if tree != ROOT:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
                )
        for database in (postgres or {}).values():
            database.drop()
        srv.remove(workdir)


def print_medians(results: dict[str, list[dict[str, float]]], title: str, width: int) -> None:
    """Each row's median over the rounds for base and head, and head/base."""
    print(f"\n{title}:")
    for key in results["base"][0]:
        base = statistics.median(r[key] for r in results["base"])
        head = statistics.median(r[key] for r in results["head"])
        ratio = f"{head / base:.2f}" if base else "n/a"  # CPU is counted in clock ticks
        print(f"  {key:{width}s} base {base:7.2f}   head {head:7.2f}   head/base {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--head", help="git revision (default: this working tree)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--n", type=int, default=1000, help="objects loaded (default 1000)")
    parser.add_argument("--puts", type=int, default=300, help="PUTs measured per round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    with ab_setup(args.base, args.head, args.backend, args.n, "praxis-ab-") as setup:
        results: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for round_ in range(args.rounds):
            for label in ("base", "head"):
                events = bench_data.extra_events(
                    setup.data.seed, round_ * 2 + (label == "head"), args.puts + 20
                )
                row = one_round(
                    setup.trees[label], label, setup.db_urls[label], setup.workdir, setup.names, events
                )
                results[label].append(row)
                print(
                    f"round {round_ + 1} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()),
                    flush=True,
                )
        title = (
            f"{args.backend}, N={args.n}, medians of {args.rounds} rounds "
            f"(base {args.base}, head {args.head or 'working tree'})"
        )
        print_medians(results, title, 22)
    return 0


if __name__ == "__main__":
    sys.exit(main())
