"""Opening the practice database from a URL and keeping its schema current."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

import peewee as pw
import psycopg2

from providers.practice.models import database_proxy
from providers.sql.dialect import dialect_of


class DatabaseURLError(ValueError):
    """The database URL cannot be used (one-line message for the CLI)."""


def shown_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite:///relative` or `sqlite:////absolute` URL; None for other schemes.

    `sqlite:/x.db` and `sqlite://x.db` are refused: the first once created a database at
    the filesystem root, the second reads as a host name.
    """
    if urlparse(url).scheme != "sqlite":
        return None
    if not url.startswith("sqlite:///"):
        raise DatabaseURLError(
            f"database URL {shown_url(url)!r}: a sqlite: URL has three slashes before a relative "
            f"path (sqlite:///praxis.db) or four before an absolute one (sqlite:////var/lib/praxis.db)"
        )
    path = url[len("sqlite:///") :]
    if not path:
        raise DatabaseURLError(f"database URL {shown_url(url)!r} names no file")
    return path


def open_database(
    url: str, *, durability: str = "full", create: bool = True, migrate: bool | None = False
) -> pw.Database:
    """Open `sqlite:///path` or `postgresql://user@host:port/name` and bind the models to it.

    `create=False` refuses a SQLite file that does not exist (usually a typo in the path);
    the schema is created when the database is empty, migrated when `migrate` is set, and
    an older schema is refused otherwise (`praxis-caldav migrate`); `migrate=None` leaves
    the schema alone (the migrate and backup commands).
    """
    from providers.sql import migrations

    parsed = urlparse(url)
    shown = shown_url(url)  # errors never show a password
    if parsed.scheme == "sqlite":
        path = sqlite_path(url)
        if not create and not Path(path).exists():
            raise DatabaseURLError(
                f"database file {path} does not exist (a typo?); "
                f"start with --create to make a new, empty database"
            )
        # WAL + busy timeout: several server processes share one file safely. Page cache at
        # SQLite's default (2 MB): every worker thread has its own connection and cache, and
        # the OS caches the file anyway (a larger one cost RSS: docs/benchmarks/code-decisions.md).
        # synchronous=full syncs the WAL at every commit, so a write a device was told is
        # stored survives a power cut; `durability: fast` (normal) may lose the last ones.
        db: pw.Database = pw.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": 10000,
                "synchronous": "full" if durability == "full" else "normal",
                "cache_size": -2000,
            },
            # Every transaction takes the write lock at BEGIN and so waits out busy_timeout. A
            # deferred one that read first (an import, a data-API upsert) failed at once with
            # "database is locked" when another connection (a device, the push sender's claims)
            # had committed since its read: WAL cannot upgrade a stale read snapshot.
            lock_type="IMMEDIATE",
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
            # Our hot selects are prepared once per connection (providers/sql/prepared.py). A
            # generic plan made while the table was small kept scanning it whole as it grew
            # (docs/benchmarks/code-decisions.md); custom plans see the table as it is now.
            options="-c plan_cache_mode=force_custom_plan",
            # A database that cannot be reached is an answer (503) within seconds, not after
            # the kernel's TCP timeout; keepalives find a cut network under an idle connection.
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
    else:
        raise DatabaseURLError(
            f"unsupported database URL {shown!r}: use sqlite:///FILE or postgresql://HOST/NAME"
        )
    database_proxy.initialize(db)
    try:
        db.connect(reuse_if_open=True)
        if migrate is not None:
            migrations.ensure_schema(db, migrate=migrate)
    except pw.DatabaseError as exc:  # also "file is not a database", not only OperationalError
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseURLError(f"cannot open database {shown!r}: {reason}") from None
    return db


def close_database() -> None:
    """Clean shutdown: on SQLite fold the write-ahead log into the database file, so the
    `.db` file alone holds every write (a copy of it is complete), then close."""
    db = database_proxy.obj
    if db is None:
        return
    dialect_of(db).checkpoint(db)
    if not db.is_closed():
        db.close()


# SQLSTATE classes that mean "the database cannot serve now, try again" rather than "this
# request is wrong": connection exceptions, insufficient resources (disk full, too many
# connections), operator intervention (shutdown, restart, cancel) and transaction rollbacks
# (serialization failure, deadlock); 25006 is a write on a read-only standby after a failover.
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57", "40")
_PG_UNAVAILABLE_STATES = ("25006",)
# SQLite's messages for the same situations (its OperationalError also means "no such table").
_SQLITE_UNAVAILABLE = ("locked", "busy", "disk", "readonly", "unable to open", "full", "i/o")


class ConnectionLost(Exception):
    """This thread's connection died during a request although no error reached us (a
    layer such as wsgidav's property evaluation turned it into part of its answer)."""


def connection_lost() -> bool:
    """Whether this thread's PostgreSQL connection is known dead (psycopg2 marks it closed)."""
    db = database_proxy.obj
    if not isinstance(db, pw.PostgresqlDatabase) or db.is_closed():
        return False
    return bool(getattr(db._state.conn, "closed", 0))


def driver_error(exc: BaseException) -> BaseException:
    """The database driver's exception behind a peewee one (peewee raises from within it)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(current, psycopg2.Error | sqlite3.Error):
            return current
        current, seen = current.__cause__ or current.__context__, seen + 1
    return exc


def unavailable_reason(exc: BaseException) -> str | None:
    """Why the database cannot serve (a short code for the log), or None for any other error.

    The reason never carries the driver's message: PostgreSQL quotes row values in some.
    """
    if isinstance(exc, ConnectionLost):
        return "connection lost"
    if not isinstance(exc, pw.PeeweeException | psycopg2.Error | sqlite3.Error):
        return None
    driver = driver_error(exc)
    if isinstance(driver, psycopg2.Error):
        code = driver.pgcode
        if code is None:
            # No SQLSTATE: the client library lost the connection (or never had one).
            if isinstance(driver, psycopg2.OperationalError | psycopg2.InterfaceError):
                return "connection lost"
            return None
        if code.startswith(_PG_UNAVAILABLE_CLASSES) or code in _PG_UNAVAILABLE_STATES:
            return f"SQLSTATE {code}"
        return None
    if isinstance(driver, sqlite3.OperationalError):
        text = str(driver).lower()
        return next((f"sqlite {word}" for word in _SQLITE_UNAVAILABLE if word in text), None)
    if isinstance(exc, pw.InterfaceError) and "closed" in str(exc).lower():
        return "connection lost"
    return None


def discard_connection_if_broken(exc: BaseException | None = None) -> bool:
    """Forget this thread's connection when it is dead, so its next query opens a new one.

    peewee keeps a connection per thread for ever; after a PostgreSQL restart or
    pg_terminate_backend every later query on it failed ("connection already closed")
    until the process was restarted. Called after a failed request (with its error) and
    before each request (psycopg2 marks a connection closed once a use of it failed).
    """
    db = database_proxy.obj
    if not isinstance(db, pw.PostgresqlDatabase) or db.is_closed():
        return False
    conn = db._state.conn  # peewee's per-thread state; connection() would open a new one
    lost = bool(getattr(conn, "closed", 0))
    if not lost and exc is not None:
        code = getattr(driver_error(exc), "pgcode", None)
        reason = unavailable_reason(exc)
        # Lost, or ended by the server (57P01-57P03: shutdown, crash, cannot connect now).
        lost = reason == "connection lost" or (code or "").startswith(("08", "57P0"))
    if not lost:
        return False
    try:
        conn.close()
    except psycopg2.Error:
        pass
    db.dispose()  # also forgets transactions that died with the connection
    return True
