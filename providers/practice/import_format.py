"""The import format's checks beyond its JSON Schema (import_schema: types, required and
unknown keys): references between records, IANA zones, real dates, the rrule grammar. Each
error is one line naming its JSON path (`appointments[17].start: ...`), never patient data;
records are parsed into data-API fields.

See README, "Import format". Nothing here writes: the importer calls these before each write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from typing import Any

import icalendar
import peewee as pw
from dateutil import rrule as du_rrule

from providers.practice import api, validation
from providers.practice.models import Location, Patient
from providers.practice.series import _until_as_local


class ImportError_(api.DataError):
    """Invalid import data; the message names the record and field (never patient data)."""


def required(record: dict, key: str, where: str) -> Any:
    value = record.get(key)
    if value in (None, ""):
        raise ImportError_(f"{where}.{key}: missing")
    return value


# What the import sets on an existing practitioner as well as on a new one.
PRACTITIONER_SETTINGS = (
    "display_name",
    "email",
    "pseudonymize",
    "include_phone",
    "direction",
    "is_admin",
    "may_relax",
)


def _rrule(value: Any, start: dt.datetime, tzid: str | None, where: str) -> str | None:
    """A recurrence rule both the renderer and the series expansion can read, else a clear error."""
    if value in (None, ""):
        return None
    if not _readable_rrule(value, tzid):
        raise ImportError_(f"{where}.rrule: not a valid recurrence rule")
    return value


# Whether a rule parses does not depend on the series' start; an export repeats a few rules
# thousands of times, and parsing them was a noticeable part of an import.
_ANY_START = dt.datetime(2000, 1, 3, 9, 0)


@functools.lru_cache(maxsize=1024)
def _readable_rrule(value: str, tzid: str | None) -> bool:
    try:
        if not icalendar.vRecur.from_ical(value).get("FREQ"):
            return False
        du_rrule.rrulestr(_until_as_local(value, tzid), dtstart=_ANY_START, ignoretz=True)
    except (ValueError, TypeError):
        return False
    return True


@contextlib.contextmanager
def naming_record(where: str):
    """Every error of a record names the record (index and field), never with a traceback."""
    try:
        yield
    except ImportError_:
        raise
    except api.DataError as exc:
        raise ImportError_(f"{where}: {exc}") from None
    except pw.IntegrityError:
        raise ImportError_(f"{where}: duplicate id, user name or number") from None
    except pw.DataError:  # PostgreSQL: a text longer than its column
        raise ImportError_(f"{where}: a value is too long for the database") from None


def local_time(value: Any, where: str, all_day: bool = False) -> dt.datetime:
    try:
        if all_day and len(str(value)) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(str(value)), dt.time())
        else:
            parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ImportError_(f"{where}: not an ISO date-time: {value!r}") from None
    if parsed.tzinfo is not None:
        raise ImportError_(f"{where}: give local wall-clock time and a tzid, not an offset")
    return parsed


def check_zone(name: str, where: str) -> None:
    """An IANA zone name (Europe/Vienna), checked when read: "CET+1" is a POSIX TZ string."""
    try:
        validation.check_tzid(name, where)
    except validation.InvalidValue as exc:
        raise ImportError_(str(exc)) from None


def appointment_fields(practice, rec, where, practitioners, patients, locations):
    """(practitioner, patient id, fields) of one appointment record, or an error naming the field."""
    practitioner = practitioners.get(str(required(rec, "practitioner", where)))
    if practitioner is None:
        raise ImportError_(f"{where}.practitioner: unknown practitioner id")
    patient = patients.get(str(rec["patient"])) if rec.get("patient") is not None else None
    if rec.get("patient") is not None and patient is None:
        raise ImportError_(f"{where}.patient: unknown patient id")
    location = locations.get(str(rec["location"])) if rec.get("location") is not None else None
    if rec.get("location") is not None and location is None:
        raise ImportError_(f"{where}.location: unknown location id")
    all_day = bool(rec.get("all_day", False))
    start = local_time(required(rec, "start", where), f"{where}.start", all_day)
    end = local_time(required(rec, "end", where), f"{where}.end", all_day)
    if end < start:
        raise ImportError_(f"{where}.end: before the start")
    tzid = rec.get("tzid", practice.timezone)
    if "tzid" in rec:
        check_zone(tzid, f"{where}.tzid")
    rrule = _rrule(rec.get("rrule"), start, None if all_day else tzid, where)
    overrides = []
    for i, o in enumerate(rec.get("overrides") or []):
        ow = f"{where}.overrides[{i}]"
        rid = local_time(required(o, "recurrence_id", ow), f"{ow}.recurrence_id", all_day)
        o_start = local_time(o["start"], f"{ow}.start", all_day) if o.get("start") else rid
        o_end = local_time(o["end"], f"{ow}.end", all_day) if o.get("end") else o_start + (end - start)
        overrides.append(
            api.OverrideFields(
                rid, o_start, o_end, tzid, all_day, o.get("status", "confirmed"), o.get("subject")
            )
        )
    fields = api.AppointmentFields(
        start_local=start,
        end_local=end,
        tzid=tzid,
        all_day=all_day,
        subject=rec.get("subject", ""),
        notes=rec.get("notes", ""),
        status=rec.get("status", "confirmed"),
        location=_row(Location, location) if location is not None else None,
        rrule=rrule,
        exdates=[local_time(x, f"{where}.exdates", all_day) for x in rec.get("exdates") or []],
        rdates=[local_time(x, f"{where}.rdates", all_day) for x in rec.get("rdates") or []],
        overrides=overrides,
    )
    return practitioner, (_row(Patient, patient) if patient is not None else None), fields


@functools.lru_cache(maxsize=8192)
def _row(model: type, row_id: int):
    """A reference to a row by id, shared by the appointments that name it (never changed):
    building one model object per appointment took a tenth of a re-import."""
    return model(id=row_id)
