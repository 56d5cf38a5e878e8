"""The practice-side data API: the only writer of practice data.

Every writer (CLI, JSON import, demo data, the CalDAV PUT/DELETE handlers) goes through these
functions, so every change lands in the change log in the same transaction and moves the
calendar's sync token.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import hashlib
import json
import secrets
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import peewee as pw

from providers import practitioner_cache, prepared, validation

# Name matching is text, not protocol: shared with the renderer so both find the same names.
from providers.masking import Person, PracticeNames
from providers.models import (
    STATUS_CANCELLED,
    STATUSES,
    ApiToken,
    Appointment,
    AppointmentOverride,
    Change,
    DeletedAppointment,
    DeviceSeen,
    Grant,
    Location,
    Patient,
    Practice,
    Practitioner,
    ServerSecret,
    database_proxy,
    utcnow,
)
from providers.passwords import hash_password
from providers.patient_mentions import pseudonyms_in
from providers.series import series_bounds


class DataError(ValueError):
    """Input the practice data cannot take; the message is one line, free of patient data."""


class PolicyError(DataError):
    """A practitioner tried to loosen a privacy setting the admin has not let them loosen."""


class ConflictError(DataError):
    """The row changed since the caller read it (a stale If-Match)."""


# ---------------------------------------------------------------- user names


def login_key(username: str) -> str:
    """Comparison key for logins: NFC, trimmed, case-insensitive."""
    return unicodedata.normalize("NFC", username).strip().casefold()


def url_key(username_or_segment: str) -> str:
    """Comparison key for URL segments: like login_key, with spaces and underscores the same."""
    return login_key(username_or_segment).replace(" ", "_")


def url_segment(username: str) -> str:
    """The URL segment shown to users: spaces become underscores, case is kept."""
    return unicodedata.normalize("NFC", username).strip().replace(" ", "_")


def _check_username(username: str) -> str:
    name = unicodedata.normalize("NFC", username).strip()
    if not name:
        raise DataError("user name is empty")
    if len(name) > 150:
        raise DataError("user name is longer than 150 characters")
    bad = [c for c in name if c in "/\\:?#%" or unicodedata.category(c).startswith("C")]
    if bad:
        raise DataError(f"user name contains a character not allowed in URLs: {bad[0]!r}")
    if name.startswith(".") or name.casefold() in {"well-known", "settings", "api"}:
        raise DataError(f"user name {name!r} is reserved")
    return name


# ---------------------------------------------------------------- change log


@dataclass
class DeviceWrites:
    """What a device's request logged (the change feed's webhook fires only if anything)."""

    count: int = 0


_device_request: contextvars.ContextVar[DeviceWrites | None] = contextvars.ContextVar(
    "device_request", default=None
)


@contextlib.contextmanager
def device_request() -> Iterator[DeviceWrites]:
    """Changes logged inside are a device's (the change feed reports them to the practice)."""
    writes = DeviceWrites()
    token = _device_request.set(writes)
    try:
        yield writes
    finally:
        _device_request.reset(token)


def _change(
    practitioner_id: int, resource_name: str, deleted: bool = False, practice_data: bool = True
) -> Change:
    """A change-log row; inside a device's request it is the feed's unless it changed no
    practice data (`practice_data=False`: an alarm or category edit)."""
    writes = _device_request.get()
    by_device = writes is not None and practice_data
    if by_device:
        writes.count += 1
    return Change(
        practitioner=practitioner_id,
        resource_name=resource_name,
        deleted=deleted,
        by_device=by_device,
    )


def _log_change(
    practitioner_id: int, resource_name: str, deleted: bool = False, practice_data: bool = True
) -> int:
    """Append to the change log; callers hold a transaction that also carries the change.

    On PostgreSQL, sequence values are handed out at insert but become visible at commit, so
    two writers of one calendar could commit out of order and a sync token taken in between
    would skip a change forever. A per-calendar transaction lock makes change ids of one
    calendar commit in order. (SQLite already serialises writers on its database lock.)
    The lock is taken by the INSERT itself, in a subquery whose row the insert reads, so the
    sequence value is drawn after the lock is held (EXPLAIN: nextval is projected above the
    lock's Result node) and the write needs no round trip of its own for it.
    """
    row = _change(practitioner_id, resource_name, deleted, practice_data)
    if isinstance(database_proxy.obj, pw.PostgresqlDatabase):
        return _insert(row, advisory_lock=practitioner_id)
    return _insert(row)


