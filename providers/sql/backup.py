"""`praxis-caldav backup FILE` and `restore FILE`, while the server runs.

SQLite: the online backup API copies a consistent snapshot page by page while writers go
on (copying the `.db` file alone misses what is still in the `-wal` file); the copy is
one self-contained file. PostgreSQL: pg_dump's custom format and pg_restore (the client
tools of the server's major version or newer must be installed: Debian `postgresql-client`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

from providers.sql.db import DatabaseURLError, shown_url, sqlite_path
from providers.sql.dialect import dialect_of

# How many changes a lost server may have made after the backup it is restored from: new
# changes are numbered past them (a practice makes thousands a day; the ids are 32-bit).
RESTORE_GAP = 10_000_000


class BackupError(DatabaseURLError):
    """A backup or restore that cannot be done (one line for the CLI)."""


def backup(url: str, target: str) -> str:
    """Write a consistent copy of the database to `target`; returns what was written."""
    out = Path(target)
    if out.exists():
        raise BackupError(f"{target} exists: choose a new file name (a backup never overwrites)")
    if not out.parent.is_dir():
        raise BackupError(f"cannot write {target}: folder {out.parent} does not exist")
    path = sqlite_path(url)
    if path is not None:
        _sqlite_copy(path, out, must_exist=True)
        with sqlite3.connect(out) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        return f"SQLite backup {target}"
    _run("pg_dump", ["--format=custom", "--no-owner", f"--file={out}", *_pg_args(url)], url)
    return f"PostgreSQL backup {target} (pg_dump custom format)"


def restore(url: str, source: str) -> str:
    """Replace the database's content by the backup's (the server is best stopped first)."""
    if not Path(source).is_file():
        raise BackupError(f"backup file {source} not found")
    path = sqlite_path(url)
    if path is not None:
        with open(source, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise BackupError(f"{source} is not a SQLite backup")
        _sqlite_copy(source, Path(path), must_exist=False)
    else:
        options = ["--clean", "--if-exists", "--no-owner", "--single-transaction"]
        _run("pg_restore", [*options, *_pg_args(url), source], url)
    _move_change_numbering(url)
    return f"restored {source} into {shown_url(url)}; devices that synced after the backup sync anew"


def _move_change_numbering(url: str) -> None:
    """Number the restored database's changes from far beyond the backup's last one.

    Devices that synced after the backup hold sync tokens naming changes the restored
    database does not have; new changes must never get those numbers, or such a token
    would pass for valid and the device would keep appointments that no longer exist.
    Each calendar gets an empty change (it moves the token, lists nothing) numbered past
    the gap; a token naming no change of its calendar is then refused (sync-collection
    403 valid-sync-token) and the device syncs anew.
    """
    import peewee as pw

    from providers.practice.models import Change, Practitioner
    from providers.sql.db import open_database

    db = open_database(url)
    with db.atomic():
        base = (Change.select(pw.fn.MAX(Change.id)).scalar() or 0) + RESTORE_GAP
        owners = [pid for (pid,) in Practitioner.select(Practitioner.id).order_by(Practitioner.id).tuples()]
        rows = [{"id": base + i, "practitioner": pid, "resource_name": ""} for i, pid in enumerate(owners)]
        if rows:
            Change.insert_many(rows).execute()
        dialect_of(db).continue_ids_after(db, Change._meta.table_name, base + max(len(rows), 1))
    db.close()


def _sqlite_copy(source: str | os.PathLike, target: Path, must_exist: bool) -> None:
    if must_exist and not Path(source).exists():
        raise BackupError(f"database file {source} does not exist")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)  # one step: a consistent snapshot even while the server writes
    except sqlite3.Error as exc:
        raise BackupError(f"copy failed: {exc}") from None
    finally:
        src.close()
        dst.close()


def _pg_args(url: str) -> list[str]:
    parsed = urlparse(url)
    args = [f"--dbname={parsed.path.strip('/')}"]
    if parsed.hostname:
        args.append(f"--host={parsed.hostname}")
    if parsed.port:
        args.append(f"--port={parsed.port}")
    if parsed.username:
        args.append(f"--username={unquote(parsed.username)}")
    return args


def _run(tool: str, args: list[str], url: str) -> None:
    if shutil.which(tool) is None:
        raise BackupError(
            f"{tool} not found: install the PostgreSQL client tools (Debian: postgresql-client)"
        )
    env = dict(os.environ)
    password = urlparse(url).password
    if password:
        env["PGPASSWORD"] = unquote(password)  # never on the command line (ps shows it)
    result = subprocess.run([tool, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackupError(f"{tool} failed: {last}")


def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """`praxis-caldav copy-database FROM TO`: every row, ids kept, into an empty database
    (typically SQLite to PostgreSQL). Sync tokens stay valid: they are change ids."""

    from providers.practice.models import ALL_MODELS, SchemaVersion
    from providers.sql.db import open_database

    source = open_database(source_url)  # also refuses an outdated schema: migrate it first
    tables: dict[type, list[dict]] = {}
    for model in ALL_MODELS:
        if model is not SchemaVersion:
            tables[model] = list(model.select().order_by(model._meta.primary_key).dicts())
    source.close()
    target = open_database(target_url)
    occupied = [m.__name__ for m in tables if m.select().exists()]
    if occupied:
        raise BackupError(f"the target database is not empty ({', '.join(occupied)}): copy into a new one")
    counts: dict[str, int] = {}
    with target.atomic():
        for model, rows in tables.items():  # ALL_MODELS is in foreign-key order
            for start in range(0, len(rows), 500):
                model.insert_many(rows[start : start + 500]).execute()
            counts[model._meta.table_name] = len(rows)
            if rows:  # new rows continue after the copied ids
                dialect_of(target).continue_ids_after(target, model._meta.table_name)
    target.close()
    return counts
