"""The change log: every change of a calendar is a row, written in the transaction of the change;
the calendar's sync token and ctag are its newest change number."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

import peewee as pw

from providers.practice.models import (
    Appointment,
    Change,
    database_proxy,
)
from providers.sql import inserts
from providers.sql.dialect import dialect_of


@dataclass
class DeviceWrites:
    """What a device's request logged (the change feed's webhook fires only if anything)."""

    count: int = 0


_device_request: contextvars.ContextVar[DeviceWrites | None] = contextvars.ContextVar(
    "device_request", default=None
)


@contextlib.contextmanager
def device_request() -> Iterator[DeviceWrites]:
    """Changes logged inside are a device's (the change feed reports them to the practice)."""
    writes = DeviceWrites()
    token = _device_request.set(writes)
    try:
        yield writes
    finally:
        _device_request.reset(token)


def _change(
    practitioner_id: int, resource_name: str, deleted: bool = False, practice_data: bool = True
) -> Change:
    """A change-log row; inside a device's request it is the feed's unless it changed no
    practice data (`practice_data=False`: an alarm or category edit)."""
    writes = _device_request.get()
    by_device = writes is not None and practice_data
    if by_device:
        writes.count += 1
    return Change(
        practitioner=practitioner_id,
        resource_name=resource_name,
        deleted=deleted,
        by_device=by_device,
    )


def _log_change(
    practitioner_id: int, resource_name: str, deleted: bool = False, practice_data: bool = True
) -> int:
    """Append to the change log; callers hold a transaction that also carries the change.

    On PostgreSQL, sequence values are handed out at insert but become visible at commit, so
    two writers of one calendar could commit out of order and a sync token taken in between
    would skip a change forever. A per-calendar transaction lock makes change ids of one
    calendar commit in order. (SQLite already serialises writers on its database lock.)
    The lock is taken by the INSERT itself, in a subquery whose row the insert reads, so the
    sequence value is drawn after the lock is held (EXPLAIN: nextval is projected above the
    lock's Result node) and the write needs no round trip of its own for it.
    """
    row = _change(practitioner_id, resource_name, deleted, practice_data)
    if dialect_of(database_proxy.obj).needs_change_lock:
        return inserts.insert(row, advisory_lock=practitioner_id)
    return inserts.insert(row)


def republish(condition: pw.Expression) -> int:
    """Give every matching appointment a new revision and a change-log row (render inputs changed)."""
    rows = list(
        Appointment.select(Appointment.id, Appointment.practitioner, Appointment.resource_name)
        .where(condition)
        .tuples()
    )
    for appt_id, practitioner_id, resource_name in rows:
        change_id = _log_change(practitioner_id, resource_name)
        Appointment.update(revision=change_id).where(Appointment.id == appt_id).execute()
    return len(rows)


def transaction():
    """One transaction around several data-API calls (savepoints inside): all or nothing."""
    return database_proxy.atomic()
