"""The change feed for the practice software: what devices created, changed, cancelled or
deleted, in order, from the change log, without reading our tables.

Each entry is the appointment's current state in the import format, so the practice software
upserts it and imports it back with its own id (`server_id` links a device-made appointment,
see importer). Entries are collapsed per appointment within a page (the state is the current
one anyway) and ordered by cursor, the change number: reading from the last cursor seen is
at-least-once, and reading a page twice gives the same upserts. Changes the practice made
(imports, settings) are not echoed back. Patients and locations are named by external id only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence

import peewee as pw

from providers.practice import api
from providers.practice.models import (
    STATUS_CANCELLED,
    ApiToken,
    Appointment,
    AppointmentOverride,
    Change,
    DeletedAppointment,
    Location,
    Patient,
    Practice,
    Practitioner,
    utcnow,
)

DEFAULT_RETENTION = dt.timedelta(days=30)
_CHUNK = 500


class CursorExpired(api.DataError):
    """The cursor is older than the feed keeps (HTTP 410): read the practice's state anew."""


def entries(
    since: int,
    practice_id: int | None = None,
    limit: int = 1000,
    retention: dt.timedelta = DEFAULT_RETENTION,
) -> list[dict]:
    """Device changes after cursor `since`, oldest first, at most `limit`, of one practice
    (its row id; None: every practice, for the admin's command line only)."""
    if since < 0:
        raise api.DataError("--since: a cursor is 0 or a number the feed gave")
    if since > 0:
        at = Change.select(Change.changed_at).where(Change.id == since).scalar()
        if at is None or at < utcnow() - retention:
            raise CursorExpired(f"cursor {since} is older than the feed keeps ({retention.days} days)")
    query = (
        Change.select(
            Change.practitioner,
            Change.resource_name,
            pw.fn.MAX(Change.id).alias("last"),
            pw.fn.MAX(Change.changed_at).alias("at"),
        )
        .join(Practitioner)
        .where((Change.by_device == True) & (Change.id > since) & (Change.resource_name != ""))  # noqa: E712
        .group_by(Change.practitioner, Change.resource_name)
        .order_by(pw.fn.MAX(Change.id))
        .limit(limit)
    )
    if practice_id is not None:
        query = query.where(Practitioner.practice == practice_id)
    found = list(query.tuples())
    keys = [(owner, name) for owner, name, _, _ in found]
    rows, first = _rows(keys), _first_changes(keys)
    gone = _deletions(keys, since, max((last for _, _, last, _ in found), default=since))
    result = []
    for owner, name, last, at in found:
        row = rows.get((owner, name))
        # Every appointment deleted at this URL in the page, other than the one there now
        # (a device may have created a new one under the name of the one it deleted).
        deleted = [d for d in gone.get((owner, name), []) if row is None or d[2] != row.id]
        result += [
            _deleted_entry(cursor, when, owner, appt_id, ext) for cursor, when, appt_id, ext in deleted
        ]
        if row is not None or not deleted:
            result.append(_entry(last, at, owner, row, first.get((owner, name), 0) > since))
    return sorted(result, key=lambda e: e["cursor"])


def practice_by_external_id(external_id: str) -> Practice | None:
    return Practice.get_or_none(Practice.external_id == external_id)


def practice_for_token(token: str) -> Practice | None:
    """The practice an API token belongs to, or None."""
    if not token:
        return None
    query = Practice.select().join(ApiToken).where(ApiToken.token_hash == api.api_token_hash(token))
    return query.first()


def _rows(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Appointment]:
    """The current rows behind (practitioner, resource name) pairs, with their references."""
    result = {}
    for chunk in _chunks(keys):
        query = (
            Appointment.select(Appointment, Practitioner, Patient, Location)
            .join_from(Appointment, Practitioner)
            .join_from(Appointment, Patient, pw.JOIN.LEFT_OUTER)
            .join_from(Appointment, Location, pw.JOIN.LEFT_OUTER)
            .where(
                Appointment.practitioner.in_({k[0] for k in chunk})
                & Appointment.resource_name.in_({k[1] for k in chunk})
            )
        )
        result.update({(a.practitioner_id, a.resource_name): a for a in query})
    overrides: dict[int, list] = {a.id: [] for a in result.values()}
    for chunk in _chunks(list(overrides)):
        for o in AppointmentOverride.select().where(AppointmentOverride.appointment.in_(chunk)):
            overrides[o.appointment_id].append(o)
    for a in result.values():
        a.override_rows = sorted(overrides[a.id], key=lambda o: o.recurrence_id)
    return result


