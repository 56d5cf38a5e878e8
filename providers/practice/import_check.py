"""The import's first pass: every record checked before the first write, and each appointment
compared with its stored row, so the writing pass touches only what changes.

Reads only. The schema (import_schema) first, then what it cannot say (import_format); an
appointment equal to its row is counted unchanged here and skipped by the writing pass
(a bit per appointment is all that is kept: memory stays flat in the file's size). What
depends on the writes themselves (a login of another practice, a password for a new
practitioner, a duplicate patient number, linking a `server_id`) is checked while writing,
inside the transaction, so it is still all or nothing. (A device's edit that lands between
the two passes on an appointment found unchanged is kept until the next import, as it would
be had it come a moment after the import.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from providers.practice import api, import_schema
from providers.practice.import_format import appointment_fields, check_zone, naming_record
from providers.practice.import_stream import DataSource, FileSource
from providers.practice.import_summary import ImportSummary
from providers.practice.models import (
    Appointment,
    AppointmentOverride,
    Location,
    Patient,
    Practice,
    Practitioner,
    database_proxy,
)

# Read per chunk of records: memory stays flat in the file size, and an unchanged record
# costs no query of its own.
CHUNK = 500
# What deciding "unchanged" needs of a stored appointment (api.appointment_differs): not its
# device copy or its names, which can be long.
_COMPARED = (
    Appointment.id,
    Appointment.external_id,
    Appointment.practitioner.alias("practitioner_id"),
    Appointment.patient.alias("patient_id"),
    Appointment.location.alias("location_id"),
    Appointment.start_local,
    Appointment.end_local,
    Appointment.tzid,
    Appointment.all_day,
    Appointment.subject,
    Appointment.notes,
    Appointment.status,
    Appointment.rrule,
    Appointment.exdates,
    Appointment.rdates,
)


@dataclass
class Checked:
    """What the checking pass leaves for the writing pass: the top level without the
    appointments (streamed again from the source), which appointments to write, and the
    external ids of all of them when a snapshot needs them."""

    source: DataSource | FileSource
    top: dict
    appointment_count: int
    sections: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)
    to_write: bytearray = field(default_factory=bytearray)
    seen: set[str] | None = None

    def appointments(self) -> Iterator[tuple[int, str, dict]]:
        """(index, JSON path, record) of every appointment, nulls left out."""
        for i, rec in enumerate(self.source.appointments()):
            yield i, f"appointments[{i}]", import_schema.without_nulls(rec)

    def appointments_to_write(self) -> Iterator[tuple[int, str, dict]]:
        return (item for item in self.appointments() if self.to_write[item[0]])


def check(
    source: DataSource | FileSource,
    summary: ImportSummary,
    snapshot: bool,
    report: Callable[[str, int, int], None],
) -> Checked:
    top, count = source.skeleton()
    top = import_schema.top_without_nulls(top)
    import_schema.check_top_level(top)
    practice_rec = top["practice"]
    if practice_rec.get("timezone") is not None:
        check_zone(practice_rec["timezone"], "practice.timezone")
    checked = Checked(source, top, count, to_write=bytearray(count), seen=set() if snapshot else None)
    for key in ("practitioners", "patients", "locations"):
        checked.sections[key] = [(f"{key}[{i}]", rec) for i, rec in enumerate(top.get(key) or [])]
    _check_appointments(checked, practice_rec, summary, report)
    return checked


def _check_appointments(checked: Checked, practice_rec: dict, summary, report) -> None:
    stored_practice = Practice.get_or_none(Practice.external_id == str(practice_rec["id"]))
    zone = practice_rec.get("timezone") or (
        stored_practice.timezone if stored_practice else Practice.timezone.default
    )
    # The rows the references name, as stored; a record not stored yet gets id -1, which no
    # stored appointment has: it is then never "unchanged".
    practice = Practice(id=stored_practice.id if stored_practice else -1, timezone=zone)
    known = _stored_ids(practice.id)
    practitioners = {
        str(r["id"]): Practitioner(id=known[0].get(str(r["id"]), -1), external_id=str(r["id"]))
        for _, r in checked.sections["practitioners"]
    }
    patients = {str(r["id"]): known[1].get(str(r["id"]), -1) for _, r in checked.sections["patients"]}
    locations = {str(r["id"]): known[2].get(str(r["id"]), -1) for _, r in checked.sections["locations"]}
    done = 0
    for chunk in batches(checked.appointments(), CHUNK):
        for _, where, rec in chunk:
            import_schema.check_appointment(rec, where)
        stored = _compared_rows(practice.id, [str(rec["id"]) for _, _, rec in chunk])
        for i, where, rec in chunk:
            ext = str(rec["id"])
            if checked.seen is not None:
                checked.seen.add(ext)
            with naming_record(where):
                practitioner, patient, fields = appointment_fields(
                    practice, rec, where, practitioners, patients, locations
                )
                row = stored.get(ext)
                if (
                    row is None
                    or "server_id" in rec
                    or api.appointment_differs(row[0], fields, patient, practitioner, row[1])
                ):
                    api.check_appointment_fields(fields)
                    checked.to_write[i] = 1
                else:
                    summary.count("appointments", "unchanged", ext_of(practitioner))
            done += 1
            report("checking appointments", done, checked.appointment_count)


def _stored_ids(practice_id: int) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """{external id: row id} of the practice's practitioners, patients and locations."""
    return tuple(
        dict(
            model.select(model.external_id, model.id)
            .where((model.practice == practice_id) & model.external_id.is_null(False))
            .tuples()
        )
        for model in (Practitioner, Patient, Location)
    )


def _compared_rows(practice_id: int, exts: list[str]) -> dict[str, tuple[Any, list]]:
    """{external id: (row, its overrides)} with only the compared columns, as named tuples: a
    re-import reads every stored appointment, and building model objects (and the IN list
    as one value node each) took most of its time."""
    rows = {
        row.external_id: row
        for row in Appointment.select(*_COMPARED)
        .where((Appointment.practice == practice_id) & _among(Appointment.external_id, exts))
        .namedtuples()
    }
    return _with_overrides(rows)


def _among(column: pw.Field, values: list) -> pw.Expression:
    """`column IN (values)` as one SQL fragment with parameters: peewee's in_() renders each
    value as a node of its own, which cost more than running the query."""
    marks = ", ".join([database_proxy.obj.param] * len(values))
    return pw.Expression(column, pw.OP.IN, pw.SQL(f"({marks})", values))


def stored_appointments(practice_id: int, exts: list[str]) -> dict[str, tuple[Appointment, list]]:
    """{external id: (row, its overrides)} of the stored appointments among `exts`."""
    rows = {
        a.external_id: a
        for a in Appointment.select().where(
            (Appointment.practice == practice_id) & Appointment.external_id.in_(exts)
        )
    }
    return _with_overrides(rows)


def _with_overrides(rows: dict) -> dict:
    overrides: dict[int, list] = {a.id: [] for a in rows.values()}
    if rows:
        for o in AppointmentOverride.select().where(_among(AppointmentOverride.appointment, list(overrides))):
            overrides[o.appointment_id].append(o)
    return {ext: (a, overrides[a.id]) for ext, a in rows.items()}


def batches(items: Iterable[Any], size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def ext_of(practitioner: Practitioner) -> str:
    """How the summary names a practitioner."""
    return practitioner.external_id or practitioner.username
