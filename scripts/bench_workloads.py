"""Benchmark workloads: each one times a request and checks its answer.

A check that fails makes the metric a FAILURE (with the reason), never a figure: a fast wrong
answer must not look like a fast server. Times are per request, medians over repeated runs.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import bench_data
from bench_http import (
    ICS_TYPE,
    PROPFIND_CALENDAR,
    PROPFIND_ETAG,
    XML_HEADERS,
    CheckFailed,
    Client,
    Timeout,
    check_data,
    check_same,
    multiget_body,
    parse_multistatus,
    percentile,
    query_body,
    sync_body,
    timed,
)


@dataclass
class Target:
    """A running server: where its calendar is, and the time budget it has left."""

    label: str
    host: str
    port: int
    calendar: str  # path of the calendar collection, ending in /
    auth: tuple[str, str] | None
    deadline: float = math.inf
    names: set[str] = field(default_factory=set)  # what the collection must hold now
    uids: dict[str, str] = field(default_factory=dict)  # name -> UID
    # CPU seconds the server has used so far (None where it cannot be read)
    cpu: Callable[[], float | None] = lambda: None

    def client(self) -> Client:
        return Client(self.host, self.port, self.auth)

    def href(self, name: str) -> str:
        return self.calendar + name

    def hrefs(self, names) -> set[str]:
        return {self.href(n) for n in names}

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise Timeout("time budget exhausted")


@dataclass
class Result:
    metric: str
    unit: str
    value: float | None = None
    p95: float | None = None
    samples: list[float] = field(default_factory=list)
    status: str = "ok"  # ok | fail | timeout
    error: str | None = None
    server_cpu_ms: float | None = None  # server CPU time per request (request-rate loads)

    def as_dict(self) -> dict:
        return {
            k: getattr(self, k)
            for k in ("metric", "unit", "value", "p95", "samples", "status", "error", "server_cpu_ms")
        }


def guarded(metric: str, unit: str, fn: Callable[[], Result]) -> Result:
    """Run a workload; every exception becomes a FAILURE or TIMEOUT result, never a crash."""
    try:
        return fn()
    except Timeout as exc:
        return Result(metric, unit, status="timeout", error=str(exc))
    except CheckFailed as exc:
        return Result(metric, unit, status="fail", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a refused connection, a crash of the server...
        return Result(metric, unit, status="fail", error=f"{type(exc).__name__}: {exc}")


def ms_result(metric: str, seconds: list[float]) -> Result:
    samples = [s * 1000 for s in seconds]
    return Result(metric, "ms", statistics.median(samples), percentile(samples, 0.95), samples)


# Writes ------------------------------------------------------------------------------------
def put_events(t: Target, events: list[bench_data.Event], clients: int) -> float:
    """PUT new objects (If-None-Match: *) from `clients` connections; seconds for all of them."""
    errors: list[str] = []
    timed_out: list[bool] = []

    def worker(chunk):
        client = t.client()
        try:
            for event in chunk:
                if time.monotonic() > t.deadline:
                    timed_out.append(True)
                    return
                resp = client.request(
                    "PUT", t.href(event.name), event.ics, {"Content-Type": ICS_TYPE, "If-None-Match": "*"}
                )
                if resp.status in (201, 204):
                    t.names.add(event.name)
                    t.uids[event.name] = event.uid
                else:
                    errors.append(f"PUT {event.name}: HTTP {resp.status} {resp.body[:200]!r}")
        except Exception as exc:  # noqa: BLE001 - reported as the failure of this metric
            errors.append(f"PUT: {type(exc).__name__}: {exc}")
        finally:
            client.close()

    chunks = [events[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    if timed_out:
        raise Timeout(f"time budget exhausted after {len(t.names)} objects")
    if errors:
        raise CheckFailed(f"{len(errors)} of {len(events)} PUTs failed; first: {errors[0]}")
    return elapsed


def load(t: Target, data: bench_data.Dataset, clients: int) -> Result:
    elapsed = put_events(t, data.events, clients)
    rate = len(data.events) / elapsed
    return Result("load", "ev/s", rate, samples=[rate])


def put_throughput(t: Target, seed: int, runs: int, batch: int, clients: int, first_run: int) -> Result:
    rates = []
    for r in range(runs):
        t.check_time()
        events = bench_data.extra_events(seed, first_run + r, batch)
        rates.append(batch / put_events(t, events, clients))
        client = t.client()
        for event in random.Random(r).sample(events, min(3, batch)):  # stored, and readable?
            resp = client.request("GET", t.href(event.name))
            if resp.status != 200 or event.uid.encode() not in resp.body.replace(b"\r\n ", b""):
                raise CheckFailed(f"GET after PUT {event.name}: HTTP {resp.status}")
        client.close()
    return Result(f"put{clients}", "ev/s", statistics.median(rates), samples=rates)


# Reads -------------------------------------------------------------------------------------
def propfind_etags(t: Target, runs: int) -> Result:
    client, times = t.client(), []
    expected = t.hrefs(t.names)
    for _ in range(runs):
        t.check_time()
        seconds, resp = timed(
            lambda: client.request("PROPFIND", t.calendar, PROPFIND_ETAG, {**XML_HEADERS, "Depth": "1"})
        )
        ms = parse_multistatus(resp)
        members = {m.href: m for m in ms.members if m.href.rstrip("/") != t.calendar.rstrip("/")}
        check_same(set(members), expected, "PROPFIND Depth 1")
        if any(not m.etag for m in members.values()):
            raise CheckFailed("PROPFIND Depth 1: a member without getetag")
        times.append(seconds)
    client.close()
    return ms_result("propfind", times)


def multiget(t: Target, runs: int, size: int, rng: random.Random) -> Result:
    client, times = t.client(), []
    for _ in range(runs):
        t.check_time()
        names = rng.sample(sorted(t.names), min(size, len(t.names)))
        body = multiget_body([t.href(n) for n in names])
        seconds, resp = timed(
            lambda b=body: client.request("REPORT", t.calendar, b, {**XML_HEADERS, "Depth": "1"})
        )
        members = parse_multistatus(resp).by_href()
        check_same(set(members), t.hrefs(names), "multiget")
        for name in names:
            check_data(members[t.href(name)], t.uids[name])
        times.append(seconds)
    client.close()
    return ms_result(f"multiget{size}", times)


def query(t: Target, metric: str, window, expected: set[str], runs: int) -> Result:
    client, times = t.client(), []
    body = query_body(bench_data.utc_stamp(window[0]), bench_data.utc_stamp(window[1]))
    for _ in range(runs):
        t.check_time()
        seconds, resp = timed(
            lambda: client.request("REPORT", t.calendar, body, {**XML_HEADERS, "Depth": "1"})
        )
        members = parse_multistatus(resp).by_href()
        check_same(set(members), t.hrefs(expected), f"calendar-query {metric}")
        for name in expected:
            check_data(members[t.href(name)], t.uids[name])
        times.append(seconds)
    client.close()
    return ms_result(metric, times)


def sync(client: Client, t: Target, token: str):
    resp = client.request("REPORT", t.calendar, sync_body(token), {**XML_HEADERS, "Depth": "0"})
    ms = parse_multistatus(resp)
    if not ms.sync_token:
        raise CheckFailed("sync-collection: no sync-token in the answer")
    return ms


def sync_initial(t: Target, runs: int) -> Result:
    client, times = t.client(), []
    for _ in range(runs):
        t.check_time()
        seconds, ms = timed(lambda: sync(client, t, ""))
        check_same({m.href for m in ms.members}, t.hrefs(t.names), "initial sync-collection")
        if any(m.status != 200 for m in ms.members):
            raise CheckFailed("initial sync-collection: a member without a 200 propstat")
        times.append(seconds)
    client.close()
    return ms_result("sync_initial", times)


def sync_incremental(t: Target, data: bench_data.Dataset, runs: int, rng: random.Random) -> Result:
    """Change 10 objects (SUMMARY only), then time the sync from the token before the changes."""
    client, times = t.client(), []
    by_name = {e.name: e for e in data.events}
    for _ in range(runs):
        t.check_time()
        token = sync(client, t, "").sync_token
        changed = rng.sample(sorted(by_name), min(10, len(by_name)))
        for name in changed:
            resp = client.request("PUT", t.href(name), by_name[name].modified(), {"Content-Type": ICS_TYPE})
            if resp.status not in (200, 201, 204):
                raise CheckFailed(f"changing PUT {name}: HTTP {resp.status} {resp.body[:160]!r}")
        seconds, ms = timed(lambda tok=token: sync(client, t, tok))
        check_same({m.href for m in ms.members}, t.hrefs(changed), "sync-collection after 10 changes")
        if any(m.status != 200 or not m.etag for m in ms.members):
            raise CheckFailed("sync-collection after 10 changes: a changed member without getetag")
        times.append(seconds)
    client.close()
    return ms_result("sync_incr", times)


def get_one(t: Target, count: int, rng: random.Random) -> tuple[Result, Result]:
    client, times = t.client(), []
    names = sorted(t.names & set(t.uids))
    for _ in range(count):
        t.check_time()
        name = rng.choice(names)
        seconds, resp = timed(lambda n=name: client.request("GET", t.href(n)))
        if resp.status != 200:
            raise CheckFailed(f"GET {name}: HTTP {resp.status}")
        if not resp.headers.get("content-type", "").startswith("text/calendar"):
            raise CheckFailed(f"GET {name}: Content-Type {resp.headers.get('content-type')}")
        if t.uids[name].encode() not in resp.body.replace(b"\r\n ", b""):
            raise CheckFailed(f"GET {name}: body without its UID")
        times.append(seconds)
    client.close()
    samples = [s * 1000 for s in times]
    p50 = Result("get_p50", "ms", statistics.median(samples), percentile(samples, 0.95), samples)
    return p50, Result("get_p95", "ms", percentile(samples, 0.95))


# Mixed load --------------------------------------------------------------------------------
def run_load(t: Target, ops: list[Callable], seconds: float, threads: int, metric: str) -> Result:
    """Each thread cycles through `ops` (op(client, rng)) until the time is up."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[tuple[str, str]] = []
    t.check_time()
    end = time.monotonic() + seconds

    def worker(k: int):
        rng, client = random.Random(k), t.client()
        i = k
        try:
            while time.monotonic() < end:
                op = ops[i % len(ops)]
                i += 1
                start = time.perf_counter()
                try:
                    op(client, rng)
                except CheckFailed as exc:
                    errors.append((op.__name__, str(exc)))
                latencies[k].append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001
            errors.append(("connection", f"{type(exc).__name__}: {exc}"))
        finally:
            client.close()

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    cpu_before = t.cpu()
    started = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    elapsed = time.perf_counter() - started
    cpu_after = t.cpu()
    all_ms = [x * 1000 for lat in latencies for x in lat]
    if errors:
        per_op: dict[str, list[str]] = {}
        for op_name, message in errors:
            per_op.setdefault(op_name, []).append(message)
        detail = "; ".join(f"{name} {len(msgs)}x, first: {msgs[0]}" for name, msgs in per_op.items())
        raise CheckFailed(f"{len(errors)} of {len(all_ms)} requests wrong: {detail}")
    # Where the request rate goes: the server's CPU per request (the client shares the cores).
    cpu_ms = (
        None
        if cpu_before is None or cpu_after is None or not all_ms
        else (cpu_after - cpu_before) * 1000 / len(all_ms)
    )
    return Result(metric, "req/s", len(all_ms) / elapsed, percentile(all_ms, 0.95), server_cpu_ms=cpu_ms)


