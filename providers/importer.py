"""JSON import of practice data: upserts by external ID, idempotent, through the data API.

Format (see README, "Import format"):
{"practice": {"id", "name", "timezone"?},
 "practitioners": [{"id", "username", "display_name"?, "email"?, "password", ...settings}],
 "patients": [{"id", "patient_number", "first_name", "last_name", "phone"?}],
 "locations": [{"id", "name", "address"?}],
 "appointments": [{"id", "practitioner", "patient"?, "location"?, "subject"?, "notes"?,
                   "status"?, "start", "end", "tzid"?, "all_day"?, "rrule"?, "exdates"?,
                   "rdates"?, "overrides"?: [{"recurrence_id", "start"?, "end"?, "status"?,
                                              "subject"?}]}]}
Initial passwords are set only when a practitioner is created; re-importing never resets one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import json
from dataclasses import dataclass
from typing import Any

import icalendar
import peewee as pw
from dateutil import rrule as du_rrule

from providers import practice_api as api
from providers import practitioner_cache
from providers.models import Appointment, Patient, Practice, Practitioner, database_proxy
from providers.series import _until_as_local


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


class ImportError_(api.DataError):
    """Invalid import data; the message names the record and field (never patient data)."""


def _req(record: dict, key: str, where: str) -> Any:
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
# Every key the format has, per kind of record: a key not listed (a typo such as
# "pseudonymise") is refused rather than ignored, since ignoring it may leave names in clear.
KNOWN_KEYS = {
    "top level": {"practice", "practitioners", "patients", "locations", "appointments"},
    "practice": {"id", "name", "timezone"},
    "practitioners": {"id", "username", "password", *PRACTITIONER_SETTINGS},
    "patients": {"id", "patient_number", "first_name", "last_name", "phone"},
    "locations": {"id", "name", "address"},
    "appointments": {
        "id",
        "practitioner",
        "patient",
        "location",
        "subject",
        "notes",
        "status",
        "start",
        "end",
        "tzid",
        "all_day",
        "rrule",
        "exdates",
        "rdates",
        "overrides",
    },
    "overrides": {"recurrence_id", "start", "end", "status", "subject"},
}


def _known_keys(rec: dict, kind: str, where: str) -> None:
    """Refuse a key the format does not have, naming the nearest one it does."""
    for key in rec:
        if key not in KNOWN_KEYS[kind]:
            near = difflib.get_close_matches(str(key), sorted(KNOWN_KEYS[kind]), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ImportError_(f"{where}: unknown key {str(key)[:40]!r}{hint}")


def _records(data: dict, key: str) -> list[tuple[str, dict]]:
    """The list `data[key]` as (location, record) pairs; anything not a list of objects, or
    with a key the format does not have, is refused."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ImportError_(f"{key}: expected a list")
    for i, rec in enumerate(value):
        if not isinstance(rec, dict):
            raise ImportError_(f"{key}[{i}]: expected a JSON object")
        _known_keys(rec, key, f"{key}[{i}]")
    return [(f"{key}[{i}]", rec) for i, rec in enumerate(value)]


def _typed(rec: dict, key: str, where: str, kind: type, default: Any = None) -> Any:
    """An optional field of the given JSON type (true/false is never taken for text or a number)."""
    value = rec.get(key, default)
    if value is None or (isinstance(value, kind) and (kind is bool or not isinstance(value, bool))):
        return value
    names = {bool: "true or false", str: "text", list: "a list"}
    raise ImportError_(f"{where}.{key}: expected {names.get(kind, kind.__name__)}")


