"""Benchmark praxis-caldav against Radicale, Xandikos and a bare cheroot ceiling.

    .venv/bin/python scripts/bench.py --quick
    .venv/bin/python scripts/bench.py --n 1000 10000 100000 --backend sqlite postgresql \
        --peers radicale xandikos --processes 1 2 --json bench.json

Generates a reproducible practice calendar, loads it into every server through PUT
(If-None-Match: *), measures the workloads of issue #8 and checks every answer (time-range
queries against an independent expansion of the generated data). A wrong answer is reported
as FAIL, never as a figure. See docs/benchmarks/README.md for the columns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_data  # noqa: E402
import bench_servers as srv  # noqa: E402
import bench_workloads as wl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = Path(__file__).resolve().parent / ".bench-venv"
CEILING = "ceiling"
WSGIDAV = "wsgidav"  # bare wsgidav: the floor of the framework, next to the cheroot ceiling
BASELINES = (WSGIDAV, CEILING)
# key, label, higher is better
ROWS = [
    ("load", "load: PUT N objects, 8 clients (ev/s)", True),
    ("put1", "a  PUT, 1 client (ev/s)", True),
    ("put8", "a  PUT, 8 clients (ev/s)", True),
    ("propfind", "b  PROPFIND Depth 1 getetag (ms)", False),
    ("multiget100", "c  calendar-multiget 100 hrefs (ms)", False),
    ("query_week", "d  calendar-query 1 week + data (ms)", False),
    ("query_month", "d  calendar-query 1 month + data (ms)", False),
    ("sync_initial", "e  sync-collection initial (ms)", False),
    ("sync_incr", "e  sync-collection after 10 changes (ms)", False),
    ("get_p50", "f  GET one event p50 (ms)", False),
    ("get_p95", "f  GET one event p95 (ms)", False),
]


def mixed_rows(processes: list[int]) -> list[tuple[str, str, bool]]:
    rows = [
        ("floor_p1", "g0 OPTIONS only, 8 threads, 1 server proc (req/s)", True),
        ("floor_p1_cpu", "g0 OPTIONS only: server CPU per request (ms)", False),
    ]
    for k in processes:
        procs = f"{k} server proc{'s' if k > 1 else ''}"
        rows += [
            (f"mixed_p{k}", f"g  mixed 8 threads, {procs} (req/s)", True),
            (f"mixed_p{k}_p95", f"g  mixed 8 threads, {procs} p95 (ms)", False),
            (f"mixed_p{k}_cpu", f"g  mixed, {procs}: server CPU per request (ms)", False),
        ]
    return rows + [("rss", "peak RSS of the server (MiB)", False)]


def with_cpu(out: dict, key: str, res: wl.Result) -> None:
    """Put res under key and its server CPU per request under key_cpu."""
    out[key] = res
    out[f"{key}_cpu"] = wl.Result(f"{key}_cpu", "ms", res.server_cpu_ms, status=res.status, error=res.error)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, args):
        self.args = args
        self.results: dict[int, dict[str, dict[str, wl.Result]]] = {}
        self.notes: list[str] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="praxis-bench-"))

    # One target ---------------------------------------------------------------------------
    @staticmethod
    def measure(out: dict, t: wl.Target, server: srv.Running, key: str, unit: str, fn) -> wl.Result:
        """Run one workload into out[key]; skipped when the load left nothing to measure."""
        load = out.get("load")
        if load is not None and load.status != "ok" and not t.names:
            res = wl.Result(key, unit, status=load.status, error="not measured: nothing was loaded")
        else:
            log(f"  {t.label}: {key}")
            res = wl.guarded(key, unit, fn)
            if res.status != "ok" and server.proc.poll() is not None:
                res.error = f"{res.error} (server exited: {server.log_tail(2)})"
        out[key] = res
        return res

    def suite(
        self, t: wl.Target, data: bench_data.Dataset, oracle: dict, mixed_key: str, server: srv.Running
    ) -> dict[str, wl.Result]:
        """Load, then every read workload and the mixed load, on exactly the N objects."""
        a, out = self.args, {}
        rng = random.Random(a.seed)

        def run(key, unit, fn):
            return self.measure(out, t, server, key, unit, fn)

        run("load", "ev/s", lambda: wl.load(t, data, 8))
        run("propfind", "ms", lambda: wl.propfind_etags(t, a.runs))
        run("multiget100", "ms", lambda: wl.multiget(t, a.runs, 100, rng))
        for key, window in (("query_week", bench_data.WEEK), ("query_month", bench_data.MONTH)):
            run(key, "ms", lambda k=key, w=window: wl.query(t, k, w, oracle[k] & t.names, a.runs))
        run("sync_initial", "ms", lambda: wl.sync_initial(t, a.runs))
        p50 = run("get_p50", "ms", lambda: wl.get_one(t, a.get_count, rng)[0])
        out["get_p95"] = wl.Result("get_p95", "ms", p50.p95, status=p50.status, error=p50.error)
        run("sync_incr", "ms", lambda: wl.sync_incremental(t, data, a.runs, rng))
        self.mixed(t, oracle, mixed_key, out, server)
        with_cpu(out, "floor_p1", run("floor_p1", "req/s", lambda: wl.options(t, a.seconds, 8, "floor_p1")))
        return out

    def puts(self, t: wl.Target, out: dict, server: srv.Running) -> None:
        """PUT throughput last: its new objects must not enlarge the data the reads ran on."""
        a = self.args
        for clients, first_run in ((1, 0), (8, 50)):
            self.measure(
                out,
                t,
                server,
                f"put{clients}",
                "ev/s",
                lambda c=clients, f=first_run: wl.put_throughput(t, a.seed, a.runs, a.put_batch, c, f),
            )

    def mixed(self, t, oracle, key, out, server) -> None:
        res = self.measure(
            out,
            t,
            server,
            key,
            "req/s",
            lambda: wl.mixed(t, oracle["query_week"] & t.names, self.args.seconds, 8, key),
        )
        out[f"{key}_p95"] = wl.Result(f"{key}_p95", "ms", res.p95, status=res.status, error=res.error)
        with_cpu(out, key, res)

    def target(self, label, server: srv.Running, budget: float) -> wl.Target:
        return wl.Target(
            label,
            srv.HOST,
            server.port,
            server.calendar,
            server.auth,
            deadline=time.monotonic() + budget,
            cpu=server.cpu_seconds,
        )

    @staticmethod
    def rss(server: srv.Running) -> wl.Result:
        kib = server.peak_rss_kib()
        workers = server.workers_rss_kib()
        if kib is None:
            return wl.Result("rss", "MiB", status="fail", error="no /proc status for the server")
        return wl.Result(
            "rss", "MiB", (kib + sum(workers)) / 1024, samples=[kib / 1024] + [w / 1024 for w in workers]
        )

    # Ours ------------------------------------------------------------------------------------
    def ours(self, n, data, oracle, backend: str) -> dict[str, wl.Result]:
        a = self.args
        label = f"ours/{backend}"
        workdir = self.workdir / f"{label.replace('/', '-')}-{n}"
        workdir.mkdir()
        pg = srv.Postgres() if backend == "postgresql" else None
        out: dict[str, wl.Result] = {}
        server = None
        try:
            db_url = pg.create() if pg else f"sqlite:///{workdir / 'bench.db'}"
            srv.create_user(db_url, workdir)
            first, *more = a.processes
            server = srv.start_ours(db_url, workdir, first, a.server_config)
            log(f"{label} N={n}: serving on port {server.port}")
            t = self.target(label, server, a.ours_timeout)
            out = self.suite(t, data, oracle, f"mixed_p{first}", server)
            out["rss"] = self.rss(server)
            for k in more + ([first] if more else []):
                server.stop()
                server = srv.start_ours(db_url, workdir, k, a.server_config)
                t.port = server.port
                if k != first:
                    self.mixed(t, oracle, f"mixed_p{k}", out, server)
            self.puts(t, out, server)
        except Exception as exc:  # noqa: BLE001 - report, never crash
            self.notes.append(f"{label} N={n}: {type(exc).__name__}: {exc}")
            log(f"{label} N={n}: {exc}")
        finally:
            if server is not None:
                server.stop()
            if pg:
                try:
                    pg.drop()
                except Exception as exc:  # noqa: BLE001
                    self.notes.append(f"could not drop PostgreSQL database {pg.name}: {exc}")
            if not a.keep:
                srv.remove(workdir)
        return out

    # Peers -----------------------------------------------------------------------------------
    def peer(self, name, n, data, oracle) -> dict[str, wl.Result]:
        a = self.args
        workdir = self.workdir / f"{name}-{n}"
        workdir.mkdir()
        start = srv.start_radicale if name == "radicale" else srv.start_xandikos
        server = None
        out: dict[str, wl.Result] = {}
        try:
            server = start(a.peer_venv, workdir)
            log(f"{name} N={n}: serving on port {server.port} (budget {a.peer_timeout:g} s)")
            t = self.target(name, server, a.peer_timeout)
            out = self.suite(t, data, oracle, "mixed_p1", server)
            out["rss"] = self.rss(server)
            self.puts(t, out, server)
        except Exception as exc:  # noqa: BLE001
            self.notes.append(f"{name} N={n}: {type(exc).__name__}: {exc}")
            log(f"{name} N={n}: {exc}")
        finally:
            if server is not None:
                server.stop()
            if not a.keep:
                srv.remove(workdir)
        return out

    def ceiling(self) -> dict[str, wl.Result]:
        server = srv.start_hello(self.workdir, 16)
        try:
            log(f"ceiling: bare cheroot hello world for {self.args.seconds:g} s")
            t = self.target(CEILING, server, 600)
            res = wl.guarded("mixed_p1", "req/s", lambda: wl.hello(t, self.args.seconds, 8, "mixed_p1"))
            out = {
                "mixed_p1_p95": wl.Result("mixed_p1_p95", "ms", res.p95, status=res.status, error=res.error),
                "rss": self.rss(server),
            }
            with_cpu(out, "mixed_p1", res)
            with_cpu(out, "floor_p1", res)
            return out
        finally:
            server.stop()

    def wsgidav_floor(self) -> dict[str, wl.Result]:
        """Bare wsgidav answering OPTIONS: what the decided framework reaches before any work."""
        try:
            server = srv.start_wsgidav(self.workdir, 16)
        except srv.ServerError as exc:
            self.notes.append(f"wsgidav floor: {exc}")
            return {}
        try:
            log(f"floor: bare wsgidav OPTIONS for {self.args.seconds:g} s")
            t = self.target(WSGIDAV, server, 600)
            res = wl.guarded("floor_p1", "req/s", lambda: wl.options(t, self.args.seconds, 8, "floor_p1"))
            out = {"rss": self.rss(server)}
            with_cpu(out, "floor_p1", res)
            return out
        finally:
            server.stop()

    # Whole run -------------------------------------------------------------------------------
    def run(self) -> None:
        a = self.args
        peers = list(a.peers)
        if peers:
            log(f"installing peers into {a.peer_venv} (if missing)")
            for peer, error in srv.ensure_peer_venv(a.peer_venv, peers).items():
                self.notes.append(f"{peer} skipped: {error}")
                peers.remove(peer)
        self.versions = {p: srv.peer_version(a.peer_venv, p) for p in peers}
        baselines = {CEILING: self.ceiling(), WSGIDAV: self.wsgidav_floor()} if a.ceiling else {}
        for n in a.n:
            data = bench_data.generate(n, a.seed)
            oracle = {
                k: bench_data.oracle_time_range(data, w)
                for k, w in (("query_week", bench_data.WEEK), ("query_month", bench_data.MONTH))
            }
            series = sum(e.is_series for e in data.events)
            log(
                f"N={n}: {series} series; oracle: week {len(oracle['query_week'])}, "
                f"month {len(oracle['query_month'])} objects"
            )
            cols = self.results.setdefault(n, {})
            for backend in a.backend:
                cols[f"ours/{backend}"] = self.ours(n, data, oracle, backend)
            for peer in peers:
                if n > a.peer_max_n:
                    self.notes.append(f"{peer} N={n}: not run (above --peer-max-n {a.peer_max_n})")
                    continue
                cols[peer] = self.peer(peer, n, data, oracle)
            for name, results in baselines.items():
                if results:
                    cols[name] = results

    # Output ----------------------------------------------------------------------------------
    def table(self) -> str:
        a = self.args
        rows = ROWS + mixed_rows(a.processes)
        base = f"ours/{a.backend[0]}" if a.backend else ""
        footnotes: dict[tuple, list[str]] = {}  # (N, target, status, error) -> metrics
        lines = []
        for n, cols in self.results.items():
            labels = [
                c for c in [f"ours/{b}" for b in a.backend] + list(a.peers) + list(BASELINES) if c in cols
            ]
            others = [c for c in labels if not c.startswith("ours/")]
            header = [f"N = {n}"] + labels + [f"vs {c}" for c in others]
            body = []
            for key, label, higher in rows:
                cells = [label]
                for c in labels:
                    cells.append(self.cell(cols[c].get(key), (n, c), key, footnotes))
                for c in others:
                    if c in BASELINES and not key.startswith(("mixed", "floor")):
                        cells.append("-")  # the baselines only answer the request-rate workloads
                        continue
                    cells.append(ratio(cols.get(base, {}).get(key), cols[c].get(key), higher))
                if any(x not in ("", "-") for x in cells[1:]):
                    body.append(cells)
            widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
            head = fmt_row(header, widths)
            lines += [head, "-" * len(head)] + [fmt_row(r, widths) for r in body] + [""]
        lines.append(
            f"vs X = advantage of {base} over X: X's time / ours, or our rate / X's "
            "(>1 means ours is faster or smaller)."
        )
        for k, ((n, target, status, error), keys) in enumerate(footnotes.items(), 1):
            lines.append(f"[{k}] N={n} {target} {', '.join(keys)}: {status.upper()}: {error}")
        lines += [f"note: {x}" for x in self.notes]
        return "\n".join(lines)

    @staticmethod
    def cell(res: wl.Result | None, where: tuple, key: str, footnotes: dict) -> str:
        """A figure, or FAIL[k]/TIMEOUT[k] pointing at footnote k (one per distinct reason)."""
        if res is None:
            return "-"
        if res.status != "ok":
            reason = (*where, res.status, res.error)
            footnotes.setdefault(reason, []).append(key)
            number = list(footnotes).index(reason) + 1
            return f"{'FAIL' if res.status == 'fail' else 'TIMEOUT'}[{number}]"
        if res.value is None:
            return "-"
        return (
            f"{res.value:.0f}"
            if res.value >= 100
            else f"{res.value:.1f}"
            if res.value >= 10
            else f"{res.value:.2f}"
        )

    def as_json(self, table: str) -> dict:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
        ).stdout.strip()
        return {
            "started": self.started,
            "seconds": round(time.time() - self.t0, 1),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.args).items()},
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "versions": {"praxis-caldav": rev, **getattr(self, "versions", {})},
            "results": [
                {"n": n, "target": c, **r.as_dict()}
                for n, cols in self.results.items()
                for c, res in cols.items()
                for r in res.values()
            ],
            "notes": self.notes,
            "table": table,
        }


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(cells, widths, strict=True))
    )


def ratio(ours: wl.Result | None, theirs: wl.Result | None, higher: bool) -> str:
    ok = lambda r: r is not None and r.status == "ok" and r.value  # noqa: E731
    if not (ok(ours) and ok(theirs)):
        return "-"
    value = ours.value / theirs.value if higher else theirs.value / ours.value
    return f"{value:.2f}x"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke check: N=400, 3 runs, 3 s mixed load")
    p.add_argument("--n", type=int, nargs="+", help="dataset sizes (default 1000)")
    p.add_argument("--backend", nargs="*", choices=["sqlite", "postgresql"], default=["sqlite"])
    p.add_argument("--peers", nargs="*", choices=["radicale", "xandikos"], default=["radicale", "xandikos"])
    p.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        help="server processes for the mixed load (the first one runs every workload)",
    )
    p.add_argument("--runs", type=int, help="repetitions per measurement (default 5, quick 3)")
    p.add_argument("--seconds", type=float, help="mixed load duration (default 10, quick 3)")
    p.add_argument("--get-count", type=int, default=200, help="GET requests for p50/p95")
    p.add_argument("--put-batch", type=int, help="objects per PUT throughput run (default 200, quick 20)")
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--peer-max-n", type=int, default=10000, help="largest N the peers are run at")
    p.add_argument(
        "--peer-timeout", type=float, help="time budget in s per peer and N (default 1800, quick 40)"
    )
    p.add_argument("--ours-timeout", type=float, default=7200, help="time budget in s per N and backend")
    p.add_argument(
        "--peer-venv",
        type=Path,
        default=DEFAULT_VENV,
        help="virtualenv for Radicale/Xandikos (created and filled when missing)",
    )
    p.add_argument("--server-config", help="wsgidav.yaml for our server (default: built-in defaults)")
    p.add_argument(
        "--no-ceiling",
        dest="ceiling",
        action="store_false",
        help="skip the bare cheroot hello-world ceiling and the bare wsgidav floor",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary storage and logs")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    quick = args.quick
    args.n = args.n or ([400] if quick else [1000])
    args.runs = args.runs or (3 if quick else 5)
    args.seconds = args.seconds or (3.0 if quick else 10.0)
    args.put_batch = args.put_batch or (20 if quick else 200)
    args.peer_timeout = args.peer_timeout or (40.0 if quick else 1800.0)
    args.peer_venv = args.peer_venv.resolve()
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    bench = Bench(args)
    bench.t0, bench.started = time.time(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        bench.run()
    except KeyboardInterrupt:
        bench.notes.append("interrupted: the table is incomplete")
    finally:
        if not args.keep:
            srv.remove(bench.workdir)
        else:
            log(f"kept {bench.workdir}")
    table = bench.table()
    print(table)
    if args.json:
        args.json.write_text(json.dumps(bench.as_json(table), indent=1, ensure_ascii=False) + "\n")
        log(f"wrote {args.json}")
    log(f"done in {time.time() - bench.t0:.0f} s")
    failed = any(
        r.status != "ok" for cols in bench.results.values() for res in cols.values() for r in res.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
