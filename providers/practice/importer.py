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
Two passes over the source: the first checks everything (providers/practice/import-schema.json, then
import_format), the second writes in one transaction; a file is streamed (import_stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from providers.practice import api, import_check
from providers.practice.import_check import CHUNK, Checked, batches, ext_of, stored_appointments
from providers.practice.import_format import (
    PRACTITIONER_SETTINGS,
    ImportError_,
    appointment_fields,
    naming_record,
    required,
)
from providers.practice.import_stream import DataSource, FileSource
from providers.practice.import_summary import ImportSummary
from providers.practice.models import (
    STATUS_CANCELLED,
    Appointment,
    AppointmentOverride,
    Location,
    Patient,
    Practice,
    Practitioner,
    database_proxy,
)
from providers.sql import practitioner_cache

__all__ = ["ImportError_", "ImportOptions", "ImportSummary", "SNAPSHOT_SCOPES", "import_data", "import_file"]

SNAPSHOT_SCOPES = ("practitioner", "practice")
_PROGRESS_STEP = 500  # progress is reported every this many records (and at each stage's end)


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


class _DryRun(Exception):
    """Raised inside the import's transaction to roll a dry run back."""


def import_data(data: dict, options: ImportOptions | None = None) -> ImportSummary:
    """Upsert everything in `data` in one transaction: all or nothing."""
    return _run(DataSource(data), options or ImportOptions())


def import_file(path: str, options: ImportOptions | None = None) -> ImportSummary:
    """Import a JSON file, read as a stream (memory flat in the file's size)."""
    return _run(FileSource(path), options or ImportOptions())


def _run(source: DataSource | FileSource, options: ImportOptions) -> ImportSummary:
    if options.snapshot not in (None, *SNAPSHOT_SCOPES):
        raise ImportError_(f"snapshot: expected one of {', '.join(SNAPSHOT_SCOPES)}")
    summary = ImportSummary(dry_run=options.dry_run)
    # The whole source is checked, and compared with what is stored, before the first write.
    checked = import_check.check(source, summary, bool(options.snapshot), options.report)
    try:
        with database_proxy.atomic():
            _import(checked, summary, options)
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        pass
    finally:
        practitioner_cache.forget_all()  # practitioners and the practice may have changed
    return summary


def _practice(rec: dict) -> Practice:
    timezone = rec.get("timezone")
    practice = api.get_or_create_practice(rec["name"], str(rec["id"]))
    if timezone and practice.timezone != timezone:
        practice.timezone = timezone
        practice.save()
    return practice


def _import(checked: Checked, summary: ImportSummary, options: ImportOptions) -> None:
    practice = _practice(checked.top["practice"])
    # Records are keyed by their external id; every failure names the record.
    practitioners: dict[str, Practitioner] = {}
    listed = checked.sections["practitioners"]
    for i, (where, rec) in enumerate(listed, 1):
        with naming_record(where):
            practitioners[str(rec["id"])] = _practitioner(practice, rec, where, summary)
        options.report("practitioners", i, len(listed))
    patients = _upsert_patients(practice, checked.sections["patients"], summary, options)
    locations = _upsert_locations(practice, checked.sections["locations"], summary, options)
    _upsert_appointments(practice, checked, practitioners, patients, locations, summary, options)
    if checked.seen is not None:
        scope = None if options.snapshot == "practice" else [p.id for p in practitioners.values()]
        _cancel_missing(practice, scope, checked.seen, summary, options)


def _practitioner(practice: Practice, rec: dict, where: str, summary: ImportSummary):
    ext = str(rec["id"])
    username = rec["username"]
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
            required(rec, "password", where),
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


def _upsert_patients(practice, rows, summary, options) -> dict[str, int]:
    """{external id: row id}; a patient whose stored values equal the file's is not written."""
    columns = (Patient.patient_number, Patient.first_name, Patient.last_name, Patient.phone)

    def wanted(rec: dict, where: str) -> tuple:
        return (
            api.normalize_patient_number(str(required(rec, "patient_number", where))),
            rec.get("first_name") or "",
            rec.get("last_name") or "",
            rec.get("phone") or None,
        )

    def write(ext: str, values: tuple) -> int:
        return api.upsert_patient(practice, *values, ext).id

    stored = Patient.select(Patient.id, Patient.external_id, *columns).where(Patient.practice == practice.id)
    return _upsert_unless_equal("patients", stored, rows, wanted, write, summary, options)


def _upsert_locations(practice, rows, summary, options) -> dict[str, int]:
    """{external id: row id}; an unchanged location is not written."""

    def wanted(rec: dict, where: str) -> tuple:
        return rec["name"], rec.get("address")

    def write(ext: str, values: tuple) -> int:
        return api.upsert_location(practice, *values, ext).id

    stored = Location.select(Location.id, Location.external_id, Location.name, Location.address).where(
        Location.practice == practice.id
    )
    return _upsert_unless_equal("locations", stored, rows, wanted, write, summary, options)


def _upsert_unless_equal(kind, stored_rows, rows, wanted, write, summary, options) -> dict[str, int]:
    """{external id: row id} of the records of one kind. `stored_rows` selects (id, external
    id, values...) of the practice's rows, read once; a record whose `wanted(rec, where)`
    equals its row's values is not written, else `write(ext, values)` creates or updates it."""
    stored = {ext: (row_id, tuple(values)) for row_id, ext, *values in stored_rows.tuples().iterator()}
    result = {}
    for i, (where, rec) in enumerate(rows, 1):
        ext = str(required(rec, "id", where))
        values = wanted(rec, where)
        known = stored.get(ext)
        if known is not None and known[1] == values:
            summary.count(kind, "unchanged")
            result[ext] = known[0]
        else:
            with naming_record(where):
                result[ext] = write(ext, values)
            summary.count(kind, "created" if known is None else "updated")
        options.report(kind, i, len(rows))
    return result


def _upsert_appointments(practice, checked: Checked, practitioners, patients, locations, summary, options):
    """Create or update the appointments the checking pass found new or changed (the others
    were counted unchanged there), streamed again from the source in chunks."""
    total, done = sum(checked.to_write), 0
    for chunk in batches(checked.appointments_to_write(), CHUNK):
        stored = stored_appointments(practice.id, [str(rec["id"]) for _, _, rec in chunk])
        for _, where, rec in chunk:
            with naming_record(where):
                ext = str(rec["id"])
                practitioner, patient, fields = appointment_fields(
                    practice, rec, where, practitioners, patients, locations
                )
                found = _linked(practice, rec, ext, stored.get(ext), where)
                outcome = _upsert_appointment(found, ext, practitioner, patient, fields, where)
            summary.count("appointments", outcome, ext_of(practitioner))
            done += 1
            options.report("appointments", done, total)


def _linked(practice, rec, ext, stored, where):
    """The stored row for a record: by external id, or the device-made appointment its
    `server_id` (from the change feed) names, which then takes the external id: one
    appointment on every device, not a second one."""
    server_id = rec.get("server_id")
    if server_id is None:
        return stored
    if not isinstance(server_id, int) or isinstance(server_id, bool):
        raise ImportError_(f"{where}.server_id: expected a number from the change feed")
    if stored is not None:
        if stored[0].id != server_id:
            raise ImportError_(f"{where}.server_id: id {ext!r} is another appointment already")
        return stored
    row = Appointment.get_or_none((Appointment.id == server_id) & (Appointment.practice == practice.id))
    if row is None or row.external_id is not None:
        raise ImportError_(f"{where}.server_id: no unlinked appointment of this practice has it")
    api.link_appointment(row, ext)
    overrides = list(AppointmentOverride.select().where(AppointmentOverride.appointment == row.id))
    return row, overrides


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
    # Read as plain rows, one at a time: a practice of 100,000 appointments never holds
    # them all as objects, only those it cancels.
    candidates = (
        Appointment.select(
            Appointment.id, Appointment.practitioner, Appointment.resource_name, Appointment.external_id
        )
        .where(cond)
        .tuples()
        .iterator()
    )
    missing = [
        Appointment(id=appt_id, practitioner=owner, resource_name=name)
        for appt_id, owner, name, ext in candidates
        if ext is None or ext not in seen
    ]
    for i, appointment in enumerate(missing, 1):
        api.delete_appointment(appointment, cancel=True)
        summary.count("appointments", "cancelled", names[appointment.practitioner_id])
        options.report("cancelling", i, len(missing))
