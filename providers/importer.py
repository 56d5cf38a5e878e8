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

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from providers import practice_api as api
from providers.models import Appointment, Patient, Practice, database_proxy


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
    with database_proxy.atomic():
        practice_rec = _req(data, "practice", "top level")
        practice = api.get_or_create_practice(_req(practice_rec, "name", "practice"),
                                              str(_req(practice_rec, "id", "practice")))
        if practice_rec.get("timezone") and practice.timezone != practice_rec["timezone"]:
            practice.timezone = practice_rec["timezone"]
            practice.save()
        practitioners = {
            str(rec.get("id")): _practitioner(practice, rec, f"practitioners[{i}]", summary)
            for i, rec in enumerate(data.get("practitioners", []))
        }
        patients = {
            str(rec.get("id")): _patient(practice, rec, f"patients[{i}]")
            for i, rec in enumerate(data.get("patients", []))
        }
        locations = {
            str(rec.get("id")): api.upsert_location(
                practice, _req(rec, "name", f"locations[{i}]"), rec.get("address"),
                str(_req(rec, "id", f"locations[{i}]")))
            for i, rec in enumerate(data.get("locations", []))
        }
        for i, rec in enumerate(data.get("appointments", [])):
            _appointment(practice, rec, f"appointments[{i}]", practitioners, patients, locations,
                         summary)
    return summary


def _practitioner(practice: Practice, rec: dict, where: str, summary: ImportSummary):
    ext = str(_req(rec, "id", where))
    username = _req(rec, "username", where)
    existing = api.find_practitioner(username)
    if existing is None:
        summary.created += 1
        existing = api.create_practitioner(
            practice, username, _req(rec, "password", where),
            display_name=rec.get("display_name"), email=rec.get("email"), external_id=ext,
            is_admin=bool(rec.get("is_admin", False)),
        )
    elif existing.practice_id != practice.id:
        raise ImportError_(f"{where}.username: belongs to another practice")
    else:
        summary.unchanged += 1
    settings = {k: rec[k] for k in ("display_name", "email", "pseudonymize", "include_phone",
                                    "direction", "is_admin") if k in rec}
    api.update_practitioner(existing, **settings)
    return existing


def _patient(practice: Practice, rec: dict, where: str) -> Patient:
    return api.upsert_patient(
        practice, str(_req(rec, "patient_number", where)), rec.get("first_name", ""),
        rec.get("last_name", ""), rec.get("phone"), str(_req(rec, "id", where)),
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
    all_day = bool(rec.get("all_day", False))
    start = _when(_req(rec, "start", where), f"{where}.start", all_day)
    end = _when(_req(rec, "end", where), f"{where}.end", all_day)
    tzid = rec.get("tzid", practice.timezone)
    overrides = []
    for j, o in enumerate(rec.get("overrides", [])):
        ow = f"{where}.overrides[{j}]"
        rid = _when(_req(o, "recurrence_id", ow), f"{ow}.recurrence_id", all_day)
        o_start = _when(o["start"], f"{ow}.start", all_day) if o.get("start") else rid
        o_end = _when(o["end"], f"{ow}.end", all_day) if o.get("end") else o_start + (end - start)
        overrides.append(api.OverrideFields(rid, o_start, o_end, tzid, all_day,
                                            o.get("status", "confirmed"), o.get("subject")))
    fields = api.AppointmentFields(
        start_local=start, end_local=end, tzid=tzid, all_day=all_day,
        subject=rec.get("subject", ""), notes=rec.get("notes", ""),
        status=rec.get("status", "confirmed"), location=location,
        rrule=rec.get("rrule"),
        exdates=[_when(x, f"{where}.exdates", all_day) for x in rec.get("exdates", [])],
        rdates=[_when(x, f"{where}.rdates", all_day) for x in rec.get("rdates", [])],
        overrides=overrides,
    )
    existing = Appointment.get_or_none((Appointment.practice == practice.id)
                                       & (Appointment.external_id == ext))
    try:
        if existing is None:
            api.create_appointment(practitioner, fields, patient=patient, external_id=ext)
            summary.created += 1
        elif api.appointment_differs(existing, fields, patient, practitioner):
            if existing.practitioner_id != practitioner.id:
                raise ImportError_(f"{where}.practitioner: cannot move an appointment to "
                                   "another practitioner; delete and re-create it")
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
    return import_data(data)
