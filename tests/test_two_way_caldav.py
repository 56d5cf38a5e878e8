"""Two-way sync through the `caldav` client library against the live server: create, edit
and delete events and series with overrides; a later practice-side edit keeps what only
the device holds (VALARM, CATEGORIES)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import caldav
import icalendar
import pytest

from providers.practice import api
from providers.practice.models import STATUS_CANCELLED, AppointmentOverride
from providers.practice.store import load_one
from tests.two_way import PASSWORD, calendar, new_practitioner, row, vevent

VIENNA = ZoneInfo("Europe/Vienna")


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("caldavlib")


@pytest.fixture()
def cal(live, user):
    client = caldav.DAVClient(url=live.base_url, username=user.username, password=PASSWORD)
    [calendar_] = client.principal().calendars()
    yield calendar_
    client.close()


def test_create_edit_delete(live, user, cal):
    body = calendar(
        vevent(
            "lib-1",
            summary="Teambesprechung",
            extra="""CATEGORIES:Praxis,Team
BEGIN:VALARM
ACTION:DISPLAY
TRIGGER:-PT10M
DESCRIPTION:Gleich
END:VALARM""",
        )
    )
    event = cal.add_event(body)
    appt = row(user, "lib-1")
    assert appt is not None and appt.subject == "Teambesprechung"

    event = cal.event_by_uid("lib-1")
    component = event.icalendar_component
    component["SUMMARY"] = icalendar.vText("Teambesprechung (verschoben)")
    component.pop("DTSTART")
    component.pop("DTEND")
    component.add("dtstart", dt.datetime(2026, 3, 10, 14, tzinfo=VIENNA))
    component.add("dtend", dt.datetime(2026, 3, 10, 15, tzinfo=VIENNA))
    event.save()
    appt = row(user, "lib-1")
    assert appt.subject == "Teambesprechung (verschoben)"
    assert appt.start_local == dt.datetime(2026, 3, 10, 14)

    # The practice edits the same appointment afterwards: the device's extras stay.
    fields = api.AppointmentFields(
        start_local=dt.datetime(2026, 3, 10, 16),
        end_local=dt.datetime(2026, 3, 10, 17),
        subject="Teambesprechung (Praxis)",
    )
    api.update_appointment(appt, fields)
    fetched = cal.event_by_uid("lib-1").icalendar_component
    assert str(fetched["SUMMARY"]) == "Teambesprechung (Praxis)"
    assert [str(c) for c in fetched["CATEGORIES"].cats] == ["Praxis", "Team"]
    assert [str(a["DESCRIPTION"]) for a in fetched.walk("VALARM")] == ["Gleich"]

    cal.event_by_uid("lib-1").delete()
    assert row(user, "lib-1").status == STATUS_CANCELLED
    with pytest.raises(caldav.lib.error.NotFoundError):
        cal.event_by_uid("lib-1")


def test_series_with_overrides(live, user, cal):
    master = vevent(
        "lib-series",
        summary="Rückenschule",
        start="20260302T180000",
        end="20260302T190000",
        extra="RRULE:FREQ=WEEKLY;COUNT=8\nCATEGORIES:Kurs",
    )
    moved = vevent(
        "lib-series",
        summary="Rückenschule",
        start="20260310T180000",
        end="20260310T190000",
        extra="RECURRENCE-ID;TZID=Europe/Vienna:20260309T180000",
    )
    cal.add_event(calendar(master, moved))
    appt = row(user, "lib-series")
    assert appt.is_recurring and len(load_one(user.id, appt.resource_name).override_rows) == 1

    # Move one more occurrence and drop another, as a client edits the whole object.
    event = cal.event_by_uid("lib-series")
    vcal = event.icalendar_instance
    series = next(c for c in vcal.walk("VEVENT") if "RECURRENCE-ID" not in c)
    series.add("exdate", dt.datetime(2026, 3, 23, 18, tzinfo=VIENNA))
    second = icalendar.Event()
    second.add("uid", "lib-series")
    second.add("recurrence-id", dt.datetime(2026, 3, 16, 18, tzinfo=VIENNA))
    second.add("dtstart", dt.datetime(2026, 3, 17, 8, tzinfo=VIENNA))
    second.add("dtend", dt.datetime(2026, 3, 17, 9, tzinfo=VIENNA))
    second.add("summary", "Rückenschule (Ersatz)")
    second.add("dtstamp", dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    vcal.add_component(second)
    event.save()
    rows = list(
        AppointmentOverride.select()
        .where(AppointmentOverride.appointment == appt.id)
        .order_by(AppointmentOverride.recurrence_id)
    )
    assert [(o.recurrence_id, o.start_local, o.subject) for o in rows] == [
        (dt.datetime(2026, 3, 9, 18), dt.datetime(2026, 3, 10, 18), None),
        (dt.datetime(2026, 3, 16, 18), dt.datetime(2026, 3, 17, 8), "Rückenschule (Ersatz)"),
    ]
    assert "2026-03-23T18:00:00" in row(user, "lib-series").exdates

    fetched = cal.event_by_uid("lib-series").icalendar_instance
    events = fetched.walk("VEVENT")
    assert len(events) == 3
    assert all("Kurs" in str(e.get("CATEGORIES").to_ical()) for e in events if "RECURRENCE-ID" not in e)

    cal.event_by_uid("lib-series").delete()
    assert row(user, "lib-series").status == STATUS_CANCELLED
