"""Reports as real clients use them: the caldav library's search, DAVx5's start-only query."""

from __future__ import annotations

import datetime as dt

import caldav
import pytest

from tests.test_reports_support import (
    PASSWORD,
    new_calendar,
    parse_multistatus,
    query_body,
    time_range,
    utc,
    vevent_filter,
)

D = dt.datetime


@pytest.fixture(scope="module")
def cal(live):
    c = new_calendar(live, "client tests")
    c.add(D(2026, 6, 1, 9), D(2026, 6, 1, 10), "single")
    c.add(D(2026, 6, 3), D(2026, 6, 4), "allday", tzid=None, all_day=True)
    c.add(
        D(2026, 5, 4, 14),
        D(2026, 5, 4, 15),
        "weekly",
        rrule="FREQ=WEEKLY;BYDAY=MO",
        exdates=[D(2026, 6, 8, 14)],
    )
    c.add(D(2026, 7, 1, 9), D(2026, 7, 1, 10), "july")
    c.add(D(2025, 1, 1, 9), D(2025, 1, 1, 10), "past", rrule="FREQ=DAILY;COUNT=2")
    return c


@pytest.fixture(scope="module")
def calendar(cal):
    client = caldav.DAVClient(url=cal.live.url(cal.path), username=cal.user, password=PASSWORD)
    return client.calendar(url=cal.live.url(cal.path))


def leaf(obj) -> str:
    return str(obj.url).rsplit("/", 1)[1].removesuffix(".ics")


def test_search_without_expansion_lists_objects_overlapping_the_range(calendar):
    found = calendar.search(start=D(2026, 6, 1), end=D(2026, 6, 15), event=True, expand=False)
    assert sorted(leaf(o) for o in found) == ["allday", "single", "weekly"]


def test_search_with_client_side_expansion_gives_each_instance(calendar):
    found = calendar.search(start=D(2026, 6, 1), end=D(2026, 6, 16), event=True, expand=True)
    starts = sorted((leaf(o), str(o.icalendar_component["DTSTART"].dt)) for o in found)
    weekly = [s for name, s in starts if name == "weekly"]
    assert len(weekly) == 2  # 1 and 15 June; 8 June is excluded
    assert {name for name, _ in starts} == {"allday", "single", "weekly"}


def test_search_with_server_side_expansion(calendar):
    found = calendar.search(
        start=D(2026, 6, 1), end=D(2026, 6, 16), event=True, expand=True, server_expand=True
    )
    weekly = [o for o in found if leaf(o) == "weekly"]
    assert len(weekly) == 2
    assert all("RRULE" not in o.icalendar_component for o in weekly)


def test_davx5_start_only_query_lists_everything_still_to_come(cal):
    """DAVx5 deletes every local event the server leaves out of this answer."""
    body = query_body(vevent_filter(time_range(utc(2026, 6, 2))), "<D:getetag/>")
    responses, _ = parse_multistatus(cal.report(body))
    found = {r.href.rsplit("/", 1)[1].removesuffix(".ics") for r in responses}
    assert found == {"allday", "weekly", "july"}
    for r in responses:
        assert r.props["{DAV:}getetag"].text == cal.request("GET", path=r.href).headers["ETag"]


def test_outlook_bounded_query_then_multiget(cal, calendar):
    found = calendar.search(start=D(2026, 6, 29), end=D(2026, 7, 2), event=True, expand=False)
    assert sorted(leaf(o) for o in found) == ["july", "weekly"]
    objects = calendar.multiget([o.url for o in found])
    assert sorted(leaf(o) for o in objects) == ["july", "weekly"]
    assert all("BEGIN:VEVENT" in o.data for o in objects)
