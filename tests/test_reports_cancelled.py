"""serve_cancelled: true — cancelled appointments are served by every report but free-busy.

(With the default, false, the other report tests check they are never returned.)
"""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest

from davserver.config import ServerConfig
from providers.practice import api
from tests.conftest import start_server
from tests.test_reports_support import (
    CALDAV,
    multiget_body,
    new_calendar,
    parse_multistatus,
    sync_body,
    time_range,
    utc,
    vevent_filter,
)

D = dt.datetime


@pytest.fixture(scope="module")
def cal(db_url):
    config = ServerConfig()
    config.sync.serve_cancelled = True
    server = start_server(db_url, config)
    try:
        c = new_calendar(server, "cancel tests")
        c.add(D(2026, 3, 2, 10), D(2026, 3, 2, 11), "kept")
        yield c
    finally:
        server.server.stop()


def test_cancelled_appointment_stays_listed_with_status_cancelled(cal):
    _, token = parse_multistatus(cal.report(sync_body("")))
    gone = cal.add(D(2026, 3, 2, 12), D(2026, 3, 2, 13), "gone")
    api.delete_appointment(gone, cancel=True)
    assert cal.query(vevent_filter(time_range(utc(2026, 3, 2), utc(2026, 3, 3)))) == {"kept", "gone"}
    responses, _ = parse_multistatus(cal.report(sync_body(token, props="<C:calendar-data/>")))
    assert [(r.href.rsplit("/", 1)[1], r.status) for r in responses] == [("gone.ics", None)]
    data = responses[0].props[f"{{{CALDAV}}}calendar-data"].text
    assert "STATUS:CANCELLED" in data
    responses, _ = parse_multistatus(cal.report(multiget_body(["gone.ics"])))
    assert responses[0].status is None


def test_free_busy_never_counts_cancelled(cal):
    body = (
        f'<C:free-busy-query xmlns:C="{CALDAV}">'
        f"{time_range(utc(2026, 3, 2), utc(2026, 3, 3))}</C:free-busy-query>"
    )
    resp = cal.report(body)
    fb = icalendar.Calendar.from_ical(resp.content).walk("VFREEBUSY")[0]
    periods = fb["FREEBUSY"] if isinstance(fb["FREEBUSY"], list) else [fb["FREEBUSY"]]
    assert [p.dt for p in periods] == [(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10))]
