"""Schema step of issue 18 (device passwords, shared login throttle, access audit, disabled logins).

One function so that the migration framework can register it as a step as it is:
it takes a version-2 database to version 3 and may run on a database that has it already.
"""

from __future__ import annotations

import peewee as pw
from playhouse.migrate import SchemaMigrator

from providers.models import AccessAudit, DevicePassword, LoginCounter


def add_login_tables(db: pw.Database, migrator: SchemaMigrator) -> None:
    """New tables `device_password`, `login_counter`, `access_audit`; new column `practitioner.disabled`."""
    db.create_tables([DevicePassword, LoginCounter, AccessAudit], safe=True)
    if "disabled" not in {c.name for c in db.get_columns("practitioner")}:
        # NOT NULL with a DEFAULT in one ALTER: peewee's default path would rebuild the table
        # on SQLite, and dropping `practitioner` with foreign keys on cascades to appointments.
        column = pw.BooleanField(default=False, constraints=[pw.SQL("DEFAULT FALSE")])
        migrator.add_column("practitioner", "disabled", column, allow_not_null=True).run()
