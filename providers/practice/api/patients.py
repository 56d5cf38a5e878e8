"""Patients and locations of a practice; a change of a name republishes every appointment
whose text mentions it (its masked rendering changes)."""

from __future__ import annotations

import unicodedata

import peewee as pw

from providers.practice import validation
from providers.practice.api.change_log import republish
from providers.practice.api.errors import DataError, _valid

# Name matching is text, not protocol: shared with the renderer so both find the same names.
from providers.practice.masking import Person, PracticeNames
from providers.practice.models import (
    Appointment,
    AppointmentOverride,
    Location,
    Patient,
    Practice,
    database_proxy,
)
from providers.sql import practitioner_cache


def normalize_patient_number(value: str | int) -> str:
    """The patient number as stored: NFKC, invisible characters removed, spaces collapsed and
    trimmed, so "1042", " 1042", "1042\u00a0" and "1042\u200b" are one number (and one pseudonym)."""
    text = unicodedata.normalize("NFKC", str(value))
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cc"))
    return " ".join(text.split())


def upsert_patient(
    practice: Practice,
    patient_number: str,
    first_name: str,
    last_name: str,
    phone: str | None = None,
    external_id: str | None = None,
) -> Patient:
    """Create or update a patient by external id (else by number); a number another patient
    already has after normalisation is refused, naming both records (never the names)."""
    for field_name, text in (("first_name", first_name), ("last_name", last_name), ("phone", phone)):
        _valid(validation.check_text, text, field_name)
    number = normalize_patient_number(patient_number)
    if not number:
        raise DataError(f"patient {external_id!r}: patient number is empty")
    with database_proxy.atomic():
        query = Patient.select().where(Patient.practice == practice)
        if external_id is not None:
            patient = query.where(Patient.external_id == external_id).first()
        else:
            patient = query.where(Patient.patient_number == number).first()
        other = query.where(Patient.patient_number == number).first()
        if other is not None and (patient is None or other.id != patient.id):
            raise DataError(
                f"patient {external_id!r}: patient number {number!r} is already patient "
                f"{other.external_id or other.patient_number!r}"
            )
        values = dict(
            patient_number=number,
            first_name=first_name or "",
            last_name=last_name or "",
            phone=phone or None,
        )
        if patient is None:
            patient = Patient.create(practice=practice, external_id=external_id, **values)
            _names_changed(practice.id, [patient])
            return patient
        changed = {k for k, v in values.items() if getattr(patient, k) != v}
        if changed:
            before = Patient(**{k: getattr(patient, k) for k in values})
            for key in changed:
                setattr(patient, key, values[key])
            patient.save()
            republish(Appointment.patient == patient.id)
            if changed - {"phone"}:  # names and number make the matcher and its pseudonyms
                _names_changed(practice.id, [before, patient])
        return patient


def _names_changed(practice_id: int, patients: list[Patient]) -> None:
    """A patient's name or number changed (or a patient came or went): move the matcher's
    version and give every appointment whose text mentions one of these names a new revision
    (its masked rendering changes, so its ETag must, and sync reports it)."""
    Practice.update(names_version=Practice.names_version + 1).where(Practice.id == practice_id).execute()
    names = PracticeNames(Person(p.first_name, p.last_name, p.patient_number) for p in patients)
    texts: dict[int, list[str]] = {}
    rows = (
        Appointment.select(
            Appointment.id,
            Appointment.subject,
            Appointment.notes,
            Appointment.location_text,
            Appointment.device_ical,
            Location.name,
        )
        .join_from(Appointment, Location, pw.JOIN.LEFT_OUTER)
        .where(Appointment.practice == practice_id)
        .tuples()
    )
    for appt_id, *fields in rows:
        texts[appt_id] = [f for f in fields if f]
    overrides = (
        AppointmentOverride.select(
            AppointmentOverride.appointment, AppointmentOverride.subject, AppointmentOverride.location_text
        )
        .join(Appointment)
        .where(Appointment.practice == practice_id)
        .tuples()
    )
    for appt_id, *fields in overrides:
        texts.setdefault(appt_id, []).extend(f for f in fields if f)
    mentioned = [i for i, parts in texts.items() if names.spans("\n".join(parts))]
    for chunk in range(0, len(mentioned), 500):
        republish(Appointment.id.in_(mentioned[chunk : chunk + 500]))
    practitioner_cache.forget_all()  # the cached practice rows carry names_version


def upsert_location(
    practice: Practice, name: str, address: str | None = None, external_id: str | None = None
) -> Location:
    _valid(validation.check_text, name, "name")
    _valid(validation.check_text, address, "address")
    with database_proxy.atomic():
        query = Location.select().where(Location.practice == practice)
        if external_id is not None:
            location = query.where(Location.external_id == external_id).first()
        else:
            location = query.where(Location.name == name).first()
        if location is None:
            return Location.create(practice=practice, name=name, address=address, external_id=external_id)
        if (location.name, location.address) != (name, address):
            location.name, location.address = name, address
            location.save()
            republish(Appointment.location == location.id)
        return location
