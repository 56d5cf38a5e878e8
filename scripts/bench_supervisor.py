"""Supervisor decided by measurement (issue 21): `serve --processes 2` (our parent, cheroot
workers) against gunicorn (gthread, 2 workers) serving the same WSGI app on this machine.

(a) requests/s of a mixed read load (PROPFIND Depth 0 and 1, calendar-multiget, GET) from
    separate client processes, rounds alternating between the servers;
(b) seconds from `kill -9` of one worker until a new worker has answered a request (the
    access log's process id tells which worker answered), kills 12 s apart so that our
    restart backoff is back at its first step;
(c) a PROPFIND's time beside 200 silent and 200 slowloris connections (issue 21's done-when).
Besides requests/s, the servers' CPU time per request: on a machine shared with other
work, throughput swings with the neighbours, CPU per request much less.

gunicorn is installed into a scratch virtual environment (never a project dependency) that
sees the project's packages through a .pth file. Usage:

    .venv/bin/python scripts/bench_supervisor.py [--rounds 3] [--seconds 8] [--kills 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_servers as srv  # noqa: E402
from bench_http import PROPFIND_CALENDAR, PROPFIND_ETAG, XML_HEADERS, Client, multiget_body  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCRATCH_VENV = Path(tempfile.gettempdir()) / "praxis-caldav-bench-gunicorn"
EVENTS = 200
THREADS = 16  # ServerConfig.threads: cheroot's worker threads, gunicorn's --threads
# The same app as `serve` builds it: our logging (access log with process id), the framing
# guard; each gunicorn worker opens its own database connections, as ours do.
GUNICORN_APP = """
import os
from davserver import framing
from davserver.app import build_app
from davserver.config import ServerConfig
from davserver.request_log import configure_logging

config = ServerConfig(database=os.environ["BENCH_DATABASE"], threads={threads}, processes=2)
configure_logging(config.log_level, config.log_format, config.access_log)
app = framing.guard(build_app(config))
"""
# cheroot sets TCP_NODELAY on its sockets; gunicorn does not, and its separate writes of
# head and body then wait for the client's delayed ACK (about 40 ms a request on loopback).
# Measured both ways: gunicorn as shipped, and with the option set on its listening socket
# (accepted sockets inherit it).
GUNICORN_NODELAY = """
import socket

def when_ready(server):
    for listener in server.LISTENERS:
        listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