def mixed(t: Target, week: set[str], seconds: float, threads: int, metric: str) -> Result:
    names = sorted(t.names & set(t.uids))
    client = t.client()
    token = sync(client, t, "").sync_token
    client.close()
    week_body = query_body(bench_data.utc_stamp(bench_data.WEEK[0]), bench_data.utc_stamp(bench_data.WEEK[1]))
    week_hrefs = t.hrefs(week)
    report = {**XML_HEADERS, "Depth": "1"}

    def get(client, rng):
        name = rng.choice(names)
        resp = client.request("GET", t.href(name))
        if resp.status != 200 or t.uids[name].encode() not in resp.body.replace(b"\r\n ", b""):
            raise CheckFailed(f"GET {name}: HTTP {resp.status}")

    def week_query(client, rng):
        ms = parse_multistatus(client.request("REPORT", t.calendar, week_body, report))
        check_same({m.href for m in ms.members if m.status == 200 and m.data}, week_hrefs, "week")

    def multiget10(client, rng):
        chosen = rng.sample(names, min(10, len(names)))
        resp = client.request("REPORT", t.calendar, multiget_body([t.href(n) for n in chosen]), report)
        ms = parse_multistatus(resp)
        check_same({m.href for m in ms.members if m.status == 200 and m.data}, t.hrefs(chosen), "multiget")

    def propfind0(client, rng):
        resp = client.request("PROPFIND", t.calendar, PROPFIND_CALENDAR, {**XML_HEADERS, "Depth": "0"})
        if len(parse_multistatus(resp).members) != 1:
            raise CheckFailed("PROPFIND Depth 0: not exactly one response")

    def no_change_sync(client, rng):
        ms = sync(client, t, token)
        if ms.members:
            raise CheckFailed(f"no-change sync-collection listed {len(ms.members)} members")

    return run_load(t, [get, week_query, multiget10, propfind0, no_change_sync], seconds, threads, metric)


def options(t: Target, seconds: float, threads: int, metric: str) -> Result:
    """The cheapest request a DAV server answers: what the framework costs before any work."""

    def options_calendar(client, rng):
        resp = client.request("OPTIONS", t.calendar)
        if resp.status not in (200, 204) or "1" not in resp.headers.get("dav", ""):
            raise CheckFailed(f"OPTIONS {t.calendar}: HTTP {resp.status}, DAV {resp.headers.get('dav')!r}")

    return run_load(t, [options_calendar], seconds, threads, metric)


def hello(t: Target, seconds: float, threads: int, metric: str) -> Result:
    def get_root(client, rng):
        resp = client.request("GET", "/")
        if resp.status != 200 or resp.body != b"hello":
            raise CheckFailed(f"GET /: HTTP {resp.status}")

    return run_load(t, [get_root], seconds, threads, metric)
