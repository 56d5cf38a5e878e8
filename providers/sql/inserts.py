"""INSERTs of new rows whose SQL is built once per database, model and column set.

peewee building an INSERT anew was a large share of a creating PUT's server time
(docs/benchmarks/code-decisions.md). This reads and sets peewee's model internals
(`_meta`, `__data__`, `_dirty`): tests/test_sql_adapters.py pins the peewee version it was
checked against.
"""

from __future__ import annotations

import peewee as pw

from providers.practice.models import Appointment, Change, database_proxy
from providers.sql import prepared

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


def insert(instance: pw.Model, advisory_lock: int | None = None) -> int:
    """`instance.save(force_insert=True)` for a new row with an auto-increment id: the same
    columns (what the instance holds, defaults included) and values (each field's db_value),
    but the statement is built once per database, model and column set.

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


def insert_logged(appointment: Appointment, change: Change) -> None:
    """PostgreSQL: the change-log row and the appointment whose revision it is, in one
    statement (its own transaction, or part of the caller's): one round trip instead of
    BEGIN, two INSERTs and COMMIT; the advisory lock of the data API's change log is
    taken the same way, before the sequence value is drawn."""
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


def _all_columns(model: type[pw.Model]) -> str:
    return ", ".join(pw.quote((f.column_name,), database_proxy.obj.quote) for f in model._meta.sorted_fields)
