"""/metrics in Prometheus text format, for the addresses in `metrics_allow` only.

Requests by method, status and client family (iOS, DAVx5, ...: never a user or a path),
latency histograms by method, database outages, failed logins, devices seen in the last
day, and the render cache's hits, misses, entries and bytes by kind. With `serve
--processes N` the workers write their counters to files in PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode) and any worker answers for all of them.
"""

from __future__ import annotations

import datetime as dt
import glob
import ipaddress
import os
import threading
import time
from collections.abc import Callable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from davserver.config import parse_allowlist
from davserver.errors import text_response
from davserver.settings_page.devices import user_agent_family

PATH = "/metrics"
# Method labels: the ones a calendar client sends; anything else counts as "other".
_METHODS = frozenset("GET HEAD PUT DELETE OPTIONS PROPFIND PROPPATCH REPORT MKCOL MOVE COPY POST".split())

REQUESTS = Counter("praxis_caldav_requests", "Requests answered", ["method", "status", "client"])
LATENCY = Histogram(
    "praxis_caldav_request_duration_seconds",
    "Time from the request to the end of its answer",
    ["method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DATABASE_UNAVAILABLE = Counter(
    "praxis_caldav_database_unavailable", "Requests answered 503 because the database could not serve"
)
PUSH_MESSAGES = Counter(
    "praxis_caldav_push_messages", "WebDAV-Push messages to push services, by outcome", ["outcome"]
)
LOGIN_FAILURES = Counter("praxis_caldav_login_failures", "Requests with credentials that were refused (401)")
CACHE_LOOKUPS = Counter(
    "praxis_caldav_render_cache_lookups",
    "Render cache lookups by kind and outcome (hit, miss)",
    ["kind", "outcome"],
)
# livesum: with --processes N each worker has a cache of its own; /metrics adds up the live ones.
CACHE_ENTRIES = Gauge(
    "praxis_caldav_render_cache_entries",
    "Entries in the render cache, by kind",
    ["kind"],
    multiprocess_mode="livesum",
)
CACHE_BYTES = Gauge(
    "praxis_caldav_render_cache_bytes",
    "Estimated bytes the render cache holds, by kind",
    ["kind"],
    multiprocess_mode="livesum",
)

# RenderCache.stats(): (hits, misses, entries, bytes) by the kind's name.
CacheStats = Callable[[], Mapping[str, tuple[int, int, int, int]]]


class _CachePublisher:
    """Copies the render cache's own counters into the Prometheus metrics.

    The cache counts under its lock on every lookup; a Prometheus counter there would cost
    the hot path a second lock (and an mmap write per lookup with --processes N). This adds
    what changed since the last call, once per request and before a scrape.
    """

    def __init__(self, stats: CacheStats) -> None:
        self._stats = stats
        self._seen: dict[str, tuple[int, int, int, int]] = {}
        self._lock = threading.Lock()

    def publish(self) -> None:
        with self._lock:
            for kind, now in self._stats().items():
                before = self._seen.get(kind)
                if now == before:
                    continue
                hits, misses, entries, size = now
                old_hits, old_misses, old_entries, old_size = before or (0, 0, -1, -1)
                if hits > old_hits:
                    CACHE_LOOKUPS.labels(kind, "hit").inc(hits - old_hits)
                if misses > old_misses:
                    CACHE_LOOKUPS.labels(kind, "miss").inc(misses - old_misses)
                if entries != old_entries:
                    CACHE_ENTRIES.labels(kind).set(entries)
                if size != old_size:
                    CACHE_BYTES.labels(kind).set(size)
                self._seen[kind] = now


def _forget_dead_workers(path: str) -> None:
    """Drop the cache gauges of workers that have exited (restarted, reloaded): livesum
    counts every file in the directory, and the supervisor does not tell prometheus_client."""
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = int(name.rsplit("_", 1)[1].removesuffix(".db"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)
        except PermissionError:
            pass  # alive, another user's


class _DevicesCollector:
    """Devices seen in the last 24 hours by client family, read from the database at scrape."""

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "praxis_caldav_devices_active", "Devices that synced in the last 24 hours", labels=["client"]
        )

    def describe(self):
        """What collect() yields, without reading the database (asked at registration)."""
        yield self._family()

    def collect(self):
        from providers.practice import api

        family = self._family()
        since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1)
        counts = api.active_devices(since)
        for name, count in sorted(counts.items()):
            family.add_metric([name], count)
        yield family


_DEVICES = _DevicesCollector()
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    REGISTRY.register(_DEVICES)


class MetricsMiddleware:
    """Records every request; answers /metrics to allowed addresses (404 to anyone else)."""

    def __init__(self, app, allow: str, cache_stats: CacheStats | None = None):
        self.app = app
        self.allowed = parse_allowlist(allow)
        self._cache = _CachePublisher(cache_stats) if cache_stats is not None else None

    def __getattr__(self, name: str):
        return getattr(self.app, name)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH:
            return self._scrape(environ, start_response)
        started = time.perf_counter()
        status: list[str] = []

        def recording(status_text, headers, exc_info=None):
            status[:] = [status_text]
            return start_response(status_text, headers, exc_info)

        result = self.app(environ, recording)
        return _Recorded(result, lambda: self._record(environ, status, started))

    def _record(self, environ, status: list[str], started: float) -> None:
        method = environ.get("REQUEST_METHOD", "").upper()
        method = method if method in _METHODS else "other"
        code = status[0].split(" ", 1)[0] if status else "none"
        REQUESTS.labels(method, code, user_agent_family(environ.get("HTTP_USER_AGENT"))).inc()
        LATENCY.labels(method).observe(time.perf_counter() - started)
        if code == "503" and environ.get("praxis.database_unavailable"):
            DATABASE_UNAVAILABLE.inc()
        if code == "401" and environ.get("HTTP_AUTHORIZATION"):
            LOGIN_FAILURES.inc()
        if self._cache is not None:
            self._cache.publish()

    def _scrape(self, environ, start_response):
        try:  # behind a trusted proxy the address it reports, not the proxy's own
            client = ipaddress.ip_address(environ.get("praxis.client") or environ.get("REMOTE_ADDR", ""))
        except ValueError:
            client = None
        if client is None or not any(client in network for network in self.allowed):
            return text_response(start_response, 404, "not found")
        if self._cache is not None:
            self._cache.publish()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            _forget_dead_workers(os.environ["PROMETHEUS_MULTIPROC_DIR"])
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            registry.register(_DEVICES)
        else:
            registry = REGISTRY
        body = generate_latest(registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]


class _Recorded:
    """The inner answer, with `done` called once it was sent (or abandoned)."""

    def __init__(self, result, done):
        self._result, self._done = result, done

    def __iter__(self):
        yield from self._result

    def close(self) -> None:
        try:
            if hasattr(self._result, "close"):
                self._result.close()
        finally:
            self._done()
