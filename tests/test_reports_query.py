"""calendar-query over HTTP (RFC 4791 §7.8, §9.7, §9.9): the report plumbing and the
interplay of the SQL time-range push-down with the Python post-filter, one rule per test
on a tiny calendar with known answers (filters.py itself is unit-tested elsewhere)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from providers.practice import api
from tests.test_reports_support import (
    CALDAV,
    DAV,
    NS,
    parse_multistatus,
    query_body,
    time_range,
    utc,
    vevent_filter,
)
from tests.test_reports_support import new_calendar as _new_calendar

D = dt.datetime
ALL = {"single", "zero", "allday", "floating", "weekly", "utc", "count", "todo", "zeroseries"}
TODO = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:t\r\n"
    "DTSTART:20260117T100000Z\r\nEND:VEVENT\r\nBEGIN:VTODO\r\nUID:t-todo\r\n"
    "SUMMARY:Befund\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture(scope="module")
def cal(live):
    """January 2026, Vienna is UTC+1. Instants in the comments are UTC."""
    c = _new_calendar(live, "query tests")
    c.add(D(2026, 1, 12, 10), D(2026, 1, 12, 11), "single", subject="Physio")  # 09-10Z
    c.add(D(2026, 1, 12, 12), D(2026, 1, 12, 12), "zero", subject="Anruf")  # 11Z, no length
    c.add(D(2026, 1, 14), D(2026, 1, 15), "allday", tzid=None, all_day=True)  # 13th 23Z-14th 23Z
    c.add(D(2026, 1, 15, 8), D(2026, 1, 15, 9), "floating", tzid=None)  # 07-08Z
    c.add(
        D(2026, 1, 5, 8),
        D(2026, 1, 5, 8, 30),
        "weekly",
        rrule="FREQ=WEEKLY",  # Mo 07Z
        exdates=[D(2026, 1, 19, 8)],
        subject="Serie",
        overrides=[
            dict(
                recurrence_id=D(2026, 1, 26, 8),
                start_local=D(2026, 1, 27, 15),
                end_local=D(2026, 1, 27, 15, 30),
                tzid="Europe/Vienna",
            )
        ],
    )
    c.add(D(2026, 1, 16, 10), D(2026, 1, 16, 11), "utc", tzid="UTC")
    c.add(D(2026, 2, 2, 9), D(2026, 2, 2, 10), "count", rrule="FREQ=DAILY;COUNT=3")  # last 4th 08-09Z
    c.add(D(2027, 2, 1, 12), D(2027, 2, 1, 12), "zeroseries", rrule="FREQ=DAILY;COUNT=2")  # 2 Feb 11Z
    c.add(D(2026, 1, 17, 11), D(2026, 1, 17, 11), "todo", tzid="UTC", device_ical=TODO)
    gone = c.add(D(2026, 1, 12, 10), D(2026, 1, 12, 11), "cancelled")
    api.delete_appointment(gone, cancel=True)
    return c


def q(cal, start=None, end=None):
    return cal.query(vevent_filter(time_range(start, end)))


def test_single_event_bounds_are_exact_start_inclusive_end_exclusive(cal):
    assert "single" in q(cal, utc(2026, 1, 12, 9, 59, 59))
    assert "single" not in q(cal, utc(2026, 1, 12, 10))  # starts where the event ends
    assert "single" in q(cal, end=utc(2026, 1, 12, 9, 0, 1))
    assert "single" not in q(cal, end=utc(2026, 1, 12, 9))  # ends where the event starts


def test_zero_length_event_matches_at_its_instant_only(cal):
    assert "zero" in q(cal, utc(2026, 1, 12, 11), utc(2026, 1, 12, 11, 0, 1))
    assert "zero" not in q(cal, utc(2026, 1, 12, 11, 0, 1))
    assert "zero" not in q(cal, end=utc(2026, 1, 12, 11))


def test_all_day_is_a_local_day_although_sql_widens_it_by_14_hours(cal):
    assert "allday" not in q(cal, utc(2026, 1, 13, 10), utc(2026, 1, 13, 23))
    assert "allday" in q(cal, utc(2026, 1, 13, 10), utc(2026, 1, 13, 23, 0, 1))
    assert "allday" in q(cal, utc(2026, 1, 14, 22, 59, 59), utc(2026, 1, 15, 12))
    assert "allday" not in q(cal, utc(2026, 1, 14, 23), utc(2026, 1, 15, 12))


def test_floating_time_is_in_the_practice_zone_not_utc(cal):
    assert "floating" in q(cal, utc(2026, 1, 15, 7), utc(2026, 1, 15, 7, 0, 1))
    assert "floating" not in q(cal, utc(2026, 1, 15, 8), utc(2026, 1, 15, 9))


def test_utc_event_keeps_its_own_zone(cal):
    assert "utc" in q(cal, utc(2026, 1, 16, 10, 59), utc(2026, 1, 16, 12))
    assert "utc" not in q(cal, utc(2026, 1, 16, 11), utc(2026, 1, 16, 12))


def test_open_ended_series_matches_a_start_only_range_far_in_the_future(cal):
    found = q(cal, utc(2031, 3, 30, 12))
    assert found == {"weekly"}
    assert q(cal, utc(2999, 1, 1)) == {"weekly"}  # no 2038 cap


def test_series_excluded_and_moved_instances(cal):
    assert "weekly" not in q(cal, utc(2026, 1, 19, 6), utc(2026, 1, 19, 8))  # EXDATE
    assert "weekly" not in q(cal, utc(2026, 1, 26, 6), utc(2026, 1, 26, 8))  # moved away
    assert "weekly" in q(cal, utc(2026, 1, 27, 14), utc(2026, 1, 27, 14, 0, 1))  # moved here
    assert "weekly" in q(cal, utc(2026, 2, 2, 7, 29, 59), utc(2026, 2, 2, 8))


def test_series_with_count_ends_after_its_last_instance(cal):
    assert "count" in q(cal, utc(2026, 2, 4, 8, 59, 59))
    assert "count" not in q(cal, utc(2026, 2, 4, 9))
    assert "count" not in q(cal, end=utc(2026, 2, 2, 8))


def test_zero_length_series_matches_a_range_starting_at_its_last_instant(cal):
    assert "zeroseries" in q(cal, utc(2027, 2, 2, 11))  # SQL: last_end == start passes
    assert "zeroseries" not in q(cal, utc(2027, 2, 2, 11, 0, 1))


def test_end_only_range(cal):
    assert q(cal, end=utc(2026, 1, 5, 7, 0, 1)) == {"weekly"}
    assert q(cal, end=utc(2026, 1, 5, 7)) == set()


def test_filter_without_time_range_lists_every_served_object(cal):
    assert cal.query(vevent_filter()) == ALL
    assert cal.query('<C:filter><C:comp-filter name="VCALENDAR"/></C:filter>') == ALL


def test_cancelled_appointments_are_never_served(cal):
    assert "cancelled" not in q(cal, utc(2026, 1, 12), utc(2026, 1, 13))


def test_component_type_other_than_vevent(cal):
    todo = (
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter></C:filter>'
    )
    assert cal.query(todo) == {"todo"}
    absent = (
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        "<C:is-not-defined/></C:comp-filter></C:comp-filter></C:filter>"
    )
    assert cal.query(absent) == set()


def test_prop_filter_text_match_and_negation(cal):
    physio = '<C:prop-filter name="SUMMARY"><C:text-match>physio</C:text-match></C:prop-filter>'
    assert cal.query(vevent_filter(physio)) == {"single"}
    octet = physio.replace("<C:text-match>", '<C:text-match collation="i;octet">')
    assert cal.query(vevent_filter(octet)) == set()
    negated = physio.replace("<C:text-match>", '<C:text-match negate-condition="yes">')
    assert "single" not in cal.query(vevent_filter(negated))


def test_time_range_and_prop_filter_together(cal):
    serie = '<C:prop-filter name="SUMMARY"><C:text-match>Serie</C:text-match></C:prop-filter>'
    inner = time_range(utc(2026, 1, 12), utc(2026, 1, 13)) + serie
    assert cal.query(vevent_filter(inner)) == {"weekly"}


@pytest.mark.parametrize(
    "filter_xml, condition",
    [
        ("", "valid-filter"),
        (vevent_filter('<C:time-range start="20260101"/>'), "valid-filter"),
        ('<C:filter><C:comp-filter name="VEVENT"/></C:filter>', "valid-filter"),
        (
            vevent_filter(
                '<C:prop-filter name="SUMMARY"><C:text-match collation="i;unicode-casemap">'
                "x</C:text-match></C:prop-filter>"
            ),
            "supported-collation",
        ),
        (
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">'
            + time_range(utc(2026, 1, 1))
            + "</C:comp-filter></C:comp-filter></C:filter>",
            "supported-filter",
        ),
    ],
)
def test_bad_filters_are_403_with_the_caldav_precondition(cal, filter_xml, condition):
    resp = cal.report(query_body(filter_xml))
    assert resp.status_code == 403
    root = etree.fromstring(resp.content)
    assert root.find(f"{{{CALDAV}}}{condition}") is not None, resp.text


def test_depth_is_not_consulted(cal):
    f = vevent_filter(time_range(utc(2026, 1, 12), utc(2026, 1, 13)))
    assert cal.query(f, depth="0") == cal.query(f, depth=None) == cal.query(f) == {"single", "zero", "weekly"}


def test_etags_in_the_report_equal_those_of_get(cal):
    resp = cal.report(query_body(vevent_filter(time_range(utc(2026, 1, 12)))))
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    responses, _ = parse_multistatus(resp)
    assert responses
    for r in responses:
        etag = r.props["{DAV:}getetag"].text
        assert cal.request("GET", path=r.href).headers["ETag"] == etag


def test_calendar_data_whole_partial_and_expanded(cal):
    f = vevent_filter(time_range(utc(2026, 1, 26), utc(2026, 2, 3)))
    whole = cal.report(query_body(f, "<C:calendar-data/>"))
    datas = {
        r.href.rsplit("/", 1)[1].removesuffix(".ics"): r.props[f"{{{CALDAV}}}calendar-data"].text
        for r in parse_multistatus(whole)[0]
    }
    assert set(datas) == {"weekly", "count"}
    assert datas["count"] == cal.request("GET", path=cal.path + "count.ics").text
    partial = (
        '<C:calendar-data><C:comp name="VCALENDAR"><C:comp name="VEVENT">'
        '<C:prop name="UID"/></C:comp></C:comp></C:calendar-data>'
    )
    for r in parse_multistatus(cal.report(query_body(f, partial)))[0]:
        text = r.props[f"{{{CALDAV}}}calendar-data"].text
        assert "UID:" in text and "SUMMARY" not in text and "DTSTART" not in text
    expand = '<C:calendar-data><C:expand start="20260126T000000Z" end="20260203T000000Z"/></C:calendar-data>'
    weekly = (
        [r for r in parse_multistatus(cal.report(query_body(f, expand)))[0] if r.href.endswith("weekly.ics")][
            0
        ]
        .props[f"{{{CALDAV}}}calendar-data"]
        .text
    )
    assert "RRULE" not in weekly
    assert "DTSTART:20260127T140000Z" in weekly and "DTSTART:20260202T070000Z" in weekly


def test_bad_calendar_data_is_rejected_before_any_row_is_read(cal):
    bad = '<C:calendar-data content-type="application/json"/>'
    resp = cal.report(query_body(vevent_filter(), bad))
    assert resp.status_code == 403
    assert etree.fromstring(resp.content).find(f"{{{CALDAV}}}supported-calendar-data") is not None
    resp = cal.report(query_body(vevent_filter(), "<C:calendar-data><C:expand/></C:calendar-data>"))
    assert resp.status_code == 400


def test_allprop_query_answers_the_cheap_properties(cal):
    body = query_body(vevent_filter(time_range(utc(2026, 1, 12), utc(2026, 1, 13))))
    responses, _ = parse_multistatus(
        cal.report(body.replace("<D:prop><D:getetag/></D:prop>", "<D:allprop/>"))
    )
    assert len(responses) == 3
    assert all("{DAV:}getetag" in r.props and "{DAV:}getcontenttype" in r.props for r in responses)


def test_unknown_report_and_report_on_an_event_are_403_supported_report(cal):
    resp = cal.report('<D:foo-report xmlns:D="DAV:"/>')
    assert resp.status_code == 403
    assert etree.fromstring(resp.content).find("D:supported-report", NS) is not None
    resp = cal.report(query_body(vevent_filter()), path=cal.path + "single.ics")
    assert resp.status_code == 403


def test_a_report_answers_and_is_advertised_only_where_its_targets_say(cal, monkeypatch):
    """Report.targets decides both the dispatch and DAV:supported-report-set."""
    from davserver import reports
    from providers.properties import CALENDAR, OBJECT

    assert set(reports.names(CALENDAR)) >= {f"{{{CALDAV}}}calendar-query", f"{{{DAV}}}sync-collection"}
    assert reports.names(OBJECT) == ()
    name = "{urn:test}object-only"
    handler = lambda *args: reports.ReportResult(200, b"object report\n", "text/plain")  # noqa: E731
    monkeypatch.setitem(reports.REGISTRY, name, reports.Report(name, handler, frozenset({OBJECT})))
    assert name in reports.names(OBJECT) and name not in reports.names(CALENDAR)
    on_object = cal.report('<t:object-only xmlns:t="urn:test"/>', path=cal.path + "single.ics")
    assert on_object.status_code == 200 and on_object.content == b"object report\n"
    on_calendar = cal.report('<t:object-only xmlns:t="urn:test"/>')
    assert on_calendar.status_code == 403
    assert etree.fromstring(on_calendar.content).find("D:supported-report", NS) is not None


def test_other_practitioners_calendar_is_404(cal):
    resp = cal.report(query_body(vevent_filter()), path="/anna_maier/calendar/")
    assert resp.status_code == 404
