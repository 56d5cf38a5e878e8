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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import peewee as pw
from dateutil import rrule as du_rrule

from providers import practice_api as api
from providers import practitioner_cache
from providers.import_summary import ImportSummary
from providers.models import (
    STATUS_CANCELLED,
    Appointment,
    AppointmentOverride,
    Location,
    Patient,
    Practice,
    Practitioner,
    database_proxy,
)
from providers.series import _until_as_local


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


@dataclass
class ImportOptions:
    """How to import. `snapshot`: the file is the complete set of appointments of the
    practitioners it lists ("practitioner") or of the whole practice ("practice"): the
    others are cancelled, except those a device created (no external id) unless
    `include_device_created`. `dry_run`: everything is done and then rolled back, so the
    summary says exactly what a real run would change. `progress(stage, done, total)` is
    called as records are done."""

    snapshot: str | None = None
    include_device_created: bool = False
    dry_run: bool = False
    progress: Callable[[str, int, int], None] | None = None

    def report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None and (done == total or done % _PROGRESS_STEP == 0):
            self.progress(stage, done, total)


SNAPSHOT_SCOPES = ("practitioner", "practice")
_PROGRESS_STEP = 500


class _DryRun(Exception):
    """Raised inside the import's transaction to roll a dry run back."""


def import_data(data: dict, options: ImportOptions | None = None) -> ImportSummary:
    """Upsert everything in `data` in one transaction: all or nothing."""
    options = options or ImportOptions()
    if options.snapshot not in (None, *SNAPSHOT_SCOPES):
        raise ImportError_(f"snapshot: expected one of {', '.join(SNAPSHOT_SCOPES)}")
    if not isinstance(data, dict):
        raise ImportError_("top level: expected a JSON object")
    summary = ImportSummary(dry_run=options.dry_run)
    try:
        with database_proxy.atomic():
            _import(data, summary, options)
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    finally:
        practitioner_cache.forget_all()  # practitioners and the practice may have changed
    return summary


def _practice(data: dict) -> Practice:
    _known_keys(data, "top level", "top level")
    practice_rec = _req(data, "practice", "top level")
    if not isinstance(practice_rec, dict):
        raise ImportError_("practice: expected a JSON object")
    _known_keys(practice_rec, "practice", "practice")
    _typed(practice_rec, "name", "practice", str)
    timezone = _typed(practice_rec, "timezone", "practice", str)
    if timezone is not None:
        _check_zone(timezone, "practice.timezone")
    practice = api.get_or_create_practice(
        _req(practice_rec, "name", "practice"), str(_req(practice_rec, "id", "practice"))
    )
    if timezone and practice.timezone != timezone:
        practice.timezone = timezone
        practice.save()
    return practice


def _check_zone(name: str, where: str) -> None:
    """An IANA zone name (Europe/Vienna), checked when read: "CET+1" is a POSIX TZ string."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImportError_(f"{where}: not an IANA time zone name: {name[:64]!r}") from None


def _import(data: dict, summary: ImportSummary, options: ImportOptions) -> None:
    practice = _practice(data)
    # Records are keyed by their external id; every failure names the record.
    practitioners: dict[str, Practitioner] = {}
    records = _records(data, "practitioners")
    for i, (where, rec) in enumerate(records, 1):
        with _record(where):
            practitioners[str(_req(rec, "id", where))] = _practitioner(practice, rec, where, summary)
        options.report("practitioners", i, len(records))
    patients = _upsert_patients(practice, _records(data, "patients"), summary, options)
    locations = _upsert_locations(practice, _records(data, "locations"), summary, options)
    seen = _upsert_appointments(
        practice, _records(data, "appointments"), practitioners, patients, locations, summary, options
    )
    if options.snapshot:
        scope = None if options.snapshot == "practice" else [p.id for p in practitioners.values()]
        _cancel_missing(practice, scope, seen, summary, options)


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
    settings = {k: rec[k] for k in PRACTITIONER_SETTINGS if k in rec}
    if existing is None:
        summary.count("practitioners", "created")
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
        changed = any(getattr(existing, k) != v for k, v in settings.items())
        summary.count("practitioners", "updated" if changed else "unchanged")
    api.update_practitioner(existing, **settings)
    return existing


def _upsert_patients(practice, records, summary, options) -> dict[str, int]:
    """{external id: row id}; a patient whose stored values equal the file's is not written."""
    stored = {
        ext: (pid, (number, first, last, phone))
        for pid, ext, number, first, last, phone in Patient.select(
            Patient.id,
            Patient.external_id,
            Patient.patient_number,
            Patient.first_name,
            Patient.last_name,
            Patient.phone,
        )
        .where(Patient.practice == practice.id)
        .tuples()
    }
    result = {}
    for i, (where, rec) in enumerate(records, 1):
        for key in ("first_name", "last_name", "phone"):
            _typed(rec, key, where, str)
        ext = str(_req(rec, "id", where))
        number = str(_req(rec, "patient_number", where))
        wanted = (
            api.normalize_patient_number(number),
            rec.get("first_name") or "",
            rec.get("last_name") or "",
            rec.get("phone") or None,
        )
        known = stored.get(ext)
        if known is not None and known[1] == wanted:
            summary.count("patients", "unchanged")
            result[ext] = known[0]
        else:
            with _record(where):
                patient = api.upsert_patient(practice, number, *wanted[1:], ext)
            summary.count("patients", "created" if known is None else "updated")
            result[ext] = patient.id
        options.report("patients", i, len(records))
    return result