def _first_changes(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """The first change number of each object: after the cursor, a device created it."""
    result = {}
    for chunk in _chunks(keys):
        query = (
            Change.select(Change.practitioner, Change.resource_name, pw.fn.MIN(Change.id))
            .where(
                Change.practitioner.in_({k[0] for k in chunk})
                & Change.resource_name.in_({k[1] for k in chunk})
            )
            .group_by(Change.practitioner, Change.resource_name)
        )
        result.update({(owner, name): first for owner, name, first in query.tuples()})
    return result


def _deletions(keys: Sequence[tuple[int, str]], since: int, upto: int) -> dict[tuple[int, str], list]:
    """{(practitioner, name): [(cursor, time, server id, external id)]} of the appointments
    whose rows were deleted by changes in (since, upto]."""
    result: dict[tuple[int, str], list] = {}
    for chunk in _chunks(keys):
        query = (
            DeletedAppointment.select(
                Change.practitioner,
                Change.resource_name,
                Change.id,
                Change.changed_at,
                DeletedAppointment.appointment_id,
                DeletedAppointment.external_id,
            )
            .join(Change)
            .where(
                (Change.id > since)
                & (Change.id <= upto)
                & Change.practitioner.in_({k[0] for k in chunk})
                & Change.resource_name.in_({k[1] for k in chunk})
            )
            .order_by(Change.id)
        )
        for owner, name, cursor, at, appt_id, ext in query.tuples():
            result.setdefault((owner, name), []).append((cursor, at, appt_id, ext))
    return result


def _chunks(values: Sequence) -> Iterator[Sequence]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _deleted_entry(cursor: int, at: dt.datetime, owner: int, server_id: int | None, ext: str | None) -> dict:
    """sync.device_delete: delete removed the row: the entry names the appointment as the
    change recorded it (its external id, or only the server id of a device-made one)."""
    practitioner = Practitioner.get_or_none(Practitioner.id == owner)
    return {
        "cursor": cursor,
        "time": _utc(at),
        "kind": "deleted",
        "practitioner": practitioner and _practitioner_id(practitioner),
        "id": ext,
        "server_id": server_id,
    }


def _entry(cursor: int, at: dt.datetime, owner: int, row: Appointment | None, created: bool) -> dict:
    if row is None:  # deleted before deletions were recorded (schema 5): nothing names it
        return _deleted_entry(cursor, at, owner, None, None)
    entry: dict = {"cursor": cursor, "time": _utc(at)}
    kind = "cancelled" if row.status == STATUS_CANCELLED else "created" if created else "changed"
    entry.update(
        kind=kind,
        practitioner=_practitioner_id(row.practitioner),
        id=row.external_id,
        server_id=row.id,
        appointment=_as_import_record(row),
    )
    return entry


def _practitioner_id(p: Practitioner) -> str:
    return p.external_id or p.username


def _utc(value: dt.datetime) -> str:
    if isinstance(value, str):  # SQLite's MAX() of a text column comes back unparsed
        value = Change.changed_at.python_value(value)
    return value.replace(microsecond=0).isoformat() + "Z"


def _local(value: dt.datetime, all_day: bool) -> str:
    return value.date().isoformat() if all_day else value.isoformat()


def _as_import_record(a: Appointment) -> dict:
    """The appointment as an `appointments[]` record of the import format (without `id`, which
    is the practice software's to give; `server_id` links it on import)."""
    record: dict = {
        "server_id": a.id,
        "practitioner": _practitioner_id(a.practitioner),
        "patient": a.patient.external_id if a.patient_id else None,
        "location": a.location.external_id if a.location_id else None,
        "subject": a.subject,
        "notes": a.notes,
        "status": a.status,
        "start": _local(a.start_local, a.all_day),
        "end": _local(a.end_local, a.all_day),
        "tzid": a.tzid,
        "all_day": a.all_day,
    }
    if a.rrule:
        record["rrule"] = a.rrule
        record["exdates"] = [_local(dt.datetime.fromisoformat(x), a.all_day) for x in json.loads(a.exdates)]
        record["rdates"] = [_local(dt.datetime.fromisoformat(x), a.all_day) for x in json.loads(a.rdates)]
        record["overrides"] = [
            {
                "recurrence_id": _local(o.recurrence_id, a.all_day),
                "start": _local(o.start_local, a.all_day),
                "end": _local(o.end_local, a.all_day),
                "status": o.status,
                **({"subject": o.subject} if o.subject is not None else {}),
            }
            for o in a.override_rows
        ]
    return {k: v for k, v in record.items() if v is not None}
