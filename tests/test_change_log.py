"""The change log of one calendar commits in id order, so a sync token never skips a change."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from providers.practice import api
from providers.practice.api import change_log
from providers.practice.models import Appointment, Change, database_proxy
from providers.sql.db import open_database


def _while_a_writer_holds_the_lock(owner_id: int, second) -> list[str]:
    """A first writer logs a change and sleeps before committing; `second()` starts once
    that change is inserted. The events in the order they happened."""
    first_inserted, events = threading.Event(), []

    def slow_writer():
        with database_proxy.atomic():
            change_log._log_change(owner_id, "a.ics")
            first_inserted.set()
            time.sleep(0.4)
            events.append("first commits")
        database_proxy.close()

    def second_writer():
        first_inserted.wait(5)
        second()
        events.append("second done")
        database_proxy.close()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=second_writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return events


def _logged_names(owner_id: int) -> list[str]:
    return [
        c.resource_name for c in Change.select().where(Change.practitioner == owner_id).order_by(Change.id)
    ]


def test_writers_of_one_calendar_commit_change_ids_in_order(db_url):
    """A second writer waits for the first one's commit before taking its change id."""
    open_database(db_url)
    practice = api.get_or_create_practice("Praxis Log", "log-practice")
    owner = api.create_practitioner(practice, "log owner", "pw-log-1")

    def log_b():
        with database_proxy.atomic():
            change_log._log_change(owner.id, "b.ics")

    assert _while_a_writer_holds_the_lock(owner.id, log_b) == ["first commits", "second done"]
    assert _logged_names(owner.id)[-2:] == ["a.ics", "b.ics"]


def test_a_created_appointment_waits_for_the_calendar_lock_and_logs_its_revision(db_url):
    """create_appointment (one statement on PostgreSQL) takes the same lock before its
    change id, and the appointment's revision is exactly that change row."""
    open_database(db_url)
    practice = api.get_or_create_practice("Praxis Log", "log-practice")
    owner = api.find_practitioner("log creator") or api.create_practitioner(
        practice, "log creator", "pw-log-2"
    )
    fields = api.AppointmentFields(
        dt.datetime(2027, 1, 4, 9), dt.datetime(2027, 1, 4, 10), subject="Erstgespräch"
    )
    created = []

    def create():
        created.append(api.create_appointment(owner, fields, uid="log-uid-1", resource_name="created.ics"))

    assert _while_a_writer_holds_the_lock(owner.id, create) == ["first commits", "second done"]
    assert _logged_names(owner.id)[-2:] == ["a.ics", "created.ics"]
    stored = Appointment.get_by_id(created[0].id)
    last_change = Change.select().where(Change.practitioner == owner.id).order_by(Change.id.desc()).first()
    assert stored.revision == created[0].revision == last_change.id
    assert (stored.uid, stored.resource_name, stored.subject) == ("log-uid-1", "created.ics", "Erstgespräch")


def test_a_refused_create_leaves_no_change_behind(db_url):
    """The same UID twice: the second INSERT fails, and so does its change-log row."""
    open_database(db_url)
    practice = api.get_or_create_practice("Praxis Log", "log-practice")
    owner = api.find_practitioner("log refused") or api.create_practitioner(
        practice, "log refused", "pw-log-3"
    )
    fields = api.AppointmentFields(dt.datetime(2027, 1, 5, 9), dt.datetime(2027, 1, 5, 10))
    api.create_appointment(owner, fields, uid="log-uid-2", resource_name="one.ics")
    before = Change.select().where(Change.practitioner == owner.id).count()
    with pytest.raises(api.AlreadyStored):
        api.create_appointment(owner, fields, uid="log-uid-2", resource_name="two.ics")
    assert Change.select().where(Change.practitioner == owner.id).count() == before
    assert api.create_appointment(owner, fields, uid="log-uid-3", resource_name="three.ics").id
