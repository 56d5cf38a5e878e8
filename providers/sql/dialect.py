"""What differs between the two databases the server runs on, in one object per database.

Code above asks `dialect_of(db)` a question by name (does it take advisory locks, prepare
statements, LISTEN?) instead of branching on `isinstance(db, PostgresqlDatabase)`; adding
a database means adding one Dialect here.
"""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator


class Dialect:
    """SQLite, the embedded default: one writer at a time, no server, no notifications."""

    name = "sqlite"
    # Change ids must commit in the order they were drawn; SQLite's database lock already
    # serialises writers, PostgreSQL needs a per-calendar transaction lock (api.change_log).
    needs_change_lock = False
    # One INSERT ... RETURNING statement with a writable CTE (the change row and the row).
    writable_ctes = False
    # Server-side PREPARE / EXECUTE per connection (providers/sql/prepared.py).
    prepares_statements = False
    # LISTEN / NOTIFY for the practitioner cache (providers/sql/practitioner_cache.py).
    notifies = False

    def migrator(self, db: pw.Database) -> SchemaMigrator:
        return SqliteMigrator(db)

    def lock_transaction(self, db: pw.Database, *key: int) -> None:
        """Hold a named lock until the transaction ends (SQLite: writers are serialised)."""

    def continue_ids_after(self, db: pw.Database, table: str, last: int | None = None) -> None:
        """After rows were inserted with explicit ids: new ids continue after `last` (None:
        after the largest id). SQLite continues after the largest by itself."""

    def checkpoint(self, db: pw.Database) -> None:
        """Fold the write-ahead log into the database file, so the file alone holds every write."""
        try:
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except pw.DatabaseError:
            pass  # another process still reads: its own shutdown checkpoints


class PostgresDialect(Dialect):
    """PostgreSQL: several server processes share it; sequences, advisory locks, LISTEN."""

    name = "postgresql"
    needs_change_lock = True
    writable_ctes = True
    prepares_statements = True
    notifies = True

    def migrator(self, db: pw.Database) -> SchemaMigrator:
        return PostgresqlMigrator(db)

    def lock_transaction(self, db: pw.Database, *key: int) -> None:
        db.execute_sql(f"SELECT pg_advisory_xact_lock({', '.join(['%s'] * len(key))})", key)

    def continue_ids_after(self, db: pw.Database, table: str, last: int | None = None) -> None:
        # Explicit ids do not move PostgreSQL's sequences.
        sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
        if last is None:
            db.execute_sql(f'SELECT setval({sequence}, (SELECT max(id) FROM "{table}"))')
        else:
            db.execute_sql(f"SELECT setval({sequence}, %s)", (last,))

    def checkpoint(self, db: pw.Database) -> None:
        """Nothing to fold: the server owns its files."""


SQLITE, POSTGRESQL = Dialect(), PostgresDialect()


def dialect_of(db: pw.Database | None) -> Dialect:
    """The dialect of an open database (SQLite's for none: nothing to differ on)."""
    return POSTGRESQL if isinstance(db, pw.PostgresqlDatabase) else SQLITE
