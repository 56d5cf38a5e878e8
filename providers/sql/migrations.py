"""The schema version of the practice database and the numbered steps between versions.

`create_tables(safe=True)` never adds a column to a table that exists, so a release that
changed the schema would have broken every installed practice. Each release that changes
the schema appends one step to MIGRATIONS (peewee's playhouse.migrate operations, which
speak SQLite and PostgreSQL); `praxis-caldav migrate` runs the missing steps in one
transaction, and a server refuses to start on an older schema unless `auto_migrate: true`.
A new database is created at HEAD directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import peewee as pw
from playhouse.migrate import SchemaMigrator

from providers.practice.models import (
    ALL_MODELS,
    AccessAudit,
    ApiToken,
    DeletedAppointment,
    DevicePassword,
    LoginCounter,
    PushSubscription,
    SchemaVersion,
    database_proxy,
)
from providers.sql import practitioner_cache
from providers.sql.db import DatabaseURLError
from providers.sql.dialect import dialect_of

log = logging.getLogger("praxis_caldav.migrations")

# Step n takes a database from version n to n + 1; steps are never edited once released.
Step = Callable[[pw.Database, SchemaMigrator], None]


def _add_columns(db: pw.Database, *columns: tuple[str, str, str]) -> None:
    """ALTER TABLE ... ADD COLUMN with a NOT NULL default, which SQLite and PostgreSQL both do
    in place. Not playhouse's add_column: for a NOT NULL column it rebuilds a SQLite table, and
    dropping the old table then cascades into every table that references it (the version-1
    test lost all practitioners and their appointments that way)."""
    for table, column, sql_type in columns:
        db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {sql_type}')


def _privacy_policy_columns(db: pw.Database, migrator: SchemaMigrator) -> None:
    """1 -> 2: the practice's names version (keys each process's name matcher) and the
    admin's permission for a practitioner to loosen their own privacy settings."""
    _add_columns(
        db,
        ("practice", "names_version", "BIGINT NOT NULL DEFAULT 0"),
        ("practitioner", "may_relax", "BOOLEAN NOT NULL DEFAULT FALSE"),
    )


def _change_feed(db: pw.Database, migrator: SchemaMigrator) -> None:
    """2 -> 3: a change row says whether a device made it (the practice software's change
    feed leaves out its own imports); API tokens for GET /api/v1/changes."""
    _add_columns(db, ("change", "by_device", "BOOLEAN NOT NULL DEFAULT FALSE"))
    db.create_tables([ApiToken], safe=True)


def _login_tables(db: pw.Database, migrator: SchemaMigrator) -> None:
    """3 -> 4: device passwords, the login throttle shared by every process, the access audit,
    and disabled logins."""
    db.create_tables([DevicePassword, LoginCounter, AccessAudit], safe=True)
    _add_columns(db, ("practitioner", "disabled", "BOOLEAN NOT NULL DEFAULT FALSE"))


def _push_subscriptions(db: pw.Database, migrator: SchemaMigrator) -> None:
    """4 -> 5: WebDAV-Push registrations of devices."""
    db.create_tables([PushSubscription], safe=True)


def _push_subscription_device(db: pw.Database, migrator: SchemaMigrator) -> None:
    """5 -> 6: which device password made a push registration (NULL: the practice password),
    so revoking the device ends its pushes and the settings page shows it. Step 4 creates the
    table from today's model, which has the column already: then only the index is missing."""
    table = PushSubscription._meta.table_name
    if "device_id" not in {c.name for c in db.get_columns(table)}:
        devices = DevicePassword._meta.table_name
        _add_columns(db, (table, "device_id", f'INTEGER REFERENCES "{devices}" ("id") ON DELETE CASCADE'))
    db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{table}_device_id" ON "{table}" ("device_id")')


def _deleted_appointments(db: pw.Database, migrator: SchemaMigrator) -> None:
    """6 -> 7: what the change feed names of an appointment a device deleted for good."""
    db.create_tables([DeletedAppointment], safe=True)


MIGRATIONS: dict[int, Step] = {
    1: _privacy_policy_columns,
    2: _change_feed,
    3: _login_tables,
    4: _push_subscriptions,
    5: _push_subscription_device,
    6: _deleted_appointments,
}
HEAD = 1 + len(MIGRATIONS)
# ensure_schema's advisory lock: two 32-bit keys, a key space apart from the calendars' locks.
_SCHEMA_LOCK = (74_602, 1)


class SchemaError(DatabaseURLError):
    """The database's schema does not fit this server (one line for the CLI)."""


def _migrator(db: pw.Database) -> SchemaMigrator:
    return dialect_of(db).migrator(db)


def stored_version(db: pw.Database) -> int | None:
    """The version recorded in the database; None for an empty database."""
    if SchemaVersion._meta.table_name not in db.get_tables():
        return None
    row = SchemaVersion.select().first()
    return None if row is None else row.version


def schema_state() -> str:
    """'current', 'outdated', 'newer' or 'missing' (for /readyz; one small query)."""
    row = SchemaVersion.select(SchemaVersion.version).first()
    if row is None:
        return "missing"
    return "current" if row.version == HEAD else "outdated" if row.version < HEAD else "newer"


def ensure_schema(db: pw.Database, migrate: bool = False) -> int:
    """Create the schema of an empty database, or check (and with `migrate` bring up to
    date) an existing one. Returns the version the database had before."""
    with db.atomic():
        # Server processes started together ensure the schema together: one at a time.
        dialect_of(db).lock_transaction(db, *_SCHEMA_LOCK)
        version = stored_version(db)
        if version is None:
            db.create_tables(ALL_MODELS, safe=True)
            SchemaVersion.delete().execute()
            SchemaVersion.create(version=HEAD)
            version = HEAD
        elif version > HEAD:
            raise SchemaError(
                f"database schema version {version} is newer than this server ({HEAD}): "
                f"install the newer praxis-caldav release"
            )
        elif version < HEAD:
            if not migrate:
                raise SchemaError(
                    f"database schema version {version} is older than this server ({HEAD}): "
                    f"back it up, then run `praxis-caldav migrate`"
                )
            _run_steps(db, version)
        if dialect_of(db).notifies:
            practitioner_cache.install_triggers(db)
    return version


def _run_steps(db: pw.Database, version: int) -> None:
    migrator = _migrator(db)
    for step_from in range(version, HEAD):
        step = MIGRATIONS.get(step_from)
        if step is None:
            raise SchemaError(f"no migration from schema version {step_from}: the database is damaged")
        step(db, migrator)
        log.info("schema migrated from version %d to %d", step_from, step_from + 1)
    SchemaVersion.update(version=HEAD).execute()


def migrate_database() -> tuple[int, int]:
    """`praxis-caldav migrate`: bring the open database to HEAD; (version before, HEAD)."""
    before = ensure_schema(database_proxy.obj, migrate=True)
    return before, HEAD