def _upsert_locations(practice, records, summary, options) -> dict[str, int]:
    """{external id: row id}; an unchanged location is not written."""
    stored = {
        ext: (lid, (name, address))
        for lid, ext, name, address in Location.select(
            Location.id, Location.external_id, Location.name, Location.address
        )
        .where(Location.practice == practice.id)
        .tuples()
    }
    result = {}
    for i, (where, rec) in enumerate(records, 1):
        _typed(rec, "name", where, str)
        _typed(rec, "address", where, str)
        ext = str(_req(rec, "id", where))
        wanted = (_req(rec, "name", where), rec.get("address"))
        known = stored.get(ext)
        if known is not None and known[1] == wanted:
            summary.count("locations", "unchanged")
            result[ext] = known[0]
        else:
            with _record(where):
                result[ext] = api.upsert_location(practice, *wanted, ext).id
            summary.count("locations", "created" if known is None else "updated")
        options.report("locations", i, len(records))
    return result


def _appointment_fields(practice, rec, where, practitioners, patients, locations):
    """(practitioner, patient id, fields) of one appointment record, or an error naming the field."""
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
    if end < start:
        raise ImportError_(f"{where}.end: before the start")
    tzid = rec.get("tzid", practice.timezone)
    if "tzid" in rec:
        _check_zone(tzid, f"{where}.tzid")
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
        location=Location(id=location) if location is not None else None,
        rrule=rrule,
        exdates=[_when(x, f"{where}.exdates", all_day) for x in rec.get("exdates") or []],
        rdates=[_when(x, f"{where}.rdates", all_day) for x in rec.get("rdates") or []],
        overrides=overrides,
    )
    return practitioner, (Patient(id=patient) if patient is not None else None), fields


# Read per chunk of records: memory stays flat in the file size, and an unchanged record
# costs no query of its own.
_CHUNK = 500


def _stored_appointments(practice: Practice, exts: list[str]) -> dict[str, tuple[Appointment, list]]:
    """{external id: (row, its overrides)} of the stored appointments among `exts`."""
    rows = {
        a.external_id: a
        for a in Appointment.select().where(
            (Appointment.practice == practice.id) & Appointment.external_id.in_(exts)
        )
    }
    overrides: dict[int, list] = {a.id: [] for a in rows.values()}
    if rows:
        for o in AppointmentOverride.select().where(AppointmentOverride.appointment.in_(list(overrides))):
            overrides[o.appointment_id].append(o)
    return {ext: (a, overrides[a.id]) for ext, a in rows.items()}


def _upsert_appointments(practice, records, practitioners, patients, locations, summary, options) -> set:
    """Create, update or leave each appointment; returns the external ids the file holds."""
    seen: set[str] = set()
    for first in range(0, len(records), _CHUNK):
        chunk = records[first : first + _CHUNK]
        stored = _stored_appointments(practice, [str(rec.get("id")) for _, rec in chunk])
        for i, (where, rec) in enumerate(chunk, first + 1):
            with _record(where):
                ext = str(_req(rec, "id", where))
                seen.add(ext)
                practitioner, patient, fields = _appointment_fields(
                    practice, rec, where, practitioners, patients, locations
                )
                outcome = _upsert_appointment(stored.get(ext), ext, practitioner, patient, fields, where)
            summary.count("appointments", outcome, practitioner.external_id or practitioner.username)
            options.report("appointments", i, len(records))
    return seen


def _upsert_appointment(stored, ext, practitioner, patient, fields, where) -> str:
    if stored is None:
        api.create_appointment(practitioner, fields, patient=patient, external_id=ext)
        return "created"
    existing, overrides = stored
    if not api.appointment_differs(existing, fields, patient, practitioner, overrides):
        return "unchanged"
    if existing.practitioner_id != practitioner.id:
        raise ImportError_(
            f"{where}.practitioner: cannot move an appointment to another practitioner; "
            "delete and re-create it"
        )
    api.update_appointment(existing, fields, patient=patient, reload=False)
    return "updated"


def _cancel_missing(practice, practitioner_ids, seen, summary, options) -> None:
    """Snapshot: cancel the served appointments of the scope the file does not hold (hidden
    from devices like a device's own delete, STATUS:CANCELLED where cancelled ones are served)."""
    cond = (Appointment.practice == practice.id) & (Appointment.status != STATUS_CANCELLED)
    if practitioner_ids is not None:
        cond &= Appointment.practitioner.in_(practitioner_ids)
    if not options.include_device_created:
        cond &= Appointment.external_id.is_null(False)
    names = {
        p.id: p.external_id or p.username
        for p in Practitioner.select(Practitioner.id, Practitioner.external_id, Practitioner.username).where(
            Practitioner.practice == practice.id
        )
    }
    candidates = Appointment.select(
        Appointment.id,
        Appointment.practitioner,
        Appointment.resource_name,
        Appointment.revision,
        Appointment.external_id,
    ).where(cond)
    missing = [a for a in candidates if a.external_id is None or a.external_id not in seen]
    for i, appointment in enumerate(missing, 1):
        api.delete_appointment(appointment, cancel=True)
        summary.count("appointments", "cancelled", names[appointment.practitioner_id])
        options.report("cancelling", i, len(missing))


def import_file(path: str, options: ImportOptions | None = None) -> ImportSummary:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ImportError_(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ImportError_(f"{path}: not valid JSON (line {exc.lineno})") from None
    except UnicodeDecodeError:  # e.g. a Windows-1252 export: a ValueError, not a JSONDecodeError
        raise ImportError_(f"{path}: not UTF-8 text") from None
    return import_data(data, options)