# Built once: (model, column names, quote) -> (quoted column list, fields in parameter order)
# and (database, form, columns...) -> (database, INSERT statement).
_COLUMNS: dict[tuple, tuple[str, tuple[pw.Field, ...]]] = {}
_INSERTS: dict[tuple, tuple[pw.Database, str]] = {}


def _columns(instance: pw.Model, skip: str = "") -> tuple[str, tuple[pw.Field, ...], list]:
    """(quoted column list, fields, values) of what a new row holds, defaults included."""
    meta = type(instance)._meta
    data = instance.__data__
    names = tuple(n for n in data if n != meta.primary_key.name and n != skip)
    key = (type(instance), names, database_proxy.obj.quote)
    found = _COLUMNS.get(key)
    if found is None:
        fields = tuple(meta.fields[n] for n in names)
        columns = ", ".join(pw.quote((f.column_name,), key[2]) for f in fields)
        found = _COLUMNS[key] = (columns, fields)
    columns, fields = found
    return columns, fields, [f.db_value(data[f.name]) for f in fields]


def _statement(key: tuple, build) -> str:
    """The INSERT for `key`, built by `build()` once per database."""
    db = database_proxy.obj
    entry = _INSERTS.get(key)
    if entry is None or entry[0] is not db:
        entry = _INSERTS[key] = (db, build())
    return entry[1]


def _table(model: type[pw.Model]) -> str:
    return pw.quote((model._meta.table_name,), database_proxy.obj.quote)


def _insert(instance: pw.Model, advisory_lock: int | None = None) -> int:
    """`instance.save(force_insert=True)` for a new row with an auto-increment id: the same
    columns (what the instance holds, defaults included) and values (each field's db_value),
    but the statement is built once per database, model and column set. peewee building it
    anew was a third of the server time of a PUT that creates an appointment.

    `advisory_lock` (PostgreSQL): the row is inserted once pg_advisory_xact_lock(key) holds.
    """
    model = type(instance)
    db = database_proxy.obj
    columns, fields, params = _columns(instance)

    def build() -> str:
        marks = ", ".join([db.param] * len(fields))
        sql = f"INSERT INTO {_table(model)} ({columns}) "
        if advisory_lock is None:
            sql += f"VALUES ({marks})"
        else:
            sql += f"SELECT {marks} FROM (SELECT pg_advisory_xact_lock({db.param})) AS advisory_lock"
        if db.returning_clause:
            sql += f" RETURNING {pw.quote((model._meta.primary_key.column_name,), db.quote)}"
        return sql

    sql = _statement((id(db), model, columns, advisory_lock is not None), build)
    if advisory_lock is not None:
        params.append(advisory_lock)
    cursor = db.execute_sql(sql, params)
    new_id = cursor.fetchone()[0] if db.returning_clause else cursor.lastrowid
    instance.__data__[model._meta.primary_key.name] = new_id
    instance._dirty.clear()
    return new_id


def _insert_logged_pg(appointment: Appointment, change: Change) -> None:
    """PostgreSQL: the change-log row and the appointment whose revision it is, in one
    statement (its own transaction, or part of the caller's). BEGIN, two INSERTs and COMMIT
    were four round trips of a device's PUT; the advisory lock of _log_change is taken the
    same way, before the sequence value is drawn."""
    db = database_proxy.obj
    change_columns, change_fields, params = _columns(change)
    columns, fields, values = _columns(appointment, skip="revision")
    params += [change.practitioner_id, *values]

    def build() -> str:
        def marks(n: int) -> str:
            return ", ".join([db.param] * n)

        return (
            f"WITH change_row AS (INSERT INTO {_table(Change)} ({change_columns}) "
            f"SELECT {marks(len(change_fields))} "
            f"FROM (SELECT pg_advisory_xact_lock({db.param})) AS advisory_lock RETURNING id) "
            f"INSERT INTO {_table(Appointment)} ({columns}, revision) "
            f"SELECT {marks(len(fields))}, change_row.id FROM change_row "
            f"RETURNING {_all_columns(Appointment)}"
        )

    sql = _statement((id(db), "logged", change_columns, columns), build)
    stored = prepared.execute(db, sql, params).fetchone()
    data = appointment.__data__
    for field_, value in zip(Appointment._meta.sorted_fields, stored, strict=True):
        data[field_.name] = field_.python_value(value)
    appointment._dirty.clear()
    appointment.override_rows = []
    appointment.as_stored = True


def _all_columns(model: type[pw.Model]) -> str:
    return ", ".join(pw.quote((f.column_name,), database_proxy.obj.quote) for f in model._meta.sorted_fields)


