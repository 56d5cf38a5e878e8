"""Schema migrations on SQLite and PostgreSQL: a version-1 database full of data is brought
to the head version with every row and every sync token as before; a database newer or
older than the server is refused; a failing step changes nothing."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest
from playhouse.migrate import migrate

from providers.practice import demo, device_passwords
from providers.practice import push_subscriptions as subs
from providers.practice.models import (
    ALL_MODELS,
    ApiToken,
    Change,
    Practice,
    Practitioner,
    PushSubscription,
    SchemaVersion,
    database_proxy,
    utcnow,
)
from providers.practice.store import current_change
from providers.sql import migrations
from providers.sql.db import open_database

# Columns and tables each release added after version 1: a version-1 database lacks them.
ADDED_SINCE_V1 = {
    "practice": ("names_version",),
    "practitioner": ("may_relax", "disabled"),
    "change": ("by_device",),
}
# Dropped in this order: push_subscription refers to device_password (schema version 6).
TABLES_SINCE_V1 = ("push_subscription", "api_token", "device_password", "login_counter", "access_audit")


def _everything(db: pw.Database) -> dict:
    """Every row of every table as version 1 had it, and every calendar's change number
    (its sync token). Raw SQL: the models name columns a version-1 table lacks."""
    rows = {}
    for model in ALL_MODELS:
        table = model._meta.table_name
        if model is SchemaVersion or table in TABLES_SINCE_V1:
            continue
        cursor = db.execute_sql(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cursor.description]
        keep = [i for i, n in enumerate(names) if n not in ADDED_SINCE_V1.get(table, ())]
        rows[table] = sorted(repr(tuple(row[i] for i in keep)) for row in cursor.fetchall())
    tokens = {p.id: current_change(p.id) for p in Practitioner.select(Practitioner.id)}
    return {"rows": rows, "tokens": tokens}


@pytest.fixture
def v1_database(db_url):
    """A version-1 database with the demo practice in it: today's data, then the columns added
    since version 1 dropped (raw SQL: SQLite >= 3.35 and PostgreSQL both drop a column)."""
    db = open_database(db_url, migrate=True)  # whatever an earlier test left: first the head
    with db.atomic():
        for model in reversed(ALL_MODELS):
            model.delete().execute()
        SchemaVersion.create(version=migrations.HEAD)
    demo.load_demo()
    for table, columns in ADDED_SINCE_V1.items():
        for column in columns:
            db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')
    for table in TABLES_SINCE_V1:
        db.execute_sql(f'DROP TABLE "{table}"')
    SchemaVersion.update(version=1).execute()
    return db


def test_version_1_with_data_migrates_to_head_unchanged(v1_database, db_url):
    before = _everything(v1_database)
    assert sum(len(r) for r in before["rows"].values()) > 20 and any(before["tokens"].values())
    database_proxy.close()
    with pytest.raises(migrations.SchemaError, match="praxis-caldav migrate"):
        open_database(db_url)  # a server refuses the old schema
    open_database(db_url, migrate=None)
    assert migrations.migrate_database() == (1, migrations.HEAD)
    db = open_database(db_url)  # the server's start check passes now
    assert SchemaVersion.get().version == migrations.HEAD
    assert _everything(db) == before
    # The added columns hold their defaults for the rows that were there.
    assert {p.names_version for p in Practice.select()} == {0}
    assert {p.may_relax for p in Practitioner.select()} == {False}
    assert {c.by_device for c in Change.select()} == {False}
    assert {p.disabled for p in Practitioner.select()} == {False}
    assert set(TABLES_SINCE_V1) <= set(db.get_tables()) and ApiToken.select().count() == 0
    device_passwords.create(Practitioner.select().first(), "after the migration")  # the new tables work


def test_steps_run_in_order_in_one_transaction(v1_database, db_url, monkeypatch):
    """The framework with two steps of its own: the first adds a column, the second fails."""
    db = database_proxy.obj

    def add_column(db, migrator):
        migrate(migrator.add_column("server_secret", "note", pw.CharField(null=True)))

    def fail(db, migrator):
        raise pw.OperationalError("step failed")

    monkeypatch.setattr(migrations, "MIGRATIONS", {1: add_column, 2: fail})
    monkeypatch.setattr(migrations, "HEAD", 3)
    with pytest.raises(migrations.SchemaError, match="praxis-caldav migrate"):
        open_database(db_url)
    with pytest.raises(pw.OperationalError):
        migrations.migrate_database()
    assert "note" not in {c.name for c in db.get_columns("server_secret")}  # rolled back
    assert SchemaVersion.get().version == 1

    monkeypatch.setattr(migrations, "MIGRATIONS", {1: add_column})
    monkeypatch.setattr(migrations, "HEAD", 2)
    assert migrations.migrate_database() == (1, 2)
    assert "note" in {c.name for c in db.get_columns("server_secret")}
    assert SchemaVersion.get().version == 2
    migrate(migrations._migrator(db).drop_column("server_secret", "note"))
    SchemaVersion.update(version=1).execute()


class V5PushSubscription(pw.Model):
    """push_subscription as schema version 5 made it: no device column."""

    key = pw.CharField(max_length=43, unique=True)
    viewer = pw.ForeignKeyField(Practitioner, backref="+", on_delete="CASCADE")
    owner = pw.ForeignKeyField(Practitioner, backref="+", on_delete="CASCADE")
    push_resource = pw.CharField(max_length=2000)
    client_public_key = pw.CharField(max_length=100)
    auth_secret = pw.CharField(max_length=40)
    expires = pw.DateTimeField()
    notified_change = pw.BigIntegerField(default=0)
    sent_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database_proxy
        table_name = "push_subscription"
        indexes = ((("owner", "notified_change"), False), (("viewer",), False))


def test_version_5_push_registrations_keep_their_rows_and_gain_the_device(v1_database, db_url):
    """5 -> 6: the device column is added in place; a registration made before it counts as
    the practice password's; revoking a device deletes the registrations it made since."""
    db = v1_database
    migrations.migrate_database()
    db.drop_tables([PushSubscription])
    db.create_tables([V5PushSubscription])
    user = Practitioner.select().order_by(Practitioner.id).first()
    values = {"push_resource": "https://push.example.org/x", "client_public_key": "k", "auth_secret": "a"}
    expires = utcnow() + dt.timedelta(days=1)
    V5PushSubscription.create(key="before", viewer=user, owner=user, expires=expires, **values)
    SchemaVersion.update(version=5).execute()
    database_proxy.close()
    with pytest.raises(migrations.SchemaError, match="praxis-caldav migrate"):
        open_database(db_url)
    open_database(db_url, migrate=None)
    assert migrations.migrate_database() == (5, migrations.HEAD)
    db = open_database(db_url)
    assert "device_id" in {c.name for c in db.get_columns("push_subscription")}
    assert "push_subscription_device_id" in {i.name for i in db.get_indexes("push_subscription")}
    assert [(r.key, r.device_id) for r in PushSubscription.select()] == [("before", None)]
    device, _ = device_passwords.create(user, "Phone")
    registration = subs.Registration("https://push.example.org/y", "k", "a", expires)
    subs.register(user.id, user.id, registration, limit=10, device_id=device.id)
    assert subs.push_logins(user.id) == {None, device.id}
    device_passwords.revoke(user.id, device.id)
    assert [r.key for r in PushSubscription.select()] == ["before"]


def test_a_newer_schema_is_refused(v1_database, db_url):
    SchemaVersion.update(version=migrations.HEAD + 1).execute()
    try:
        with pytest.raises(migrations.SchemaError, match="newer"):
            open_database(db_url)
    finally:
        SchemaVersion.update(version=migrations.HEAD).execute()
