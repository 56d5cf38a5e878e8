"""The render cache: thread-safe LRUs, one per kind of entry, each bounded by entries and
by (estimated) bytes and counting its hits.

It holds rendered objects, their responses' text, parsed time skeletons and small answers
of reports. Each kind has a key type of its own (below); the key carries the row's
revision (and the render policy where the content depends on it), so an entry is never
stale, and the least recently used entries of a kind go when either of its bounds is
exceeded. One kind never pushes out another (a burst of query answers does not evict the
renderings). Bytes values count their length; anything else counts what the caller says
it costs (a rough estimate of its Python objects), so a server with 100,000 objects keeps
a fixed memory budget whatever its clients ask for.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Per entry: the key tuple, the OrderedDict link and the value's object header.
ENTRY_OVERHEAD = 160
DEFAULT_COST = 64


class RenderKey(NamedTuple):
    """A row's rendered iCalendar as one render policy shows it (bytes)."""

    appt_id: int
    revision: int
    policy: Hashable


class ResponseKey(NamedTuple):
    """What follows the href in a row's multistatus response of one template (bytes)."""

    appt_id: int
    revision: int
    policy: Hashable
    template: int


class SkeletonKey(NamedTuple):
    """The time skeleton of a row's rendering (bytes): the same for every policy."""

    appt_id: int
    revision: int


class InRangeKey(NamedTuple):
    """Whether a row has an instance in [start, end) in zone `tz` (bool)."""

    appt_id: int
    revision: int
    start: dt.datetime | None
    end: dt.datetime | None
    tz: str


class QueryKey(NamedTuple):
    """The members matching one calendar-query filter at one change of the calendar."""

    owner_id: int
    change: int
    serve_cancelled: bool
    filter: Hashable
    tz: str
    policy: Hashable


@dataclass(frozen=True)
class Budget:
    entries: int
    bytes: int


MIB = 1024 * 1024
# 24 MiB in all. Renderings and response texts are what a repeated query or multiget
# reads; a query answer gets room for a few large weeks (docs/benchmarks/code-decisions.md).
BUDGETS: Mapping[type, Budget] = {
    RenderKey: Budget(20_000, 8 * MIB),
    ResponseKey: Budget(20_000, 8 * MIB),
    SkeletonKey: Budget(20_000, 2 * MIB),
    InRangeKey: Budget(20_000, 1 * MIB),
    QueryKey: Budget(1_000, 5 * MIB),
}


@dataclass
class KindStats:
    """One kind's LRU: its bounds, what it holds and how often it answered."""

    budget: Budget
    entries: OrderedDict = field(default_factory=OrderedDict)  # key -> (value, cost)
    bytes: int = 0
    hits: int = 0
    misses: int = 0


class RenderCache:
    """Bounded LRUs of rendered objects and report parts, one per key type, safe across threads."""

    def __init__(self, budgets: Mapping[type, Budget] = BUDGETS):
        self._kinds = {key_type: KindStats(budget) for key_type, budget in budgets.items()}
        self._lock = threading.Lock()
        self._flights: dict = {}  # key -> [lock, threads using it]

    def _kind(self, key: tuple) -> KindStats:
        try:
            return self._kinds[type(key)]
        except KeyError:
            raise TypeError(f"not a render cache key: {key!r}") from None

    def get(self, key: tuple, default: Any = None) -> Any:
        kind = self._kind(key)
        with self._lock:
            entry = kind.entries.get(key)
            if entry is None:
                kind.misses += 1
                return default
            kind.hits += 1
            kind.entries.move_to_end(key)
            return entry[0]

    def get_many(self, keys: list[tuple]) -> list:
        """get() of every key of one kind (None where missing), under one acquisition of the lock."""
        if not keys:
            return []
        kind = self._kind(keys[0])
        with self._lock:
            get, touch = kind.entries.get, kind.entries.move_to_end
            out = []
            for key in keys:
                entry = get(key)
                if entry is None:
                    out.append(None)
                else:
                    touch(key)
                    out.append(entry[0])
            found = len(keys) - out.count(None)
            kind.hits += found
            kind.misses += len(keys) - found
            return out

    def put(self, key: tuple, value: Any, cost: int | None = None) -> None:
        """Store `value`; `cost` estimates its size in bytes (bytes values: their length)."""
        kind = self._kind(key)
        if cost is None:
            cost = len(value) if isinstance(value, bytes | str) else DEFAULT_COST
        cost += ENTRY_OVERHEAD
        if cost > kind.budget.bytes // 4:
            return  # never let one answer push out a quarter of its kind
        with self._lock:
            entries = kind.entries
            old = entries.pop(key, None)
            if old is not None:
                kind.bytes -= old[1]
            entries[key] = (value, cost)
            kind.bytes += cost
            while len(entries) > kind.budget.entries or kind.bytes > kind.budget.bytes:
                _, (_, dropped) = entries.popitem(last=False)
                kind.bytes -= dropped

    @contextmanager
    def computing(self, key: tuple) -> Iterator[None]:
        """Held while a thread computes what will be cached under `key`: a second thread
        asking for the same key waits here, then finds it cached (check again inside).

        Without it, devices asking the same cold week each rendered the same objects at
        once, in memory and CPU, for one answer (docs/benchmarks/code-decisions.md).
        """
        self._kind(key)
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = [threading.Lock(), 0]
            flight[1] += 1
        try:
            with flight[0]:
                yield
        finally:
            with self._lock:
                flight[1] -= 1
                if not flight[1]:
                    del self._flights[key]

    def stats(self) -> dict[str, tuple[int, int, int, int]]:
        """(hits, misses, entries, bytes) per kind, by the key type's name."""
        with self._lock:
            return {
                key_type.__name__: (kind.hits, kind.misses, len(kind.entries), kind.bytes)
                for key_type, kind in self._kinds.items()
            }

    def __len__(self) -> int:
        return sum(len(kind.entries) for kind in self._kinds.values())

    @property
    def bytes(self) -> int:
        return sum(kind.bytes for kind in self._kinds.values())

    def clear(self) -> None:
        with self._lock:
            for kind in self._kinds.values():
                kind.entries.clear()
                kind.bytes = 0