# ---------------------------------------------------------------- practices and people


def get_or_create_practice(name: str, external_id: str | None = None) -> Practice:
    with database_proxy.atomic():
        if external_id is not None:
            practice = Practice.get_or_none(Practice.external_id == external_id)
            if practice is not None:
                if practice.name != name:
                    practice.name = name
                    practice.save()
                    practitioner_cache.forget_all()
                return practice
        else:
            practice = Practice.get_or_none(Practice.name == name)
            if practice is not None:
                return practice
        return Practice.create(name=name, external_id=external_id)


def create_practitioner(
    practice: Practice,
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    external_id: str | None = None,
    is_admin: bool = False,
) -> Practitioner:
    name = _check_username(username)
    _valid(validation.check_text, display_name, "display_name")
    if not password:
        raise DataError("password is empty")
    _check_email(email)
    with database_proxy.atomic():
        if Practitioner.get_or_none(Practitioner.login_key == login_key(name)):
            raise DataError(f"user {name!r} exists already")
        clash = Practitioner.get_or_none(Practitioner.url_key == url_key(name))
        if clash is not None:
            raise DataError(
                f"user name {name!r} would share the URL /{url_segment(name)}/ with user {clash.username!r}"
            )
        return Practitioner.create(
            practice=practice,
            username=name,
            login_key=login_key(name),
            url_key=url_key(name),
            display_name=display_name or name,
            email=email or None,
            password_hash=hash_password(password),
            external_id=external_id,
            is_admin=is_admin,
        )


def _check_email(email: str | None) -> None:
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise DataError(f"not an e-mail address: {email!r}")


def find_login(typed: str) -> Practitioner | None:
    """The practitioner a device login names: the user name (any case), its URL form with `_`,
    or the e-mail address when exactly one practitioner has it. Help pages of other products
    warn about each of these; here every one of them works."""
    key = login_key(typed)
    found = Practitioner.get_or_none(Practitioner.login_key == key)
    if found is None:
        found = Practitioner.get_or_none(Practitioner.url_key == url_key(typed))
    if found is None and "@" in key:
        matches = list(Practitioner.select().where(pw.fn.LOWER(Practitioner.email) == key).limit(2))
        found = matches[0] if len(matches) == 1 else None
    return found


def find_practitioner(username: str) -> Practitioner | None:
    return Practitioner.get_or_none(Practitioner.login_key == login_key(username))


def set_password(practitioner: Practitioner, password: str) -> None:
    if not password:
        raise DataError("password is empty")
    practitioner.password_hash = hash_password(password)
    practitioner.save(only=[Practitioner.password_hash])
    practitioner_cache.forget_all()


def update_practitioner(practitioner: Practitioner, **values: object) -> Practitioner:
    """Change profile or sync settings; settings that change the rendering re-publish every event."""
    allowed = {
        "display_name",
        "email",
        "pseudonymize",
        "include_phone",
        "direction",
        "calendar_displayname",
        "calendar_color",
        "calendar_order",
        "is_admin",
        "may_relax",
    }
    unknown = set(values) - allowed
    if unknown:
        raise DataError(f"unknown practitioner field {sorted(unknown)[0]!r}")
    if "direction" in values and values["direction"] not in ("two-way", "server-to-device"):
        raise DataError("direction must be two-way or server-to-device")
    if "email" in values:
        _check_email(values["email"])  # type: ignore[arg-type]
    for key in ("display_name", "calendar_displayname"):
        if isinstance(values.get(key), str):
            _valid(validation.check_text, values[key], key)
    rendering = {"pseudonymize", "include_phone", "display_name"}
    changed = {k for k, v in values.items() if getattr(practitioner, k) != v}
    with database_proxy.atomic():
        for key in changed:
            setattr(practitioner, key, values[key])
        if changed:
            practitioner.save()
        if changed & rendering:
            republish(Appointment.practitioner == practitioner.id)
        elif changed & {"calendar_displayname", "calendar_color", "calendar_order", "direction"}:
            # Collection properties changed: move the ctag so clients re-read them.
            _log_change(practitioner.id, "")
    practitioner_cache.forget_all()
    return practitioner


def update_own_settings(practitioner: Practitioner, **values: object) -> Practitioner:
    """A practitioner changing their own settings (the settings page): stricter privacy is
    always allowed, looser (pseudonymization off, phone on) only if the admin allowed it."""
    if not practitioner.may_relax:
        if practitioner.pseudonymize and values.get("pseudonymize") is False:
            raise PolicyError("only the practice admin can switch pseudonymization off")
        if not practitioner.include_phone and values.get("include_phone") is True:
            raise PolicyError("only the practice admin can switch the phone number on")
    if "may_relax" in values or "is_admin" in values:
        raise PolicyError("only the practice admin can change this setting")
    return update_practitioner(practitioner, **values)


