"""The render cache: a thread-safe LRU bounded by entries and by (estimated) bytes.

It holds rendered objects, their escaped XML text, parsed time skeletons and small
answers of reports. Keys carry the row's revision (and the render policy where the
content depends on it), so an entry is never stale; the least recently used ones go when
either bound is exceeded. Bytes values count their length; anything else counts what the
caller says it costs (a rough estimate of its Python objects), so a server with 100,000
objects keeps a fixed memory budget whatever its clients ask for.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

# Per entry: the key tuple, the OrderedDict link and the value's object header.
ENTRY_OVERHEAD = 160
DEFAULT_COST = 64


class RenderCache:
    """Bounded LRU of rendered objects (and parsed time skeletons), safe across threads."""

    def __init__(self, size: int = 20_000, max_bytes: int = 24 * 1024 * 1024):
        self.size, self.max_bytes = size, max_bytes
        self.bytes = 0
        self._entries: OrderedDict = OrderedDict()  # key -> (value, cost)
        self._lock = threading.Lock()
        self._flights: dict = {}  # key -> [lock, threads using it]

    def get(self, key, default=None):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return default
            self._entries.move_to_end(key)
            return entry[0]

    def get_many(self, keys: list) -> list:
        """get() of every key (None where missing), under one acquisition of the lock."""
        with self._lock:
            get, touch = self._entries.get, self._entries.move_to_end
            out = []
            for key in keys:
                entry = get(key)
                if entry is None:
                    out.append(None)
                else:
                    touch(key)
                    out.append(entry[0])
            return out

    def put(self, key, value, cost: int | None = None) -> None:
        """Store `value`; `cost` estimates its size in bytes (bytes values: their length)."""
        if cost is None:
            cost = len(value) if isinstance(value, bytes | str) else DEFAULT_COST
        cost += ENTRY_OVERHEAD
        if cost > self.max_bytes // 4:
            return  # never let one answer push out a quarter of the cache
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._entries[key] = (value, cost)
            self.bytes += cost
            while len(self._entries) > self.size or self.bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped

    @contextmanager
    def computing(self, key) -> Iterator[None]:
        """Held while a thread computes what will be cached under `key`: a second thread
        asking for the same key waits here, then finds it cached (check again inside).

        Eight devices' connections asking the same cold week at N=100,000 each rendered
        the same 1,500 objects at once: 13 MiB a thread and seconds of CPU, for one answer.
        """
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

    def __setitem__(self, key, value) -> None:
        self.put(key, value)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0
