"""Recurring series from devices: create, move one occurrence (RECURRENCE-ID override),
delete one (EXDATE), end a series ("this and following"), all-day series."""

from __future__ import annotations

import datetime as dt
import json

import icalendar
import pytest

from providers.practice.models import Appointment, AppointmentOverride
from tests.two_way import ICAL, PASSWORD, calendar, calendar_path, new_practitioner, row, vevent

WEEKLY = "RRULE:FREQ=WEEKLY;COUNT=10"


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("series")


def put(live, user, name, body, etag=None):
    headers = {**ICAL, **({"If-Match": etag} if etag else {"If-None-Match": "*"})}
    return live.request(
        "PUT", calendar_path(user) + name, body, user=user.username, password=PASSWORD, headers=headers
    )


def get(live, user, name):
    r = live.request("GET", calendar_path(user) + name, user=user.username, password=PASSWORD)
    assert r.status_code == 200
    return icalendar.Calendar.from_ical(r.content), r.headers["ETag"]


def overrides(appt: Appointment) -> list[AppointmentOverride]:
    return list(
        AppointmentOverride.select()
        .where(AppointmentOverride.appointment == appt.id)
        .order_by(AppointmentOverride.recurrence_id)
    )


def test_weekly_series_move_one_and_delete_one(live, user):
    assert (
        put(live, user, "weekly.ics", calendar(vevent("weekly", summary="Gruppe", extra=WEEKLY))).status_code
        == 201
    )
    appt = row(user, "weekly")
    assert appt.rrule == "FREQ=WEEKLY;COUNT=10" and appt.is_recurring
    _, etag = get(live, user, "weekly.ics")
    moved = vevent(
        "weekly",
        summary="Gruppe",
        start="20260318T150000",
        end="20260318T160000",
        extra="RECURRENCE-ID;TZID=Europe/Vienna:20260317T100000\nX-MOVED:yes",
    )
    master = vevent("weekly", summary="Gruppe", extra=WEEKLY + "\nEXDATE;TZID=Europe/Vienna:20260324T100000")
    assert put(live, user, "weekly.ics", calendar(master, moved), etag).status_code == 204
    appt = row(user, "weekly")
    assert json.loads(appt.exdates) == ["2026-03-24T10:00:00"]
    [override] = overrides(appt)
    assert override.recurrence_id == dt.datetime(2026, 3, 17, 10)
    assert (override.start_local, override.end_local) == (
        dt.datetime(2026, 3, 18, 15),
        dt.datetime(2026, 3, 18, 16),
    )
    assert override.subject is None  # same title as the series
    cal, _ = get(live, user, "weekly.ics")
    events = cal.walk("VEVENT")
    assert len(events) == 2
    rendered = next(e for e in events if "RECURRENCE-ID" in e)
    assert str(rendered["X-MOVED"]) == "yes"  # device data of the override kept
    assert [d.dt.replace(tzinfo=None) for d in events[0]["EXDATE"].dts] == [dt.datetime(2026, 3, 24, 10)]


def test_override_with_utc_recurrence_id_and_own_title(live, user):
    master = vevent("utc-rid", summary="Kurs", extra=WEEKLY)
    moved = vevent(
        "utc-rid",
        summary="Kurs (Raum B)",
        start="20260317T120000",
        end="20260317T130000",
        extra="RECURRENCE-ID:20260317T090000Z\nLOCATION:Raum B\nX-KEEP:1",
    )
    assert put(live, user, "utc-rid.ics", calendar(master, moved)).status_code == 201
    [override] = overrides(row(user, "utc-rid"))
    assert override.recurrence_id == dt.datetime(2026, 3, 17, 10)  # in the series' zone
    assert (override.subject, override.location_text) == ("Kurs (Raum B)", "Raum B")
    cal, _ = get(live, user, "utc-rid.ics")
    rendered = next(e for e in cal.walk("VEVENT") if "RECURRENCE-ID" in e)
    assert str(rendered["X-KEEP"]) == "1" and str(rendered["SUMMARY"]) == "Kurs (Raum B)"


def test_cancelled_occurrence_and_removed_override(live, user):
    master = vevent("cancel-one", summary="Sprechstunde", extra=WEEKLY)
    cancelled = vevent(
        "cancel-one",
        summary="Sprechstunde",
        extra="RECURRENCE-ID;TZID=Europe/Vienna:20260317T100000\nSTATUS:CANCELLED",
        start="20260317T100000",
        end="20260317T110000",
    )
    assert put(live, user, "cancel-one.ics", calendar(master, cancelled)).status_code == 201
    [override] = overrides(row(user, "cancel-one"))
    assert override.status == "cancelled"
    _, etag = get(live, user, "cancel-one.ics")
    assert put(live, user, "cancel-one.ics", calendar(master), etag).status_code == 204
    assert overrides(row(user, "cancel-one")) == []


def test_this_and_following(live, user):
    assert (
        put(live, user, "split.ics", calendar(vevent("split", summary="Training", extra=WEEKLY))).status_code
        == 201
    )
    _, etag = get(live, user, "split.ics")
    ended = vevent("split", summary="Training", extra="RRULE:FREQ=WEEKLY;UNTIL=20260323T225959Z")
    assert put(live, user, "split.ics", calendar(ended), etag).status_code == 204
    follow = vevent(
        "split-2",
        summary="Training neu",
        start="20260324T170000",
        end="20260324T180000",
        extra="RRULE:FREQ=WEEKLY;COUNT=7",
    )
    assert put(live, user, "split-2.ics", calendar(follow)).status_code == 201
    old, new = row(user, "split"), row(user, "split-2")
    assert old.rrule == "FREQ=WEEKLY;UNTIL=20260323T225959Z"
    assert old.last_end_utc < dt.datetime(2026, 3, 24)
    assert new.rrule == "FREQ=WEEKLY;COUNT=7" and new.subject == "Training neu"


def test_all_day_series_with_exdate(live, user):
    body = calendar(
        vevent(
            "allday",
            summary="Urlaub",
            start="20260401",
            end="20260402",
            tzid=None,
            extra="RRULE:FREQ=DAILY;COUNT=5\nEXDATE;VALUE=DATE:20260403",
        )
        .replace("DTSTART:", "DTSTART;VALUE=DATE:")
        .replace("DTEND:", "DTEND;VALUE=DATE:")
    )
    assert put(live, user, "allday.ics", body).status_code == 201
    appt = row(user, "allday")
    assert appt.all_day and json.loads(appt.exdates) == ["2026-04-03T00:00:00"]
    cal, _ = get(live, user, "allday.ics")
    ev = cal.walk("VEVENT")[0]
    assert ev.decoded("DTSTART") == dt.date(2026, 4, 1)
    assert ev["EXDATE"].dts[0].dt == dt.date(2026, 4, 3)


def test_series_with_rdate(live, user):
    body = calendar(
        vevent("rdate", extra="RRULE:FREQ=WEEKLY;COUNT=2\nRDATE;TZID=Europe/Vienna:20260401T100000")
    )
    assert put(live, user, "rdate.ics", body).status_code == 201
    assert json.loads(row(user, "rdate").rdates) == ["2026-04-01T10:00:00"]
