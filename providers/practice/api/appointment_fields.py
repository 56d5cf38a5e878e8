"""What an appointment or series and its overrides hold when written (from a device, the import,
the CLI), and the checks every writer passes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from providers.practice import validation
from providers.practice.api.errors import DataError, _valid
from providers.practice.models import (
    STATUSES,
    Appointment,
    Location,
    utcnow,
)
from providers.practice.patient_mentions import pseudonyms_in
from providers.practice.series import series_bounds


@dataclass
class OverrideFields:
    """A moved or cancelled occurrence of a series."""

    recurrence_id: dt.datetime
    start_local: dt.datetime
    end_local: dt.datetime
    tzid: str | None
    all_day: bool = False
    status: str = "confirmed"
    subject: str | None = None
    location_text: str | None = None


@dataclass
class AppointmentFields:
    """Everything a writer can set on an appointment; the patient link is set only by the practice."""

    start_local: dt.datetime
    end_local: dt.datetime
    tzid: str | None = "Europe/Vienna"
    all_day: bool = False
    subject: str = ""
    notes: str = ""
    status: str = "confirmed"
    location: Location | None = None
    location_text: str | None = None
    rrule: str | None = None
    exdates: Sequence[dt.datetime] = ()
    rdates: Sequence[dt.datetime] = ()
    overrides: Sequence[OverrideFields] = field(default_factory=list)
    # The device's last upload; None keeps what is stored (practice-side edits never drop it).
    device_ical: str | None = None


def _check_fields(f: AppointmentFields) -> None:
    _valid(validation.check_appointment, f)
    if f.status not in STATUSES:
        raise DataError(f"unknown status {f.status!r}")
    if f.end_local < f.start_local:
        raise DataError("appointment ends before it starts")
    for tz in {f.tzid, *(o.tzid for o in f.overrides)} - {None}:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise DataError(f"unknown time zone {tz!r}") from None
    seen = set()
    for o in f.overrides:
        if o.recurrence_id in seen:
            raise DataError("two overrides for the same occurrence")
        seen.add(o.recurrence_id)
        if o.status not in STATUSES:
            raise DataError(f"unknown status {o.status!r}")


def check_appointment_fields(f: AppointmentFields) -> None:
    """The checks every write of `f` runs, without writing (the importer's checking pass)."""
    _check_fields(f)


def _check_no_pseudonym(practice_id: int, f: AppointmentFields, stored: Appointment | None = None) -> None:
    """A pseudonym is a view's mask of a patient, never practice data: no text field stores one,
    whoever writes (a device, the import, the CLI). A text the row already holds is not
    written anew (rows from before this check must stay editable)."""
    texts = [f.subject, f.notes, f.location_text]
    texts += [t for o in f.overrides for t in (o.subject, o.location_text)]
    if stored is not None:
        kept = {stored.subject, stored.notes, stored.location_text}
        kept.update(t for o in stored.override_rows or () for t in (o.subject, o.location_text))
        texts = [t for t in texts if t not in kept]
    if pseudonyms_in(practice_id, texts):
        raise DataError("a text holds a patient pseudonym; pseudonyms are never stored")


def _iso_list(values: Iterable[dt.datetime]) -> str:
    return json.dumps(sorted(v.isoformat() for v in values))


def _row_values(f: AppointmentFields) -> dict:
    first, last = series_bounds(
        f.start_local,
        f.end_local,
        f.tzid,
        f.all_day,
        f.rrule,
        f.rdates,
        [(o.start_local, o.end_local, o.tzid) for o in f.overrides],
    )
    values = dict(
        start_local=f.start_local,
        end_local=f.end_local,
        tzid=f.tzid,
        all_day=f.all_day,
        subject=f.subject or "",
        notes=f.notes or "",
        status=f.status,
        location=f.location,
        location_text=f.location_text or None,
        rrule=f.rrule or None,
        exdates=_iso_list(f.exdates),
        rdates=_iso_list(f.rdates),
        first_start_utc=first,
        last_end_utc=last,
        is_recurring=bool(f.rrule or f.rdates),
        modified_at=utcnow(),
    )
    if f.device_ical is not None:
        values["device_ical"] = f.device_ical
    return values
