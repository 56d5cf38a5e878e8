"""The render cache's counters in /metrics (davserver/metrics.py), without a server."""

from __future__ import annotations

import subprocess
import sys

from davserver import metrics
from providers.render_cache import QueryKey, RenderCache, RenderKey, SkeletonKey

_METRICS = {
    "praxis_caldav_render_cache_lookups_total": metrics.CACHE_LOOKUPS,
    "praxis_caldav_render_cache_entries": metrics.CACHE_ENTRIES,
    "praxis_caldav_render_cache_bytes": metrics.CACHE_BYTES,
}


def _sample(name: str, **labels: str) -> float | None:
    """A sample as /metrics shows it (the registry as a whole would also read the database)."""
    for family in _METRICS[name].collect():
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def _value(name: str, **labels: str) -> float:
    return _sample(name, **labels) or 0.0


def test_each_lookup_is_counted_once_by_kind_and_outcome() -> None:
    cache = RenderCache()
    publisher = metrics._CachePublisher(cache.stats)
    key = RenderKey(1, 7, "policy-metrics-test")
    hits = ("praxis_caldav_render_cache_lookups_total", {"kind": "RenderKey", "outcome": "hit"})
    misses = ("praxis_caldav_render_cache_lookups_total", {"kind": "RenderKey", "outcome": "miss"})
    hits_before, misses_before = _value(hits[0], **hits[1]), _value(misses[0], **misses[1])
    assert cache.get(key) is None
    cache.put(key, b"BEGIN:VCALENDAR")
    assert cache.get(key) == b"BEGIN:VCALENDAR"
    assert cache.get_many([key, key]) == [b"BEGIN:VCALENDAR"] * 2
    publisher.publish()
    publisher.publish()  # nothing new: nothing added twice
    assert _value(hits[0], **hits[1]) - hits_before == 3
    assert _value(misses[0], **misses[1]) - misses_before == 1
    assert _value("praxis_caldav_render_cache_entries", kind="RenderKey") == 1
    assert _value("praxis_caldav_render_cache_bytes", kind="RenderKey") == cache.stats()["RenderKey"][3]
    cache.clear()
    publisher.publish()
    assert _value("praxis_caldav_render_cache_entries", kind="RenderKey") == 0
    assert _value("praxis_caldav_render_cache_bytes", kind="RenderKey") == 0
    assert _value(hits[0], **hits[1]) - hits_before == 3  # a clear is no lookup


def test_every_kind_of_the_cache_is_exported() -> None:
    cache = RenderCache()
    metrics._CachePublisher(cache.stats).publish()
    for kind in ("RenderKey", "ResponseKey", "SkeletonKey", "InRangeKey", "QueryKey"):
        assert _sample("praxis_caldav_render_cache_entries", kind=kind) is not None
    assert {SkeletonKey.__name__, QueryKey.__name__} <= set(cache.stats())


def test_gauges_of_exited_workers_are_dropped(tmp_path) -> None:
    """livesum adds up every worker's file; a restarted worker's must not count twice."""
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead = int(exited.stdout)
    for pid in (dead, metrics.os.getpid()):
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
    (tmp_path / f"counter_{dead}.db").write_bytes(b"")  # counters of exited workers still count
    metrics._forget_dead_workers(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"gauge_livesum_{metrics.os.getpid()}.db", f"counter_{dead}.db"]
    )
