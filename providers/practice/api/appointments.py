"""Appointments and series with their overrides: create, update (compare-and-set on the
revision), delete or cancel, each one transaction with its change-log row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import peewee as pw

from providers.practice.api.appointment_fields import (
    AppointmentFields,
    OverrideFields,
    _check_fields,
    _check_no_pseudonym,
    _iso_list,
    _row_values,
)
from providers.practice.api.change_log import _change, _device_request, _log_change
from providers.practice.api.errors import AlreadyStored, ConflictError
from providers.practice.models import (
    STATUS_CANCELLED,
    Appointment,
    AppointmentOverride,
    DeletedAppointment,
    Patient,
    Practitioner,
    database_proxy,
    utcnow,
)
from providers.sql import inserts
from providers.sql.dialect import dialect_of


def _store_overrides(appointment_id: int, overrides: Sequence[OverrideFields], *, new: bool = False) -> None:
    """Replace the overrides; a `new` row has none yet (foreign keys cascade, so no stale
    override can point at a fresh id) and skips the DELETE."""
    if not new:
        AppointmentOverride.delete().where(AppointmentOverride.appointment == appointment_id).execute()
    if overrides:
        AppointmentOverride.insert_many(
            [
                dict(
                    appointment=appointment_id,
                    recurrence_id=o.recurrence_id,
                    start_local=o.start_local,
                    end_local=o.end_local,
                    tzid=o.tzid,
                    all_day=o.all_day,
                    status=o.status,
                    subject=o.subject,
                    location_text=o.location_text,
                )
                for o in overrides
            ]
        ).execute()


def create_appointment(
    practitioner: Practitioner,
    fields: AppointmentFields,
    *,
    patient: Patient | None = None,
    uid: str | None = None,
    resource_name: str | None = None,
    external_id: str | None = None,
) -> Appointment:
    """New appointment; a UID and an opaque resource name are generated when not given.

    On PostgreSQL a single appointment comes back as the database stored it (the insert
    returns every column) with no overrides: `as_stored` is then True and the caller may
    render it without reading it again (one round trip less per device PUT).
    """
    _check_fields(fields)
    _check_no_pseudonym(practitioner.practice_id, fields)
    uid = uid or f"{uuid.uuid4()}@praxis-caldav"
    resource_name = resource_name or f"{uuid.uuid5(uuid.NAMESPACE_URL, uid).hex}.ics"
    appointment = Appointment(
        practice=practitioner.practice_id,
        practitioner=practitioner,
        patient=patient,
        uid=uid,
        resource_name=resource_name,
        external_id=external_id,
        **_row_values(fields),
    )
    try:
        if dialect_of(database_proxy.obj).writable_ctes and not fields.overrides:
            inserts.insert_logged(appointment, _change(practitioner.id, resource_name))
            appointment.override_rows = []
            appointment.as_stored = True
            return appointment
        with database_proxy.atomic():
            appointment.revision = _log_change(practitioner.id, resource_name)
            inserts.insert(appointment)
            _store_overrides(appointment.id, fields.overrides, new=True)
    except pw.IntegrityError:
        raise AlreadyStored("the resource name or UID is already stored for this practitioner") from None
    return appointment


def update_appointment(
    appointment: Appointment,
    fields: AppointmentFields,
    *,
    expected_revision: int | None = None,
    patient: Patient | None | bool = False,
    uid: str | None = None,
    resource_name: str | None = None,
    reload: bool = True,
) -> Appointment | None:
    """Replace the appointment's times and texts; `patient=False` keeps the patient link.

    With `expected_revision` the update is a compare-and-set: of two writers holding the
    same ETag exactly one succeeds, the other gets ConflictError (HTTP 412). `uid` and
    `resource_name` re-identify a row (a device reviving a cancelled appointment).
    Returns the row as stored, read again; `reload=False` skips that read and returns None.
    """
    _check_fields(fields)
    _check_no_pseudonym(appointment.practice_id, fields, stored=appointment)
    values = _row_values(fields)
    if patient is not False:
        values["patient"] = patient
    if uid is not None:
        values["uid"] = uid
    name = resource_name or appointment.resource_name
    # Whether the practice software's feed hears of it (a device's alarm-only edit: no).
    practice_data = _device_request.get() is None or _practice_data_differs(appointment, fields, patient)
    with database_proxy.atomic():
        if name != appointment.resource_name:
            _log_change(appointment.practitioner_id, appointment.resource_name, deleted=True)
            values["resource_name"] = name
        change_id = _log_change(appointment.practitioner_id, name, practice_data=practice_data)
        query = Appointment.update(revision=change_id, **values).where(Appointment.id == appointment.id)
        if expected_revision is not None:
            query = query.where(Appointment.revision == expected_revision)
        if query.execute() != 1:
            raise ConflictError("the appointment was changed or deleted meanwhile")
        _store_overrides(appointment.id, fields.overrides)
    return Appointment.get_by_id(appointment.id) if reload else None


def delete_appointment(
    appointment: Appointment, *, cancel: bool = True, expected_revision: int | None = None
) -> None:
    """Remove from every device: cancel (the practice keeps the record) or delete the row."""
    with database_proxy.atomic():
        change_id = _log_change(appointment.practitioner_id, appointment.resource_name, deleted=True)
        if cancel:
            query = Appointment.update(status=STATUS_CANCELLED, revision=change_id, modified_at=utcnow())
        else:  # the change feed names what is gone (read from the row, in this transaction)
            _record_deletion(change_id, appointment.id)
            query = Appointment.delete()
        query = query.where(Appointment.id == appointment.id)
        if expected_revision is not None:
            query = query.where(Appointment.revision == expected_revision)
        if query.execute() != 1:
            raise ConflictError("the appointment was changed or deleted meanwhile")


def _record_deletion(change_id: int, appointment_id: int) -> None:
    named = Appointment.select(pw.Value(change_id), Appointment.id, Appointment.external_id)
    DeletedAppointment.insert_from(
        named.where(Appointment.id == appointment_id),
        [DeletedAppointment.change, DeletedAppointment.appointment_id, DeletedAppointment.external_id],
    ).execute()


def link_appointment(appointment: Appointment, external_id: str) -> None:
    """Give a device-made appointment the practice software's id (it is not rendered, so no
    device sees a change and the sync token stays)."""
    Appointment.update(external_id=external_id).where(Appointment.id == appointment.id).execute()
    appointment.external_id = external_id


def park_appointment(appointment: Appointment) -> None:
    """Move a cancelled, hidden row off its URL so a device can create a new object there.

    The practice keeps the record; no device ever saw it at the new name.
    """
    parked = f"{appointment.resource_name[:200]}~cancelled-{appointment.id}"
    Appointment.update(resource_name=parked).where(Appointment.id == appointment.id).execute()


def _practice_data_differs(appointment: Appointment, fields: AppointmentFields, patient) -> bool:
    """Whether a device's update changes practice data, not only what the device keeps for
    itself (alarms, categories, X- properties); `patient=False` keeps the stored link."""
    if (fields.location_text or None) != (appointment.location_text or None):
        return True
    patient_id = appointment.patient_id if patient is False else (patient.id if patient else None)
    # The PUT path loaded the overrides with the row (store.load_one): no second query for them.
    overrides = appointment.override_rows
    return _differs(appointment, fields, patient_id, appointment.practitioner_id, overrides)


def appointment_differs(
    appointment: Appointment,
    fields: AppointmentFields,
    patient: Patient | None,
    practitioner: Practitioner,
    overrides: Sequence[AppointmentOverride] | None = None,
) -> bool:
    """Whether storing `fields` would change anything (keeps re-imports from moving sync tokens).

    `overrides`: the stored overrides when the caller has read them already (else one query)."""
    return _differs(appointment, fields, patient.id if patient else None, practitioner.id, overrides)


def _differs(
    appointment: Appointment,
    fields: AppointmentFields,
    patient_id: int | None,
    practitioner_id: int,
    overrides: Sequence[AppointmentOverride] | None = None,
) -> bool:
    current = {
        "start_local": appointment.start_local,
        "end_local": appointment.end_local,
        "tzid": appointment.tzid,
        "all_day": appointment.all_day,
        "subject": appointment.subject,
        "notes": appointment.notes,
        "status": appointment.status,
        "location": appointment.location_id,
        "rrule": appointment.rrule,
        "exdates": appointment.exdates,
        "rdates": appointment.rdates,
        "patient": appointment.patient_id,
        "practitioner": appointment.practitioner_id,
    }
    wanted = {
        "start_local": fields.start_local,
        "end_local": fields.end_local,
        "tzid": fields.tzid,
        "all_day": fields.all_day,
        "subject": fields.subject or "",
        "notes": fields.notes or "",
        "status": fields.status,
        "location": fields.location.id if fields.location else None,
        "rrule": fields.rrule or None,
        "exdates": _iso_list(fields.exdates),
        "rdates": _iso_list(fields.rdates),
        "patient": patient_id,
        "practitioner": practitioner_id,
    }
    if current != wanted:
        return True
    if overrides is None:
        overrides = AppointmentOverride.select().where(AppointmentOverride.appointment == appointment.id)
    stored = sorted(
        (o.recurrence_id, o.start_local, o.end_local, o.tzid, o.all_day, o.status, o.subject)
        for o in overrides
    )
    given = sorted(
        (o.recurrence_id, o.start_local, o.end_local, o.tzid, o.all_day, o.status, o.subject)
        for o in fields.overrides
    )
    return stored != given