"""
# "… INFO [pid request-id client user] praxis_caldav.access: …" (request_log.TEXT_FORMAT)
_ACCESS_PID = re.compile(r" INFO \[(\d+) [^\]]*\] praxis_caldav\.access: ")


def ensure_gunicorn() -> Path:
    """gunicorn in a scratch venv that also sees this interpreter's packages (ours included)."""
    gunicorn = SCRATCH_VENV / "bin" / "gunicorn"
    if gunicorn.exists():
        return gunicorn
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(SCRATCH_VENV)], check=True)
    site = subprocess.run(
        [
            str(SCRATCH_VENV / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # addsitedir, not a bare path: the project's editable install is itself a .pth hook.
    here = sysconfig.get_paths()["purelib"]
    Path(site, "praxis_caldav_project.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    subprocess.run([str(SCRATCH_VENV / "bin" / "pip"), "install", "-q", "gunicorn"], check=True, timeout=600)
    return gunicorn


def gunicorn_version(gunicorn: Path) -> str:
    python = gunicorn.parent / "python"
    code = "import importlib.metadata as m; print(m.version('gunicorn'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def start_gunicorn(gunicorn: Path, db_url: str, workdir: Path, nodelay: bool = False) -> srv.Running:
    (workdir / "bench_gunicorn_app.py").write_text(GUNICORN_APP.format(threads=THREADS))
    (workdir / "bench_gunicorn_nodelay.py").write_text(GUNICORN_NODELAY)
    port = srv.free_port()
    cmd = [str(gunicorn), "--workers", "2", "--worker-class", "gthread", "--threads", str(THREADS)]
    if nodelay:
        cmd += ["--config", str(workdir / "bench_gunicorn_nodelay.py")]
    cmd += ["--bind", f"{srv.HOST}:{port}", "--chdir", str(workdir), "--no-control-socket"]
    cmd += ["bench_gunicorn_app:app"]
    os.environ["BENCH_DATABASE"] = db_url
    return srv._spawn("gunicorn", cmd, workdir, port, f"/{srv.USER}/calendar/", (srv.USER, srv.PASSWORD))


def event(uid: str, day: int) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:202603{day:02d}T090000Z\r\n"
        f"DTEND:202603{day:02d}T100000Z\r\nSUMMARY:Termin {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def populate(server: srv.Running) -> list[str]:
    client = Client(srv.HOST, server.port, server.auth)
    hrefs = []
    for i in range(EVENTS):
        href = f"{server.calendar}bench-{i}.ics"
        resp = client.request("PUT", href, event(f"bench-{i}", 1 + i % 28), {"Content-Type": "text/calendar"})
        if resp.status not in (201, 204):
            raise SystemExit(f"PUT {href}: HTTP {resp.status}")
        hrefs.append(href)
    client.close()
    return hrefs


def _read_mix(client: Client, calendar: str, hrefs: list[str], rng: random.Random) -> bool:
    """One request of the mixed read load; whether it was answered correctly."""
    kind = rng.randrange(4)
    if kind == 0:
        resp = client.request("PROPFIND", calendar, PROPFIND_CALENDAR, {**XML_HEADERS, "Depth": "0"})
        return resp.status == 207
    if kind == 1:
        resp = client.request("PROPFIND", calendar, PROPFIND_ETAG, {**XML_HEADERS, "Depth": "1"})
        return resp.status == 207
    if kind == 2:
        body = multiget_body(rng.sample(hrefs, 10))
        resp = client.request("REPORT", calendar, body, {**XML_HEADERS, "Depth": "1"})
        return resp.status == 207 and resp.body.count(b"BEGIN:VEVENT") == 10
    resp = client.request("GET", rng.choice(hrefs))
    return resp.status == 200


def _load_process(port: int, calendar: str, hrefs: list[str], threads: int, seconds: float, out) -> None:
    done, failed = [0], [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run(seed: int) -> None:
        client, rng = Client(srv.HOST, port, (srv.USER, srv.PASSWORD), timeout=30), random.Random(seed)
        ok = bad = 0
        while time.monotonic() < stop_at:
            try:
                good = _read_mix(client, calendar, hrefs, rng)
            except OSError:
                good = False
                client.close()
            ok, bad = ok + good, bad + (not good)
        with lock:
            done[0] += ok
            failed[0] += bad

    workers = [threading.Thread(target=run, args=(os.getpid() * 100 + i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    out.put((done[0], failed[0]))


def read_load(server: srv.Running, hrefs: list[str], seconds: float, clients: int = 2, threads: int = 4):
    """(requests/s, failed requests) of `clients` processes x `threads` keep-alive connections."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_load_process, args=(server.port, server.calendar, hrefs, threads, seconds, out))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results)


def worker_pids(server: srv.Running) -> list[int]:
    return [int(pid) for pid in server._children()]


def answering_pids(log: Path, offset: int) -> tuple[set[int], int]:
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    return {int(m) for m in _ACCESS_PID.findall(text)}, offset + len(text.encode())


def wait_until_workers_serve(server: srv.Running, count: int = 2, timeout: float = 30) -> None:
    """Until `count` distinct workers have answered (new connections spread over them)."""
    offset, seen = server.log.stat().st_size, set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        Client(srv.HOST, server.port, server.auth, timeout=10).request("OPTIONS", server.calendar)
        pids, offset = answering_pids(server.log, offset)
        seen |= pids & set(worker_pids(server))
        if len(seen) >= count:
            return
        time.sleep(0.02)
    raise SystemExit(f"{server.name}: {count} workers did not answer within {timeout} s")


def replacement_seconds(server: srv.Running) -> tuple[float, float, int]:
    """kill -9 of one worker: (s until a new worker process exists, s until it has answered,
    requests that failed in between); one fresh connection every 10 ms meanwhile."""
    old = worker_pids(server)
    offset = server.log.stat().st_size
    killed = time.monotonic()
    os.kill(old[0], signal.SIGKILL)
    spawned = answered = None
    failed = 0
    while time.monotonic() - killed < 30:
        try:
            resp = Client(srv.HOST, server.port, server.auth, timeout=10).request("OPTIONS", server.calendar)
            failed += resp.status != 200
        except OSError:
            failed += 1
        now = time.monotonic() - killed
        new = set(worker_pids(server)) - set(old)
        if new and spawned is None:
            spawned = now
        pids, offset = answering_pids(server.log, offset)
        if pids & new:
            answered = now
            break
        time.sleep(0.01)
    if answered is None:
        raise SystemExit(f"{server.name}: no new worker answered within 30 s")
    return spawned or answered, answered, failed


def slow_client_latency(server: srv.Running, count: int = 200, timeout: float = 10.0) -> float:
    """Median seconds of 5 PROPFINDs (new connection each) while `count` connections send
    nothing and `count` send a request head one byte per round (slowloris); capped at
    `timeout` (a request that waits longer counts as `timeout`)."""
    import socket

    idle, slow = [], []
    try:
        for _ in range(count):
            idle.append(socket.create_connection((srv.HOST, server.port), timeout=timeout))
            sock = socket.create_connection((srv.HOST, server.port), timeout=timeout)
            sock.sendall(f"PROPFIND {server.calendar} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
            slow.append(sock)
        timings = []
        for _ in range(5):
            for sock in slow:
                try:
                    sock.sendall(b"a")
                except OSError:
                    pass
            started = time.perf_counter()
            try:
                client = Client(srv.HOST, server.port, server.auth, timeout=timeout)
                resp = client.request("PROPFIND", server.calendar, PROPFIND_CALENDAR, {"Depth": "0"})
                client.close()
                took = time.perf_counter() - started if resp.status == 207 else timeout
            except OSError:
                took = timeout
            timings.append(min(took, timeout))
        return statistics.median(timings)
    finally:
        for sock in idle + slow:
            sock.close()


def cpu_ms_per_request(server: srv.Running, hrefs: list[str], seconds: float) -> tuple[float, int, float]:
    """(requests/s, failed, server CPU ms per request): CPU per request stays comparable when
    other work shares the machine, requests/s does not."""
    before = server.cpu_seconds() or 0.0
    rps, failed = read_load(server, hrefs, seconds)
    used = (server.cpu_seconds() or 0.0) - before
    return rps, failed, 1000 * used / max(rps * seconds, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="load rounds per server (alternating)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of one load round")
    parser.add_argument("--kills", type=int, default=5, help="worker kills per server")
    args = parser.parse_args()
    gunicorn = ensure_gunicorn()
    workdir = Path(tempfile.mkdtemp(prefix="bench-supervisor-"))
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    srv.create_user(db_url, workdir)
    first = srv.start_ours(db_url, workdir, processes=1)
    try:
        hrefs = populate(first)
    finally:
        first.stop()
    version = gunicorn_version(gunicorn)
    starters = {
        "serve --processes 2": lambda: srv.start_ours(db_url, workdir, processes=2),
        f"gunicorn {version} gthread -w 2": lambda: start_gunicorn(gunicorn, db_url, workdir),
        f"gunicorn {version} gthread -w 2, TCP_NODELAY": lambda: start_gunicorn(
            gunicorn, db_url, workdir, nodelay=True
        ),
    }
    results: dict[str, dict] = {
        name: {"rps": [], "cpu_ms": [], "failed": 0, "spawned": [], "answered": [], "kill_failed": 0}
        for name in starters
    }
    for round_no in range(args.rounds):
        for name, start in starters.items():
            server = start()
            try:
                wait_until_workers_serve(server)
                read_load(server, hrefs, 2.0)  # warm-up: caches, prepared statements
                rps, failed, cpu_ms = cpu_ms_per_request(server, hrefs, args.seconds)
                results[name]["rps"].append(rps)
                results[name]["cpu_ms"].append(cpu_ms)
                results[name]["failed"] += failed
                load = os.getloadavg()[0]
                print(
                    f"round {round_no + 1} {name}: {rps:.0f} requests/s, {cpu_ms:.2f} ms CPU a request, "
                    f"{failed} failed (load average {load:.1f})",
                    flush=True,
                )
                if round_no == 0:
                    slow = slow_client_latency(server)
                    results[name]["slow_clients_propfind_seconds"] = slow
                    print(
                        f"  PROPFIND beside 200 silent + 200 slowloris connections: {slow:.3f} s", flush=True
                    )
                    for kill in range(args.kills):
                        time.sleep(12)  # our backoff steps back to 0.1 s after 10 s of calm
                        wait_until_workers_serve(server)
                        spawned, answered, kill_failed = replacement_seconds(server)
                        results[name]["spawned"].append(spawned)
                        results[name]["answered"].append(answered)
                        results[name]["kill_failed"] += kill_failed
                        print(
                            f"  kill {kill + 1}: new worker after {spawned:.2f} s, "
                            f"answering after {answered:.2f} s ({kill_failed} failed)",
                            flush=True,
                        )
            finally:
                server.stop()
    summary = {
        name: {
            "requests_per_second_median": round(statistics.median(r["rps"]), 1),
            "requests_per_second": [round(x, 1) for x in r["rps"]],
            "server_cpu_ms_per_request_median": round(statistics.median(r["cpu_ms"]), 2),
            "failed_requests_under_load": r["failed"],
            "slow_clients_propfind_seconds": round(r.get("slow_clients_propfind_seconds", -1), 3),
            "worker_replaced_seconds_median": round(statistics.median(r["spawned"]), 2)
            if r["spawned"]
            else None,
            "worker_serving_seconds_median": round(statistics.median(r["answered"]), 2)
            if r["answered"]
            else None,
            "worker_serving_seconds": [round(x, 2) for x in r["answered"]],
            "failed_requests_around_kills": r["kill_failed"],
        }
        for name, r in results.items()
    }
    print(
        json.dumps(
            {"cpus": os.cpu_count(), "events": EVENTS, "threads": THREADS, "servers": summary}, indent=2
        )
    )
    srv.remove(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
