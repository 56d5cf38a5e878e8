"""CalendarCollection is the door to the data: every read and write davserver makes goes
through it, and it alone applies the owner, the view and whether cancelled rows are served.

One cancelled and one confirmed appointment, seen through a calendar that hides cancelled
rows and one that serves them: each door must agree with the other doors.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from davserver.app import service_settings
from davserver.config import ServerConfig
from providers.practice import api
from providers.provider import PracticeProvider
from providers.resources import CalendarCollection
from providers.sql.db import open_database

WEEK = (dt.datetime(2031, 3, 3, tzinfo=dt.UTC), dt.datetime(2031, 3, 10, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def owner(db_url):
    open_database(db_url)
    practice = api.get_or_create_practice("Praxis Tür", "facade-practice")
    person = api.find_practitioner("facade owner") or api.create_practitioner(
        practice, "facade owner", "pw-facade-1"
    )
    made = {}
    for name in ("kept.ics", "gone.ics"):
        fields = api.AppointmentFields(dt.datetime(2031, 3, 4, 9), dt.datetime(2031, 3, 4, 10), subject=name)
        made[name] = api.create_appointment(person, fields, uid=f"{name}-uid", resource_name=name)
    api.delete_appointment(made["gone.ics"], cancel=True, expected_revision=made["gone.ics"].revision)
    return person


def _calendar(owner, serve_cancelled: bool) -> CalendarCollection:
    config = ServerConfig()
    config = dataclasses.replace(
        config, sync=dataclasses.replace(config.sync, serve_cancelled=serve_cancelled)
    )
    provider = PracticeProvider(service_settings(config))
    environ = {"wsgidav.provider": provider, "wsgidav.auth.user_name": owner.username}
    calendar = provider.get_resource_inst(f"/{api.url_segment(owner.username)}/calendar/", environ)
    assert isinstance(calendar, CalendarCollection)
    return calendar


@pytest.mark.parametrize("serve_cancelled", [False, True])
def test_every_read_door_serves_the_same_rows(owner, serve_cancelled: bool) -> None:
    calendar = _calendar(owner, serve_cancelled)
    served = {"kept.ics", "gone.ics"} if serve_cancelled else {"kept.ics"}
    wanted = ["kept.ics", "gone.ics", "missing.ics"]
    for load in ("row", "member", "rendered"):
        assert set(calendar.get_multi(wanted, load)) == served, load
    assert {name for name, _ in calendar.member_etags()} == served
    assert {name for name, _ in calendar.member_etags_by_revision(None)} == served
    assert {o.stored_name for o in calendar.members_by_revision(None)[0]} == served
    assert set(calendar.revisions(wanted)) == served
    assert {a.resource_name for a in calendar.get_filtered(*WEEK)} == served
    assert {m.stored_name for m in calendar.get_member_list()} == served
    assert (calendar.served_row("gone.ics") is not None) == serve_cancelled
    row = calendar.row_for_write("gone.ics")  # a write sees the row whatever is served
    assert row is not None and calendar.serves(row) == serve_cancelled
    assert calendar.rows_for_write("new.ics", "gone.ics-uid")[1].resource_name == "gone.ics"
    # Free-busy: a cancelled appointment is never busy, whatever is served.
    assert {a.resource_name for a in calendar.get_filtered(*WEEK, busy_only=True)} == {"kept.ics"}
    # The change log lists both (the cancelled one as a tombstone to remove).
    assert {name for name, _ in calendar.sync(0)[0]} >= {"kept.ics", "gone.ics"}
    assert calendar.knows_change(calendar.change_number())


def test_rendered_objects_come_from_the_render_cache_without_their_row(owner) -> None:
    calendar = _calendar(owner, False)
    data = calendar.get_multi(["kept.ics"])["kept.ics"].data()  # renders and caches
    cached = calendar.get_multi(["kept.ics"], "rendered")["kept.ics"]
    assert cached._appointment is None and cached.data() == data
    assert cached.get_etag() == calendar.get_multi(["kept.ics"], "member")["kept.ics"].get_etag()
