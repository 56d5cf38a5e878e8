"""The change log of one calendar commits in id order, so a sync token never skips a change."""

from __future__ import annotations

import threading
import time

from providers import practice_api as api
from providers.db import open_database
from providers.models import Change, database_proxy


def test_writers_of_one_calendar_commit_change_ids_in_order(db_url):
    """A second writer waits for the first one's commit before taking its change id."""
    open_database(db_url)
    practice = api.get_or_create_practice("Praxis Log", "log-practice")
    owner = api.create_practitioner(practice, "log owner", "pw-log-1")
    first_inserted, events = threading.Event(), []

    def slow_writer():
        with database_proxy.atomic():
            api._log_change(owner.id, "a.ics")
            first_inserted.set()
            time.sleep(0.4)
            events.append("first commits")
        database_proxy.close()

    def second_writer():
        first_inserted.wait(5)
        with database_proxy.atomic():
            api._log_change(owner.id, "b.ics")
            events.append("second inserted")
        database_proxy.close()

    threads = [threading.Thread(target=slow_writer), threading.Thread(target=second_writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert events == ["first commits", "second inserted"]
    names = [c.resource_name for c in Change.select().where(Change.practitioner == owner.id)
             .order_by(Change.id)]
    assert names[-2:] == ["a.ics", "b.ics"]
