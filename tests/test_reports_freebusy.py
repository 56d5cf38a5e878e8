"""free-busy-query (RFC 4791 §7.10) over HTTP: 200 text/calendar, what blocks time."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest

from providers.practice import api
from providers.practice.api import OverrideFields
from tests.test_reports_support import CALDAV, new_calendar, time_range, utc

D = dt.datetime
TRANSPARENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:tr\r\n"
    "DTSTART:20260302T150000Z\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture(scope="module")
def cal(live):
    """Monday 2 March 2026; Vienna is UTC+1. Comments give UTC."""
    c = new_calendar(live, "freebusy tests")
    c.add(D(2026, 3, 2, 8), D(2026, 3, 2, 9), "early")  # 07-08Z, crosses the range start
    c.add(D(2026, 3, 2, 10), D(2026, 3, 2, 11), "a")  # 09-10Z
    c.add(D(2026, 3, 2, 10, 30), D(2026, 3, 2, 11, 30), "b")  # 09:30-10:30Z, merges with a
    c.add(D(2026, 3, 2, 12), D(2026, 3, 2, 13), "tentative", status="tentative")  # 11-12Z
    api.delete_appointment(c.add(D(2026, 3, 2, 14), D(2026, 3, 2, 15), "cancelled"))
    c.add(D(2026, 3, 2, 16), D(2026, 3, 2, 17), "transparent", device_ical=TRANSPARENT)
    c.add(D(2026, 3, 2, 18), D(2026, 3, 2, 18), "zero")  # blocks nothing
    c.add(
        D(2026, 2, 23, 19),
        D(2026, 2, 23, 20),
        "weekly",
        rrule="FREQ=WEEKLY",  # Mo 18-19Z
        overrides=[
            OverrideFields(
                D(2026, 3, 9, 19), D(2026, 3, 9, 19), D(2026, 3, 9, 20), "Europe/Vienna", status="cancelled"
            )
        ],
    )
    return c


def free_busy(cal, start, end):
    body = f'<C:free-busy-query xmlns:C="{CALDAV}">{time_range(start, end)}</C:free-busy-query>'
    return cal.report(body)


def periods(resp):
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/calendar")
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    fb = icalendar.Calendar.from_ical(resp.content).walk("VFREEBUSY")[0]
    props = fb.get("FREEBUSY", [])
    props = props if isinstance(props, list) else [props]
    return fb, sorted((p.params.get("FBTYPE", "BUSY"), p.dt[0], p.dt[1]) for p in props)


def test_busy_periods_in_utc_merged_clipped_without_cancelled_or_transparent(cal):
    start, end = utc(2026, 3, 2, 7, 30), utc(2026, 3, 3)
    resp = free_busy(cal, start, end)
    fb, found = periods(resp)
    assert fb["DTSTART"].dt == start and fb["DTEND"].dt == end
    assert found == [
        ("BUSY", utc(2026, 3, 2, 7, 30), utc(2026, 3, 2, 8)),
        ("BUSY", utc(2026, 3, 2, 9), utc(2026, 3, 2, 10, 30)),
        ("BUSY", utc(2026, 3, 2, 18), utc(2026, 3, 2, 19)),
        ("BUSY-TENTATIVE", utc(2026, 3, 2, 11), utc(2026, 3, 2, 12)),
    ]
    assert b"Z/" in resp.content and b"SUMMARY" not in resp.content


def test_series_is_expanded_and_a_cancelled_occurrence_is_free(cal):
    _, found = periods(free_busy(cal, utc(2026, 3, 3), utc(2026, 3, 24)))
    assert found == [("BUSY", utc(2026, 3, d, 18), utc(2026, 3, d, 19)) for d in (16, 23)]


def test_range_is_required(cal):
    assert free_busy(cal, utc(2026, 3, 3), None).status_code == 400
    body = f'<C:free-busy-query xmlns:C="{CALDAV}"/>'
    assert cal.report(body).status_code == 400
