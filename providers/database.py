"""The database as the server process drives it: open and close, health, schema upgrades,
backups, and the practitioner cache's change listener.

The protocol layer (davserver: the CLI, the app, probes, error handling, push) calls these
operations; how they are done (peewee, SQLite and PostgreSQL differences, pg_dump, LISTEN)
stays in providers/sql/, which davserver never imports (pyproject.toml's import contract).
"""

from __future__ import annotations

from providers.practice.models import database_proxy
from providers.sql import backup as _backup
from providers.sql import practitioner_cache
from providers.sql.db import (
    ConnectionLost,
    DatabaseURLError,
    close_database,
    connection_lost,
    discard_connection_if_broken,
    open_database,
    shown_url,
    sqlite_path,
    unavailable_reason,
)
from providers.sql.migrations import migrate_database, schema_state

__all__ = [
    "ConnectionLost",
    "DatabaseURLError",
    "backup",
    "close_connection",
    "close_database",
    "connection_lost",
    "copy_database",
    "discard_connection_if_broken",
    "migrate_database",
    "open_database",
    "restore",
    "schema_state",
    "shown_url",
    "sqlite_path",
    "unavailable_reason",
    "watch_practitioners",
]

backup = _backup.backup
restore = _backup.restore
copy_database = _backup.copy_database


def close_connection() -> None:
    """Close this thread's connection (a worker thread that ends, a process about to fork)."""
    database_proxy.close()


def watch_practitioners() -> None:
    """Keep practitioner rows in memory, dropped when any process changes one (PostgreSQL:
    LISTEN/NOTIFY; SQLite: a short maximum age)."""
    practitioner_cache.enable(database_proxy.obj)
