"""A/B of the read paths of two revisions of our server on the same data (bench_ab.py's
PUT/GET rounds do not touch them): PROPFIND Depth 1, multiget of 100, a one-week query
and an initial sync-collection.

The data is loaded once and only read, so both revisions answer the same objects; their
answers must be byte for byte the same (checked), and the medians over the rounds are
compared. The servers take turns, each round starting each afresh.

    .venv/bin/python scripts/bench_ab_reads.py --base 1945c34 --rounds 4
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ab  # noqa: E402
import bench_data  # noqa: E402
import bench_http as http  # noqa: E402
import bench_servers as srv  # noqa: E402

XML = {"Content-Type": "application/xml; charset=utf-8"}


def requests_for(calendar: str, names: list[str]) -> dict[str, tuple[str, str, str]]:
    """(method, body, Depth) per row."""
    chosen = random.Random(8).sample(names, min(100, len(names)))
    start, end = (bench_data.utc_stamp(t) for t in bench_data.WEEK)
    return {
        "PROPFIND Depth 1 (ms)": ("PROPFIND", http.PROPFIND_ETAG, "1"),
        "multiget of 100 (ms)": ("REPORT", http.multiget_body([calendar + n for n in chosen]), "1"),
        "query one week (ms)": ("REPORT", http.query_body(start, end), "1"),
        "initial sync (ms)": ("REPORT", http.sync_body(""), "0"),
    }


def one_round(
    tree: Path, label: str, db_url: str, workdir: Path, names: list[str], repeats: int
) -> tuple[dict[str, float], dict[str, bytes]]:
    """Median milliseconds of each request (after one warm-up), the server's CPU per
    request (less moved by other load on the machine than the wall time) and its answer."""
    server = bench_ab.start(tree, db_url, workdir, label)
    client = http.Client(srv.HOST, server.port, server.auth)
    row, bodies = {}, {}
    try:
        for key, (method, body, depth) in requests_for(server.calendar, names).items():
            headers = {**XML, "Depth": depth}
            first = client.request(method, server.calendar, body, headers)
            if first.status != 207:
                raise srv.ServerError(f"{label} {key}: HTTP {first.status}")
            bodies[key] = first.body
            times = []
            cpu = server.cpu_seconds()
            for _ in range(repeats):
                started = time.perf_counter()
                client.request(method, server.calendar, body, headers)
                times.append(time.perf_counter() - started)
            row[key] = statistics.median(times) * 1e3
            row[key.replace("(ms)", "CPU (ms)")] = (server.cpu_seconds() - cpu) / repeats * 1e3
    finally:
        client.close()
        server.stop()
    return row, bodies


# Each revision loads its own database (bench_ab.ab_setup), so the times the rows were
# written differ; everything else must be the same bytes.
_LOAD_TIMES = re.compile(
    rb"(DTSTAMP|CREATED|LAST-MODIFIED)([;:][^\r\n]*)|<([\w:]*)getlastmodified>[^<]*</\3getlastmodified>"
)


def _without_load_times(body: bytes) -> bytes:
    return _LOAD_TIMES.sub(b"<time>", body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--n", type=int, default=1000, help="objects loaded (default 1000)")
    parser.add_argument("--repeats", type=int, default=20, help="timed requests per row and round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    with bench_ab.ab_setup(args.base, None, args.backend, args.n, "praxis-ab-reads-") as setup:
        results: dict[str, list[dict[str, float]]] = {"base": [], "head": []}
        for round_ in range(args.rounds):
            answers = {}
            for label in ("base", "head"):
                row, answers[label] = one_round(
                    setup.trees[label], label, setup.db_urls[label], setup.workdir, setup.names, args.repeats
                )
                results[label].append(row)
                print(f"round {round_ + 1} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
            for key, body in answers["base"].items():
                if _without_load_times(answers["head"][key]) != _without_load_times(body):
                    raise srv.ServerError(f"{key}: base and head answer different bytes")
        title = (
            f"{args.backend}, N={args.n}, medians of {args.rounds} rounds "
            f"(base {args.base}, head working tree)"
        )
        bench_ab.print_medians(results, title, 26)
        print("  (the answers of base and head were the same bytes in every round, load times aside)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
