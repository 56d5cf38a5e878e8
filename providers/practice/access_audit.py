"""The access audit: per practitioner, device and hour, how many requests of each kind.

Counted in memory per process and added to the hour's row with one upsert per key (so
processes add up), at most every FLUSH_SECONDS and whenever the hour turns. Rows older than
the retention are deleted at the first flush of each hour.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass

from providers.practice.models import AccessAudit, Practitioner, utcnow

KINDS = ("sync", "read", "write", "refused", "objects_written")
FLUSH_SECONDS = 10.0
MAX_KEYS = 5_000  # flushed early beyond this: memory stays bounded under any load


@dataclass(frozen=True)
class AuditKey:
    practitioner_id: int
    device_key: int  # 0: the practice password
    hour: dt.datetime
    family: str
    address: str


class AuditLog:
    def __init__(self, retention_days: int = 90) -> None:
        self.retention_days = retention_days
        self._counts: dict[AuditKey, Counter] = {}
        self._lock = threading.Lock()
        self._flushed = time.monotonic()
        self._pruned_hour: dt.datetime | None = None

    def count(self, key: AuditKey, kind: str, objects_written: int = 0) -> None:
        with self._lock:
            counter = self._counts.setdefault(key, Counter())
            counter[kind] += 1
            counter["objects_written"] += objects_written
            due = len(self._counts) > MAX_KEYS or time.monotonic() - self._flushed > FLUSH_SECONDS
            due = due or any(k.hour != key.hour for k in self._counts)
        if due:
            self.flush()

    def flush(self) -> None:
        """Add the counts so far to their rows (one upsert each), then prune once an hour."""
        with self._lock:
            counts, self._counts = self._counts, {}
            self._flushed = time.monotonic()
        for key, counter in counts.items():
            values = {kind: counter.get(kind, 0) for kind in KINDS}
            AccessAudit.insert(
                practitioner=key.practitioner_id,
                device_key=key.device_key,
                hour=key.hour,
                family=key.family,
                address=key.address[:64],
                **values,
            ).on_conflict(
                conflict_target=[AccessAudit.practitioner, AccessAudit.device_key, AccessAudit.hour],
                update={
                    AccessAudit.family: key.family,
                    AccessAudit.address: key.address[:64],
                    **{getattr(AccessAudit, k): getattr(AccessAudit, k) + v for k, v in values.items()},
                },
            ).execute()
        hour = current_hour()
        if self._pruned_hour != hour:
            self._pruned_hour = hour
            prune(self.retention_days)


def current_hour(now: dt.datetime | None = None) -> dt.datetime:
    return (now or utcnow()).replace(minute=0, second=0, microsecond=0)


def prune(retention_days: int, now: dt.datetime | None = None) -> int:
    limit = current_hour(now) - dt.timedelta(days=retention_days)
    return AccessAudit.delete().where(AccessAudit.hour < limit).execute()


def rows_of(practitioner: Practitioner, limit: int = 48) -> list[AccessAudit]:
    """The practitioner's newest audit rows."""
    return list(
        AccessAudit.select()
        .where(AccessAudit.practitioner == practitioner.id)
        .order_by(AccessAudit.hour.desc(), AccessAudit.device_key)
        .limit(limit)
    )


def rows_of_practitioners(practitioner_ids: list[int], limit: int = 48) -> list[AccessAudit]:
    """The newest audit rows of several practitioners (the admin view: one practice)."""
    if not practitioner_ids:
        return []
    return list(
        AccessAudit.select()
        .where(AccessAudit.practitioner.in_(practitioner_ids))
        .order_by(AccessAudit.hour.desc(), AccessAudit.practitioner, AccessAudit.device_key)
        .limit(limit)
    )
