"""The schema step of issue 18 (providers/schema_logins.py) on a version-2 database with data."""

from __future__ import annotations

import pytest

from providers import device_passwords


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_version_2_database_gains_the_login_tables_and_keeps_its_appointments(
    backend, tmp_path_factory, postgres_available
):
    from providers import demo
    from providers.db import SCHEMA_VERSION, open_database
    from providers.models import Appointment, Practitioner, SchemaVersion, database_proxy
    from tests.conftest import make_database_url

    previous = database_proxy.obj
    urls = make_database_url(backend, tmp_path_factory, postgres_available)
    url = next(urls)
    try:
        db = open_database(url)
        demo.load_demo()
        appointments = Appointment.select().count()
        db.execute_sql("DROP TABLE device_password")
        db.execute_sql("DROP TABLE login_counter")
        db.execute_sql("DROP TABLE access_audit")
        db.execute_sql("ALTER TABLE practitioner DROP COLUMN disabled")
        SchemaVersion.update(version=2).execute()
        db.close()
        db = open_database(url)
        assert [r.version for r in SchemaVersion.select()] == [SCHEMA_VERSION] == [3]
        assert {"device_password", "login_counter", "access_audit"} <= set(db.get_tables())
        assert Appointment.select().count() == appointments > 0
        assert not any(p.disabled for p in Practitioner.select())
        device_passwords.create(Practitioner.select().first(), "nach Migration")
        db.close()
    finally:
        next(urls, None)
        database_proxy.initialize(previous)