def republish(condition: pw.Expression) -> int:
    """Give every matching appointment a new revision and a change-log row (render inputs changed)."""
    rows = list(
        Appointment.select(Appointment.id, Appointment.practitioner, Appointment.resource_name)
        .where(condition)
        .tuples()
    )
    for appt_id, practitioner_id, resource_name in rows:
        change_id = _log_change(practitioner_id, resource_name)
        Appointment.update(revision=change_id).where(Appointment.id == appt_id).execute()
    return len(rows)


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


def delete_patient(patient: Patient) -> None:
    with database_proxy.atomic():
        republish(Appointment.patient == patient.id)
        patient.delete_instance()
        _names_changed(patient.practice_id, [patient])


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


def delete_location(location: Location) -> None:
    with database_proxy.atomic():
        republish(Appointment.location == location.id)
        location.delete_instance()


def grant_access(owner: Practitioner, grantee: Practitioner, can_write: bool) -> Grant:
    if owner.practice_id != grantee.practice_id:
        raise DataError("delegation is only possible within one practice")
    if owner.id == grantee.id:
        raise DataError("a practitioner cannot delegate to themselves")
    with database_proxy.atomic():
        grant, _ = Grant.get_or_create(owner=owner, grantee=grantee, defaults={"can_write": can_write})
        if grant.can_write != can_write:
            grant.can_write = can_write
            grant.save()
        return grant


def revoke_access(owner: Practitioner, grantee: Practitioner) -> bool:
    return Grant.delete().where((Grant.owner == owner) & (Grant.grantee == grantee)).execute() > 0


# ---------------------------------------------------------------- appointments


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
        kept.update(t for o in getattr(stored, "override_rows", []) for t in (o.subject, o.location_text))
        texts = [t for t in texts if t not in kept]
    if pseudonyms_in(practice_id, texts):
        raise DataError("a text holds a patient pseudonym; pseudonyms are never stored")


def _valid(check, *args) -> None:
    """Run a providers.validation check; its refusal is a DataError like every other."""
    try:
        check(*args)
    except validation.InvalidValue as exc:
        raise DataError(str(exc)) from None


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
    if isinstance(database_proxy.obj, pw.PostgresqlDatabase) and not fields.overrides:
        _insert_logged_pg(appointment, _change(practitioner.id, resource_name))
        return appointment
    with database_proxy.atomic():
        appointment.revision = _log_change(practitioner.id, resource_name)
        _insert(appointment)
        _store_overrides(appointment.id, fields.overrides, new=True)
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


def transaction():
    """One transaction around several data-API calls (savepoints inside): all or nothing."""
    return database_proxy.atomic()


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
    overrides = getattr(appointment, "override_rows", None)
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


# ---------------------------------------------------------------- server state (no practice data)


def create_api_token(practice: Practice) -> str:
    """A new change-feed token for the practice; shown once, stored as its hash."""
    token = "pcf_" + secrets.token_urlsafe(32)
    ApiToken.create(practice=practice, token_hash=api_token_hash(token))
    return token


def api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def server_secret(name: str) -> str:
    """A random secret made on first use and kept in the database, so that every server
    process (serve --processes N, several hosts on one PostgreSQL) derives the same keys."""
    row = ServerSecret.get_or_none(ServerSecret.name == name)
    if row is not None:
        return row.value
    ServerSecret.insert(name=name, value=secrets.token_hex(32)).on_conflict_ignore().execute()
    # Of two processes racing here, the first insert wins and both read its value.
    return ServerSecret.get(ServerSecret.name == name).value


def record_device_seen(
    practitioner_id: int,
    family: str,
    now: dt.datetime | None = None,
    min_interval: dt.timedelta = dt.timedelta(minutes=1),
) -> None:
    """Note that a device family of this practitioner synced; one statement, and a row
    written within `min_interval` is left alone (every process may call this)."""
    now = now or utcnow()
    DeviceSeen.insert(practitioner=practitioner_id, family=family, last_seen=now).on_conflict(
        conflict_target=[DeviceSeen.practitioner, DeviceSeen.family],
        update={DeviceSeen.last_seen: now},
        where=(DeviceSeen.last_seen < now - min_interval),
    ).execute()
