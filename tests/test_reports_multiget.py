"""calendar-multiget (RFC 4791 §7.9) over HTTP: href spellings, 404s, foreign data, queries."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from providers.practice import api
from providers.practice.models import Appointment, database_proxy
from providers.sql.prepared import STATEMENTS
from tests.conftest import DEMO_USER
from tests.test_reports_support import (
    CALDAV,
    multiget_body,
    new_calendar,
    parse_multistatus,
    query_body,
    vevent_filter,
)

D = dt.datetime
DATA = f"{{{CALDAV}}}calendar-data"


@pytest.fixture(scope="module")
def cal(live):
    c = new_calendar(live, "Multiget Tests")
    c.add(D(2026, 3, 2, 9), D(2026, 3, 2, 10), "x")
    c.add(D(2026, 3, 3, 9), D(2026, 3, 3, 10), "serie", rrule="FREQ=DAILY;COUNT=3")
    api.delete_appointment(c.add(D(2026, 3, 4, 9), D(2026, 3, 4, 10), "storniert"))
    for i in range(40):
        c.add(
            D(2026, 4, 1, 8) + dt.timedelta(hours=i),
            D(2026, 4, 1, 9) + dt.timedelta(hours=i),
            f"bulk{i}",
            rrule="FREQ=WEEKLY;COUNT=2" if i % 2 else None,
        )
    return c


@contextlib.contextmanager
def appointment_selects():
    """Count the SELECTs on the appointment table the server runs meanwhile."""
    db = database_proxy.obj
    original, seen = db.execute_sql, []

    def counting(sql, params=None, *args, **kwargs):
        original_sql = sql
        if sql.startswith("EXECUTE "):  # a statement prepared on PostgreSQL
            sql = STATEMENTS.get(sql.split()[1], sql)
        if sql.lstrip().upper().startswith("SELECT") and 'FROM "appointment"' in sql:
            seen.append(sql)
        return original(original_sql, params, *args, **kwargs)

    db.execute_sql = counting
    try:
        yield seen
    finally:
        db.execute_sql = original


def test_every_spelling_of_an_href_finds_the_member_and_is_echoed(cal):
    port_url = cal.live.url("/multiget_tests/calendar/x.ics")
    spellings = [
        "/multiget_tests/calendar/x.ics",
        "x.ics",
        "./x.ics",
        port_url,
        "/Multiget%20Tests/calendar/x.ics",
        "/MULTIGET_TESTS/calendar/x.ics",
        "/multiget_tests/calendar/%78.ics",
        "../calendar/x.ics",
    ]
    responses, _ = parse_multistatus(cal.report(multiget_body(spellings, "<D:getetag/><C:calendar-data/>")))
    assert [r.href for r in responses] == spellings
    etag = cal.request("GET", path=cal.path + "x.ics")
    for r in responses:
        assert r.status is None
        assert r.props["{DAV:}getetag"].text == etag.headers["ETag"]
        assert r.props[DATA].text == etag.text


def test_missing_cancelled_and_foreign_hrefs_are_404_inside_the_207(cal):
    anna = api.find_practitioner(DEMO_USER)
    foreign = Appointment.select().where(Appointment.practitioner == anna.id).first()
    hrefs = [
        "/multiget_tests/calendar/nope.ics",
        "/multiget_tests/calendar/storniert.ics",
        f"/anna_maier/calendar/{foreign.resource_name}",
        f"/multiget_tests/shared-anna_maier/{foreign.resource_name}",
        f"/multiget_tests/calendar/{foreign.resource_name}",
        "/multiget_tests/calendar/",
        "/multiget_tests/calendar/x.ics/extra",
        "/multiget_tests/calendar/x.ics",
    ]
    responses, _ = parse_multistatus(cal.report(multiget_body(hrefs, "<C:calendar-data/>")))
    assert [r.href for r in responses] == hrefs
    assert [r.status for r in responses] == ["HTTP/1.1 404 Not Found"] * 7 + [None]
    assert all(not r.props for r in responses[:7])


def test_one_response_per_href_and_depth_ignored(cal):
    hrefs = ["x.ics", "x.ics", "serie.ics"]
    for depth in ("0", "1", "infinity", None):
        responses, _ = parse_multistatus(cal.report(multiget_body(hrefs), depth=depth))
        assert [r.href for r in responses] == ["x.ics", "serie.ics"]


def test_no_href_is_400(cal):
    assert cal.report(multiget_body([])).status_code == 400


def test_members_are_fetched_in_one_query_however_many(cal):
    """One light query (name, id, revision); the rows not rendered yet in one more, never
    one per member; once rendered, the light query is all."""
    hrefs = [f"bulk{i}.ics" for i in range(40)]
    first = None
    for expected in (2, 1):
        with appointment_selects() as seen:
            resp = cal.report(multiget_body(hrefs, "<C:calendar-data/>"))
        responses, _ = parse_multistatus(resp)
        assert len(responses) == 40 and all(r.status is None for r in responses)
        assert len(seen) == expected, seen
        assert first is None or resp.content == first
        first = resp.content


def test_calendar_query_reads_rows_in_one_query_however_many(cal):
    with appointment_selects() as seen:
        found = cal.query(vevent_filter())
    assert len(found) == 42 and len(seen) == 1
    with appointment_selects() as seen:
        resp = cal.report(query_body(vevent_filter(), "<D:getetag/><C:calendar-data/>"))
    assert len(parse_multistatus(resp)[0]) == 42 and len(seen) == 1


def test_shared_calendar_multiget_sees_only_the_shared_calendar(cal):
    anna = api.find_practitioner(DEMO_USER)
    api.grant_access(anna, cal.practitioner, can_write=False)
    foreign = (
        Appointment.select()
        .where((Appointment.practitioner == anna.id) & (Appointment.status != "cancelled"))
        .first()
    )
    shared = "/multiget_tests/shared-anna_maier/"
    hrefs = [
        shared + foreign.resource_name,
        "/Multiget%20Tests/shared-Anna%20Maier/" + foreign.resource_name,
        "/multiget_tests/calendar/x.ics",
    ]
    responses, _ = parse_multistatus(cal.report(multiget_body(hrefs), path=shared))
    assert [r.status for r in responses] == [None, None, "HTTP/1.1 404 Not Found"]
    api.revoke_access(anna, cal.practitioner)
    assert cal.report(multiget_body(hrefs), path=shared).status_code == 404
