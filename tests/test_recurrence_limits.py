"""Bounded recurrence work per request (issue 22, items 3 and 5): expand and free-busy over
years 1..9999 of an endless series are refused with 403 CALDAV:max-instances within
seconds; ranges ending at 9999-12-30 or later are answered correctly, not swallowed."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import logging
import socket
import time

import icalendar
import pytest
from lxml import etree

from providers.practice import api
from tests.two_way import PASSWORD, calendar_path, new_practitioner

C = "urn:ietf:params:xml:ns:caldav"
XML = {"Content-Type": "application/xml", "Depth": "1"}


@pytest.fixture(scope="module")
def user(live):
    user = new_practitioner("limits")
    start = dt.datetime(2026, 3, 2, 9)
    hour = dt.timedelta(hours=1)
    api.create_appointment(user, api.AppointmentFields(start, start + hour, rrule="FREQ=DAILY"), uid="daily")
    weekly = api.AppointmentFields(start, start + hour, rrule="FREQ=WEEKLY;COUNT=3")
    api.create_appointment(user, weekly, uid="weekly")
    return user


def report(live, user, body):
    started = time.monotonic()
    r = live.request("REPORT", calendar_path(user), body, user=user.username, password=PASSWORD, headers=XML)
    return r, time.monotonic() - started


def expand_query(start: str, end: str, uid: str | None = None) -> str:
    uid_filter = (
        f'<C:prop-filter name="UID"><C:text-match collation="i;octet">{uid}</C:text-match></C:prop-filter>'
        if uid
        else ""
    )
    return (
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}"><D:prop><C:calendar-data>'
        f'<C:expand start="{start}" end="{end}"/></C:calendar-data></D:prop><C:filter>'
        f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{start}" end="{end}"/>{uid_filter}</C:comp-filter></C:comp-filter>'
        "</C:filter></C:calendar-query>"
    )


def free_busy(start: str, end: str) -> str:
    return f'<C:free-busy-query xmlns:C="{C}"><C:time-range start="{start}" end="{end}"/></C:free-busy-query>'


def assert_max_instances(r, seconds):
    assert r.status_code == 403, r.text[:300]
    assert etree.fromstring(r.content)[0].tag == f"{{{C}}}max-instances"
    assert seconds < 5


def test_expand_of_an_endless_series_over_all_years_is_refused(live, user):
    r, seconds = report(live, user, expand_query("00010101T000000Z", "99991231T000000Z"))
    assert_max_instances(r, seconds)


def test_free_busy_over_all_years_is_refused(live, user):
    r, seconds = report(live, user, free_busy("00010101T000000Z", "99991231T000000Z"))
    assert_max_instances(r, seconds)


def test_open_query_over_all_years_answers_quickly(live, user):
    body = (
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}"><D:prop><D:getetag/></D:prop><C:filter>'
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        '<C:time-range start="00010101T000000Z" end="99991231T235959Z"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )
    r, seconds = report(live, user, body)
    assert r.status_code == 207 and seconds < 5
    assert len(etree.fromstring(r.content).findall("{DAV:}response")) == 2


def test_expand_to_year_9999_of_a_finite_series_is_expanded(live, user):
    r, _ = report(live, user, expand_query("20260101T000000Z", "99991230T000000Z", uid="weekly"))
    assert r.status_code == 207, r.text[:300]
    (data,) = [el.text for el in etree.fromstring(r.content).iter(f"{{{C}}}calendar-data")]
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert len(events) == 3 and not any("RRULE" in e for e in events)


def test_free_busy_to_year_9999_reports_busy_time(live):
    user = new_practitioner("limits-fb")
    start = dt.datetime(2026, 3, 2, 9)
    api.create_appointment(user, api.AppointmentFields(start, start + dt.timedelta(hours=1)))
    for end in ("99991230T000000Z", "99991231T235959Z"):
        r, _ = report(live, user, free_busy("20260101T000000Z", end))
        assert r.status_code == 200, r.text[:300]
        (fb,) = icalendar.Calendar.from_ical(r.content).walk("VFREEBUSY")
        assert "FREEBUSY" in fb, end


def test_work_stops_when_the_client_has_gone(monkeypatch):
    """The budget asks whether the client is still there (at most every 0.25 s)."""
    from davserver import framing, work_budget

    left, right = socket.socketpair()
    token = framing._CLIENT.set(left)
    try:
        assert not framing.client_gone()
        right.close()
        assert framing.client_gone()
        monkeypatch.setattr(work_budget, "_GONE_EVERY", 0.0)
        with (
            work_budget.work_budget(gone=framing.client_gone),
            pytest.raises(work_budget.TooMuchWork, match="gone"),
        ):
            time.sleep(0.01)
            work_budget.charge(1)
    finally:
        framing._CLIENT.reset(token)
        left.close()


def test_a_client_that_leaves_stops_the_expansion(live, user, monkeypatch, caplog):
    """Without an instance cap, only the client leaving (or the 10 s) ends this expansion."""
    from davserver import work_budget
    from davserver.methods import report as report_method
    from tests.conftest import wait_until

    monkeypatch.setattr(report_method, "work_budget", functools.partial(work_budget.work_budget, 10**9))
    caplog.set_level(logging.INFO, logger="praxis_caldav.access")
    body = expand_query("00010101T000000Z", "99991231T000000Z").encode()
    auth = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    head = (
        f"REPORT {calendar_path(user)} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nDepth: 1\r\n"
        f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", live.server.bind_addr[1])) as sock:
        sock.sendall(head + body)
        time.sleep(0.3)

    def logged():
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("REPORT")]

    wait_until(lambda: logged(), 15)
    milliseconds = float(logged()[0].rsplit(" ", 1)[1].removesuffix("ms"))
    assert milliseconds < 3000
