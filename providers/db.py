"""Opening the practice database from a URL and keeping its schema current."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlparse

import peewee as pw

from providers import practitioner_cache
from providers.models import ALL_MODELS, SchemaVersion, database_proxy

SCHEMA_VERSION = 3
# Columns added after version 1 (table, column, SQL type and default valid on SQLite and PostgreSQL).
_ADDED_IN_2 = (
    ("practice", "names_version", "BIGINT NOT NULL DEFAULT 0"),
    ("practitioner", "may_relax", "BOOLEAN NOT NULL DEFAULT FALSE"),
)
# ensure_schema's advisory lock: two 32-bit keys, a key space apart from the calendars' locks.
_SCHEMA_LOCK = (74_602, 1)


class DatabaseURLError(ValueError):
    """The database URL cannot be used (one-line message for the CLI)."""


def open_database(url: str) -> pw.Database:
    """Open `sqlite:///path` or `postgresql://user@host:port/name` and bind the models to it."""
    parsed = urlparse(url)
    shown = re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)  # errors never show a password
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///") :]
        if not path:
            raise DatabaseURLError(f"database URL {shown!r} names no file")
        # WAL + busy timeout: several server processes share one file safely. Page cache at
        # SQLite's default (2 MB): every worker thread has its own connection and cache, and
        # the OS caches the file anyway; 16 threads x 4 MB cost 30 MiB RSS at N=100,000.
        db: pw.Database = pw.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 10000,
                "synchronous": "normal",
                "cache_size": -2000,
            },
            check_same_thread=False,
        )
    elif parsed.scheme in ("postgresql", "postgres"):
        if not parsed.path.strip("/"):
            raise DatabaseURLError(f"database URL {shown!r} names no database")
        try:
            parsed.port  # noqa: B018 - urllib raises ValueError only when the port is read
        except ValueError:
            raise DatabaseURLError(f"database URL {shown!r} has an invalid port") from None
        db = pw.PostgresqlDatabase(
            parsed.path.strip("/"),
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname or None,
            port=parsed.port or None,
            # Our hot selects are prepared once per connection (providers/prepared.py). A
            # generic plan made while the table was small kept scanning it whole as it grew
            # (45,000 rows: 20-100 ms per lookup); custom plans see the table as it is now.
            options="-c plan_cache_mode=force_custom_plan",
        )
    else:
        raise DatabaseURLError(
            f"unsupported database URL {shown!r}: use sqlite:///FILE or postgresql://HOST/NAME"
        )
    database_proxy.initialize(db)
    try:
        db.connect(reuse_if_open=True)
        ensure_schema(db)
    except pw.DatabaseError as exc:  # also "file is not a database", not only OperationalError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseURLError(f"cannot open database {shown!r}: {reason}") from None
    return db


def ensure_schema(db: pw.Database) -> None:
    """Create the schema on first start; record its version so later releases can migrate."""
    with db.atomic():
        if isinstance(db, pw.PostgresqlDatabase):
            # Server processes started together ensure the schema together: one at a time.
            db.execute_sql("SELECT pg_advisory_xact_lock(%s, %s)", _SCHEMA_LOCK)
        db.create_tables(ALL_MODELS, safe=True)
        if isinstance(db, pw.PostgresqlDatabase):
            practitioner_cache.install_triggers(db)
        row = SchemaVersion.select().first()
        if row is None:
            SchemaVersion.create(version=SCHEMA_VERSION)
        elif row.version > SCHEMA_VERSION:
            raise DatabaseURLError(
                f"database schema version {row.version} is newer than this server ({SCHEMA_VERSION})"
            )
        # Migrations from older versions go here, one step per version.
        elif row.version < 2:
            for table, column, sql_type in _ADDED_IN_2:
                if column not in {c.name for c in db.get_columns(table)}:
                    db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            row.version = 2
            row.save()
        if row is not None and row.version == 2:
            from playhouse.migrate import SchemaMigrator

            from providers.schema_logins import add_login_tables

            add_login_tables(db, SchemaMigrator.from_database(db))
            row.version = 3
            row.save()
