"""The adapters over peewee's internals in providers/sql/ (inserts, prepared selects, model
copies, the practitioner cache's row snapshots, the per-thread connection in db.py).

They read or set what peewee does not document (`Model.__data__`, `__rel__`, `_dirty`,
`_meta`, `ModelSelect._get_cursor_wrapper`, cursor wrappers' `process_row`, `_state.conn`).
The first test fails on any other peewee release than the one they were checked against:
re-run this file against the new one, check the adapters, then move the pin. The others
check the behaviour the adapters promise, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw

from providers.practice import api
from providers.practice.models import Appointment, Change, Practitioner, database_proxy
from providers.sql import inserts
from providers.sql.db import open_database
from providers.sql.dialect import POSTGRESQL, SQLITE, dialect_of
from providers.sql.model_rows import detached_copy
from providers.sql.prepared import Prepared

# The peewee release (major.minor) whose internals providers/sql/ was checked against.
PEEWEE_CHECKED = "4.5"


def test_peewee_is_the_release_the_adapters_were_checked_against() -> None:
    installed = ".".join(pw.__version__.split(".")[:2])
    assert installed == PEEWEE_CHECKED, (
        f"peewee {pw.__version__} is installed; providers/sql/ reads peewee {PEEWEE_CHECKED}'s "
        "internals (inserts.py, prepared.py, model_rows.py, practitioner_cache.py, db.py): "
        "check them, then move the pin"
    )


def test_the_internals_the_adapters_use_exist() -> None:
    """A release that renames them fails here before anything subtler happens."""
    row = Practitioner(username="x")
    assert isinstance(row.__data__, dict) and isinstance(row.__rel__, dict) and isinstance(row._dirty, set)
    assert Practitioner._meta.primary_key.name == "id" and Practitioner._meta.sorted_fields
    assert callable(Practitioner.select()._get_cursor_wrapper)


def _owner(name: str) -> Practitioner:
    practice = api.get_or_create_practice("Praxis Adapter", "adapter-practice")
    return api.find_practitioner(name) or api.create_practitioner(practice, name, "pw-adapter-1")


def test_insert_stores_what_save_would(db_url) -> None:
    open_database(db_url)
    owner = _owner("adapter insert")
    built = Change(practitioner=owner.id, resource_name="a.ics", deleted=True)
    new_id = inserts.insert(built)
    saved = Change(practitioner=owner.id, resource_name="b.ics", deleted=True)
    saved.save(force_insert=True)
    assert built.id == new_id and not built._dirty
    assert saved.id > new_id
    stored = Change.get_by_id(new_id)
    assert (stored.practitioner_id, stored.resource_name, stored.deleted) == (owner.id, "a.ics", True)
    other = Change.get_by_id(saved.id)
    differ = {f.name for f in Change._meta.sorted_fields if getattr(stored, f.name) != getattr(other, f.name)}
    assert differ <= {"id", "resource_name", "changed_at"}  # every default filled in as save() does
    assert stored.changed_at is not None and stored.by_device is False


def test_the_logged_insert_returns_the_row_as_stored(db_url) -> None:
    open_database(db_url)
    owner = _owner("adapter logged")
    fields = api.AppointmentFields(dt.datetime(2027, 3, 1, 9), dt.datetime(2027, 3, 1, 10), subject="Adapter")
    created = api.create_appointment(owner, fields, uid="adapter-uid", resource_name="adapter.ics")
    stored = Appointment.get_by_id(created.id)
    assert created.revision == stored.revision > 0
    assert created.as_stored == dialect_of(database_proxy.obj).writable_ctes
    if created.as_stored:  # PostgreSQL: every column as the database stored it
        assert {f.name: getattr(created, f.name) for f in Appointment._meta.sorted_fields} == {
            f.name: getattr(stored, f.name) for f in Appointment._meta.sorted_fields
        }


def test_a_detached_copy_changes_without_touching_the_original(db_url) -> None:
    open_database(db_url)
    owner = _owner("adapter copy")
    copy = detached_copy(owner)
    copy.display_name = "changed"
    assert owner.display_name != "changed" and copy.id == owner.id
    assert copy._dirty == {"display_name"} and not owner._dirty
    assert copy.practice is owner.practice  # loaded relations are shared, not read again


def test_rows_unless_builds_only_the_rows_without_a_value(db_url) -> None:
    open_database(db_url)
    owner = _owner("adapter unless")
    for name in ("u1.ics", "u2.ics"):
        fields = api.AppointmentFields(dt.datetime(2027, 3, 2, 9), dt.datetime(2027, 3, 2, 10))
        api.create_appointment(owner, fields, uid=f"{name}-uid", resource_name=name)
    query = Prepared(
        lambda owner_id: (
            Appointment.select().where(Appointment.practitioner == owner_id).order_by(Appointment.id)
        ),
        int,
    )
    rows, values = query.rows_unless(
        (owner.id,), ("resource_name", "revision"), lambda name, rev: rev if name == "u1.ics" else None
    )
    assert [r.resource_name for r in rows] == ["u2.ics"] and isinstance(rows[0], Appointment)
    assert [(picked[0], value) for picked, value in values] == [("u1.ics", picked[1]) for picked, _ in values]


def test_every_database_has_its_dialect(db_url) -> None:
    open_database(db_url)
    dialect = dialect_of(database_proxy.obj)
    assert dialect is (POSTGRESQL if db_url.startswith("postgresql") else SQLITE)
    with database_proxy.atomic():
        dialect.lock_transaction(database_proxy.obj, 74_603, 1)  # runs on both (a no-op on SQLite)