def _rrule(value: Any, start: dt.datetime, tzid: str | None, where: str) -> str | None:
    """A recurrence rule both the renderer and the series expansion can read, else a clear error."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ImportError_(f"{where}.rrule: expected text")
    try:
        if not icalendar.vRecur.from_ical(value).get("FREQ"):
            raise ValueError("no FREQ")
        du_rrule.rrulestr(_until_as_local(value, tzid), dtstart=start, ignoretz=True)
    except (ValueError, TypeError):
        raise ImportError_(f"{where}.rrule: not a valid recurrence rule") from None
    return value


@contextlib.contextmanager
def _record(where: str):
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


def _when(value: Any, where: str, all_day: bool = False) -> dt.datetime:
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


def import_data(data: dict) -> ImportSummary:
    """Upsert everything in `data` in one transaction: all or nothing."""
    if not isinstance(data, dict):
        raise ImportError_("top level: expected a JSON object")
    summary = ImportSummary()
    try:
        return _import(data, summary)
    finally:
        practitioner_cache.forget_all()  # practitioners and the practice may have changed


def _import(data: dict, summary: ImportSummary) -> ImportSummary:
    with database_proxy.atomic():
        _known_keys(data, "top level", "top level")
        practice_rec = _req(data, "practice", "top level")
        if not isinstance(practice_rec, dict):
            raise ImportError_("practice: expected a JSON object")
        _known_keys(practice_rec, "practice", "practice")
        _typed(practice_rec, "name", "practice", str)
        practice = api.get_or_create_practice(
            _req(practice_rec, "name", "practice"), str(_req(practice_rec, "id", "practice"))
        )
        timezone = _typed(practice_rec, "timezone", "practice", str)
        if timezone and practice.timezone != timezone:
            practice.timezone = timezone
            practice.save()
        # Records are keyed by their external id; every failure names the record.
        practitioners, patients, locations = {}, {}, {}
        for where, rec in _records(data, "practitioners"):
            with _record(where):
                practitioners[str(_req(rec, "id", where))] = _practitioner(practice, rec, where, summary)
        for where, rec in _records(data, "patients"):
            with _record(where):
                patients[str(_req(rec, "id", where))] = _patient(practice, rec, where)
        for where, rec in _records(data, "locations"):
            _typed(rec, "name", where, str)
            with _record(where):
                locations[str(_req(rec, "id", where))] = api.upsert_location(
                    practice,
                    _req(rec, "name", where),
                    _typed(rec, "address", where, str),
                    str(_req(rec, "id", where)),
                )
        for where, rec in _records(data, "appointments"):
            with _record(where):
                _appointment(practice, rec, where, practitioners, patients, locations, summary)
    return summary


def _practitioner(practice: Practice, rec: dict, where: str, summary: ImportSummary):
    ext = str(_req(rec, "id", where))
    for key in ("username", "display_name", "email", "direction", "password"):
        _typed(rec, key, where, str)
    for key in ("pseudonymize", "include_phone", "is_admin", "may_relax"):
        _typed(rec, key, where, bool)
    username = _req(rec, "username", where)
    # Upsert by external id first: the same id under a new user name must not become a second row.
    by_id = Practitioner.get_or_none(
        (Practitioner.practice == practice.id) & (Practitioner.external_id == ext)
    )
    if by_id is not None and by_id.login_key != api.login_key(username):
        raise ImportError_(
            f"{where}.username: practitioner id {ext!r} is another login; import does not rename logins"
        )
    existing = by_id or api.find_practitioner(username)
    if existing is None:
        summary.created += 1
        existing = api.create_practitioner(
            practice,
            username,
            _req(rec, "password", where),
            display_name=rec.get("display_name"),
            email=rec.get("email"),
            external_id=ext,
            is_admin=bool(rec.get("is_admin", False)),
        )
    elif existing.practice_id != practice.id:
        raise ImportError_(f"{where}.username: belongs to another practice")
    else:
        summary.unchanged += 1
    settings = {k: rec[k] for k in PRACTITIONER_SETTINGS if k in rec}
    api.update_practitioner(existing, **settings)
    return existing


def _patient(practice: Practice, rec: dict, where: str) -> Patient:
    for key in ("first_name", "last_name", "phone"):
        _typed(rec, key, where, str)
    return api.upsert_patient(
        practice,
        str(_req(rec, "patient_number", where)),
        rec.get("first_name", ""),
        rec.get("last_name", ""),
        rec.get("phone"),
        str(_req(rec, "id", where)),
    )


def _appointment(practice, rec, where, practitioners, patients, locations, summary):
    ext = str(_req(rec, "id", where))
    practitioner = practitioners.get(str(_req(rec, "practitioner", where)))
    if practitioner is None:
        raise ImportError_(f"{where}.practitioner: unknown practitioner id")
    patient = patients.get(str(rec["patient"])) if rec.get("patient") is not None else None
    if rec.get("patient") is not None and patient is None:
        raise ImportError_(f"{where}.patient: unknown patient id")
    location = locations.get(str(rec["location"])) if rec.get("location") is not None else None
    if rec.get("location") is not None and location is None:
        raise ImportError_(f"{where}.location: unknown location id")
    for key in ("subject", "notes", "status", "tzid"):
        _typed(rec, key, where, str)
    for key in ("exdates", "rdates", "overrides"):
        _typed(rec, key, where, list)
    all_day = bool(_typed(rec, "all_day", where, bool, False))
    start = _when(_req(rec, "start", where), f"{where}.start", all_day)
    end = _when(_req(rec, "end", where), f"{where}.end", all_day)
    tzid = rec.get("tzid", practice.timezone)
    rrule = _rrule(rec.get("rrule"), start, None if all_day else tzid, where)
    overrides = []
    for ow, o in _records(rec, "overrides"):
        ow = f"{where}.{ow}"
        for key in ("status", "subject"):
            _typed(o, key, ow, str)
        rid = _when(_req(o, "recurrence_id", ow), f"{ow}.recurrence_id", all_day)
        o_start = _when(o["start"], f"{ow}.start", all_day) if o.get("start") else rid
        o_end = _when(o["end"], f"{ow}.end", all_day) if o.get("end") else o_start + (end - start)
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
        location=location,
        rrule=rrule,
        exdates=[_when(x, f"{where}.exdates", all_day) for x in rec.get("exdates") or []],
        rdates=[_when(x, f"{where}.rdates", all_day) for x in rec.get("rdates") or []],
        overrides=overrides,
    )
    existing = Appointment.get_or_none(
        (Appointment.practice == practice.id) & (Appointment.external_id == ext)
    )
    try:
        if existing is None:
            api.create_appointment(practitioner, fields, patient=patient, external_id=ext)
            summary.created += 1
        elif api.appointment_differs(existing, fields, patient, practitioner):
            if existing.practitioner_id != practitioner.id:
                raise ImportError_(
                    f"{where}.practitioner: cannot move an appointment to "
                    "another practitioner; delete and re-create it"
                )
            api.update_appointment(existing, fields, patient=patient)
            summary.updated += 1
        else:
            summary.unchanged += 1
    except api.DataError as exc:
        if isinstance(exc, ImportError_):
            raise
        raise ImportError_(f"{where}: {exc}") from None


def import_file(path: str) -> ImportSummary:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ImportError_(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ImportError_(f"{path}: not valid JSON (line {exc.lineno})") from None
    except UnicodeDecodeError:  # e.g. a Windows-1252 export: a ValueError, not a JSONDecodeError
        raise ImportError_(f"{path}: not UTF-8 text") from None
    return import_data(data)
