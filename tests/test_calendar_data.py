"""The <C:calendar-data> REPORT request element, RFC 4791 §9.6: one test per rule.

Europe/Vienna is UTC+1 until 2026-03-29 and UTC+2 afterwards.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest
from lxml import etree

from davserver.ical.calendar_data import (
    CalendarDataError,
    CalendarDataRequest,
    CompSpec,
    PropSpec,
    apply_calendar_data,
    parse_calendar_data,
)
from davserver.ical.filters import TimeRange

VIENNA = ZoneInfo("Europe/Vienna")
NEW_YORK = ZoneInfo("America/New_York")
NS = 'xmlns:C="urn:ietf:params:xml:ns:caldav"'


def ics(body: str) -> bytes:
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//praxis//test//EN\n"
    text += textwrap.dedent(body).strip() + "\nEND:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def req(inner: str = "", attrs: str = "") -> CalendarDataRequest | None:
    return parse_calendar_data(etree.fromstring(f"<C:calendar-data {NS} {attrs}>{inner}</C:calendar-data>"))


def shaped(inner: str, data: bytes, tz: ZoneInfo = VIENNA) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(apply_calendar_data(req(inner), data, tz))


def expand(start: str, end: str) -> str:
    return f'<C:expand start="{start}" end="{end}"/>'


def limit(start: str, end: str) -> str:
    return f'<C:limit-recurrence-set start="{start}" end="{end}"/>'


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def starts(cal: icalendar.Calendar) -> list:
    return sorted(e["DTSTART"].dt for e in cal.walk("VEVENT"))


VTIMEZONE = textwrap.dedent("""
    BEGIN:VTIMEZONE
    TZID:Europe/Vienna
    BEGIN:STANDARD
    DTSTART:19701025T030000
    TZOFFSETFROM:+0200
    TZOFFSETTO:+0100
    RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
    END:STANDARD
    BEGIN:DAYLIGHT
    DTSTART:19700329T020000
    TZOFFSETFROM:+0100
    TZOFFSETTO:+0200
    RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
    END:DAYLIGHT
    END:VTIMEZONE
""")

SERIES = ics(
    VTIMEZONE
    + textwrap.dedent("""
    BEGIN:VEVENT
    UID:s
    DTSTAMP:20260101T000000Z
    DTSTART;TZID=Europe/Vienna:20260302T100000
    DTEND;TZID=Europe/Vienna:20260302T110000
    RRULE:FREQ=WEEKLY;COUNT=6
    EXDATE;TZID=Europe/Vienna:20260316T100000
    RDATE;TZID=Europe/Vienna:20260319T120000
    SUMMARY:weekly
    ATTENDEE;PARTSTAT=ACCEPTED;CN=Anna:mailto:anna@example.org
    BEGIN:VALARM
    ACTION:DISPLAY
    DESCRIPTION:soon
    TRIGGER:-PT15M
    END:VALARM
    END:VEVENT
    BEGIN:VEVENT
    UID:s
    DTSTAMP:20260101T000000Z
    RECURRENCE-ID;TZID=Europe/Vienna:20260323T100000
    DTSTART;TZID=Europe/Vienna:20260325T150000
    DTEND;TZID=Europe/Vienna:20260325T160000
    SUMMARY:moved within the series
    END:VEVENT
    BEGIN:VEVENT
    UID:s
    DTSTAMP:20260101T000000Z
    RECURRENCE-ID;TZID=Europe/Vienna:20260309T100000
    DTSTART;TZID=Europe/Vienna:20260504T100000
    DTEND;TZID=Europe/Vienna:20260504T110000
    SUMMARY:moved after the series
    END:VEVENT
""")
)
# Mondays 03-02 .. 04-06 10:00 local; 03-16 excluded; RDATE 03-19 12:00;
# 03-23 moved to 03-25 15:00; 03-09 moved to 05-04.


# --------------------------------------------------------------------------- parsing


def test_no_calendar_data_element_means_no_request():
    assert parse_calendar_data(None) is None
    assert apply_calendar_data(None, SERIES, VIENNA) is SERIES


def test_plain_calendar_data_returns_the_stored_bytes_unchanged():
    stored = b"BEGIN:VCALENDAR\nPRODID:odd but stored\nEND:VCALENDAR\n"
    plain = req()
    assert plain == CalendarDataRequest() and plain.whole
    assert apply_calendar_data(plain, stored, VIENNA) == stored


def test_parse_builds_the_request_tree():
    got = req(
        '<C:comp name="VCALENDAR"><C:allprop/><C:comp name="vevent">'
        '<C:prop name="summary"/><C:prop name="ATTENDEE" novalue="yes"/></C:comp>'
        '<C:comp name="VTIMEZONE"/></C:comp>' + expand("20260301T000000Z", "20260401T000000Z")
    )
    vevent = CompSpec("VEVENT", (PropSpec("SUMMARY", False), PropSpec("ATTENDEE", True)), ())
    assert got == CalendarDataRequest(
        CompSpec("VCALENDAR", None, (vevent, CompSpec("VTIMEZONE", None, None))),
        expand=TimeRange(utc(2026, 3, 1), utc(2026, 4, 1)),
    )


@pytest.mark.parametrize(
    "attrs", ['content-type="application/calendar+json"', 'content-type="text/calendar" version="1.0"']
)
def test_unsupported_media_type_is_supported_calendar_data(attrs):
    with pytest.raises(CalendarDataError) as info:
        req(attrs=attrs)
    assert info.value.condition == "supported-calendar-data"


def test_text_calendar_with_parameters_is_accepted():
    assert req(attrs='content-type="text/calendar; charset=utf-8" version="2.0"').whole


@pytest.mark.parametrize(
    "inner",
    [
        '<C:expand start="20260101T000000Z"/>',  # expand needs both start and end
        '<C:expand end="20260101T000000Z"/>',
        expand("20260102T000000Z", "20260101T000000Z"),  # end must be after start
        expand("20260101T000000", "20260102T000000"),  # UTC required
        '<C:limit-recurrence-set start="20260101T000000Z"/>',
        expand("20260101T000000Z", "20260102T000000Z") + limit("20260101T000000Z", "20260102T000000Z"),
        '<C:comp name="VEVENT"/>',  # the top comp is the calendar object
        '<C:comp name="VCALENDAR"/><C:comp name="VCALENDAR"/>',
        '<C:comp name="VCALENDAR"><C:allprop/><C:prop name="UID"/></C:comp>',
        '<C:comp name="VCALENDAR"><C:allcomp/><C:comp name="VEVENT"/></C:comp>',
        '<C:comp name="VCALENDAR"><C:prop/></C:comp>',
        '<C:comp name="VCALENDAR"><C:prop name="UID" novalue="maybe"/></C:comp>',
        "<C:bogus/>",
    ],
)
def test_malformed_calendar_data_is_a_bad_request(inner):
    with pytest.raises(CalendarDataError) as info:
        req(inner)
    assert info.value.condition is None  # -> 400 Bad Request
    assert isinstance(info.value, ValueError)


def test_foreign_namespace_extensions_are_ignored():
    assert req('<X:hint xmlns:X="urn:example"/>').whole


# ----------------------------------------------------------------- partial retrieval


def test_partial_retrieval_as_in_rfc_4791_example_7_8_1():
    cal = shaped(
        '<C:comp name="VCALENDAR"><C:prop name="VERSION"/>'
        '<C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="UID"/>'
        '<C:prop name="DTSTART"/><C:prop name="DTEND"/><C:prop name="RRULE"/>'
        '<C:prop name="RECURRENCE-ID"/></C:comp>'
        '<C:comp name="VTIMEZONE"/></C:comp>',
        SERIES,
    )
    assert list(cal.keys()) == ["VERSION"]  # no PRODID
    events = cal.walk("VEVENT")
    assert len(events) == 3
    assert set(events[0].keys()) == {"SUMMARY", "UID", "DTSTART", "DTEND", "RRULE"}
    assert "DTSTAMP" not in events[1] and "RECURRENCE-ID" in events[1]
    assert not cal.walk("VALARM")  # VEVENT lists props but no comps
    (tz,) = cal.walk("VTIMEZONE")  # an empty <comp> is the whole component
    assert tz["TZID"] == "Europe/Vienna" and len(tz.subcomponents) == 2


def test_allprop_and_allcomp_keep_everything_below():
    cal = shaped(
        '<C:comp name="VCALENDAR"><C:prop name="VERSION"/>'
        '<C:comp name="VEVENT"><C:allprop/><C:allcomp/></C:comp></C:comp>',
        SERIES,
    )
    assert not cal.walk("VTIMEZONE")  # not requested
    master = cal.walk("VEVENT")[0]
    assert "DTSTAMP" in master and "EXDATE" in master
    assert cal.walk("VALARM")[0]["DESCRIPTION"] == "soon"


def test_nested_comp_selects_properties_of_subcomponents():
    cal = shaped(
        '<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="UID"/>'
        '<C:comp name="VALARM"><C:prop name="ACTION"/></C:comp></C:comp></C:comp>',
        SERIES,
    )
    (alarm,) = cal.walk("VALARM")
    assert list(alarm.keys()) == ["ACTION"]


def test_novalue_returns_the_property_name_and_parameters_only():
    data = apply_calendar_data(
        req(
            '<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="UID"/>'
            '<C:prop name="attendee" novalue="yes"/></C:comp></C:comp>'
        ),
        SERIES,
        VIENNA,
    )
    assert b"ATTENDEE;PARTSTAT=ACCEPTED;CN=Anna:\r\n" in data
    assert b"anna@example.org" not in data
    assert b"UID:s\r\n" in data


# ------------------------------------------------------------------------- expand


def test_expand_returns_one_vevent_per_instance_in_the_range():
    cal = shaped(expand("20260301T000000Z", "20260410T000000Z"), SERIES)
    got = {e["RECURRENCE-ID"].dt: e["DTSTART"].dt for e in cal.walk("VEVENT")}
    assert got == {
        utc(2026, 3, 2, 9): utc(2026, 3, 2, 9),
        utc(2026, 3, 19, 11): utc(2026, 3, 19, 11),  # RDATE
        utc(2026, 3, 23, 9): utc(2026, 3, 25, 14),  # override moved within the range
        utc(2026, 3, 30, 8): utc(2026, 3, 30, 8),  # after the DST switch
        utc(2026, 4, 6, 8): utc(2026, 4, 6, 8),
    }  # 03-09 moved out of the range, 03-16 excluded


def test_expand_includes_an_override_moved_into_the_range():
    cal = shaped(expand("20260501T000000Z", "20260601T000000Z"), SERIES)
    (moved,) = cal.walk("VEVENT")
    assert moved["RECURRENCE-ID"].dt == utc(2026, 3, 9, 9)
    assert (moved["DTSTART"].dt, moved["DTEND"].dt) == (utc(2026, 5, 4, 8), utc(2026, 5, 4, 9))
    assert moved["SUMMARY"] == "moved after the series"


def test_expanded_data_has_no_recurrence_properties_timezones_or_tzids():
    data = apply_calendar_data(req(expand("20260301T000000Z", "20260601T000000Z")), SERIES, VIENNA)
    for forbidden in (b"RRULE", b"RDATE", b"EXDATE", b"VTIMEZONE", b"TZID"):
        assert forbidden not in data
    cal = icalendar.Calendar.from_ical(data)
    assert cal["PRODID"] and len(cal.walk("VALARM")) == 4  # alarms stay with instances


def test_expand_uses_the_time_range_overlap_rules():
    # the 03-02 instance is 09:00Z-10:00Z: a range starting at its end excludes it
    assert not shaped(expand("20260302T100000Z", "20260303T000000Z"), SERIES).walk("VEVENT")
    assert starts(shaped(expand("20260302T095959Z", "20260303T000000Z"), SERIES)) == [utc(2026, 3, 2, 9)]


def test_expand_keeps_all_day_instances_as_dates():
    data = ics("""
        BEGIN:VEVENT
        UID:d
        DTSTAMP:20260101T000000Z
        DTSTART;VALUE=DATE:20260328
        RRULE:FREQ=DAILY;COUNT=3
        END:VEVENT
    """)
    # 03-29 local day is 03-28 23:00Z .. 03-29 22:00Z; 03-30 starts at 22:00Z
    cal = shaped(expand("20260329T120000Z", "20260329T220000Z"), data)
    (day,) = cal.walk("VEVENT")
    assert day["DTSTART"].dt == date(2026, 3, 29)
    assert day["RECURRENCE-ID"].dt == date(2026, 3, 29)


def test_expand_converts_floating_times_with_the_calendar_timezone():
    data = ics("""
        BEGIN:VEVENT
        UID:f
        DTSTAMP:20260101T000000Z
        DTSTART:20260115T100000
        DTEND:20260115T110000
        END:VEVENT
    """)
    assert starts(shaped(expand("20260115T000000Z", "20260116T000000Z"), data)) == [utc(2026, 1, 15, 9)]
    assert starts(shaped(expand("20260115T000000Z", "20260116T000000Z"), data, NEW_YORK)) == [
        utc(2026, 1, 15, 15)
    ]


def test_expand_leaves_single_events_without_recurrence_id():
    data = ics("""
        BEGIN:VEVENT
        UID:one
        DTSTAMP:20260101T000000Z
        DTSTART;TZID=Europe/Vienna:20260115T100000
        END:VEVENT
    """)
    (event,) = shaped(expand("20260115T000000Z", "20260116T000000Z"), data).walk("VEVENT")
    assert "RECURRENCE-ID" not in event
    assert "DTEND" not in event  # still a zero-duration event
    assert event["DTSTART"].dt == utc(2026, 1, 15, 9)
    assert not shaped(expand("20260116T000000Z", "20260117T000000Z"), data).walk("VEVENT")


def test_expand_of_an_infinite_rule_is_bounded_by_the_range():
    data = ics("""
        BEGIN:VEVENT
        UID:inf
        DTSTAMP:20260101T000000Z
        DTSTART:20260105T080000Z
        DURATION:PT1H
        RRULE:FREQ=WEEKLY
        END:VEVENT
    """)
    cal = shaped(expand("20300101T000000Z", "20300122T000000Z"), data)
    assert starts(cal) == [utc(2030, 1, 7, 8), utc(2030, 1, 14, 8), utc(2030, 1, 21, 8)]
    assert cal.walk("VEVENT")[0]["DTEND"].dt == utc(2030, 1, 7, 9)


def test_expand_then_partial_retrieval():
    cal = shaped(
        expand("20260301T000000Z", "20260303T000000Z")
        + '<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="DTSTART"/>'
        '<C:prop name="RECURRENCE-ID"/></C:comp></C:comp>',
        SERIES,
    )
    (event,) = cal.walk("VEVENT")
    assert set(event.keys()) == {"DTSTART", "RECURRENCE-ID"}


def test_expand_of_unreadable_recurrence_data_returns_the_object_unexpanded():
    data = ics("""
        BEGIN:VEVENT
        UID:bad
        DTSTAMP:20260101T000000Z
        DTSTART:20260105T080000Z
        RRULE:FREQ=SOMETIMES
        END:VEVENT
    """)
    cal = shaped(expand("20260101T000000Z", "20260201T000000Z"), data)
    assert len(cal.walk("VEVENT")) == 1 and "RRULE" in cal.walk("VEVENT")[0]


# ---------------------------------------------------------------- limit-recurrence-set


def recurrence_ids(cal: icalendar.Calendar) -> list:
    return sorted(e["RECURRENCE-ID"].dt.astimezone(UTC) for e in cal.walk("VEVENT") if "RECURRENCE-ID" in e)


def test_limit_recurrence_set_keeps_master_and_overrides_whose_new_time_overlaps():
    cal = shaped(limit("20260504T000000Z", "20260505T000000Z"), SERIES)
    assert recurrence_ids(cal) == [utc(2026, 3, 9, 9)]
    assert sum("RRULE" in e for e in cal.walk("VEVENT")) == 1  # the master
    assert cal.walk("VTIMEZONE")


def test_limit_recurrence_set_keeps_overrides_whose_original_time_overlaps():
    cal = shaped(limit("20260309T000000Z", "20260310T000000Z"), SERIES)
    assert recurrence_ids(cal) == [utc(2026, 3, 9, 9)]
    cal = shaped(limit("20260323T090000Z", "20260323T093000Z"), SERIES)
    assert recurrence_ids(cal) == [utc(2026, 3, 23, 9)]


def test_limit_recurrence_set_drops_overrides_elsewhere():
    cal = shaped(limit("20260330T000000Z", "20260331T000000Z"), SERIES)
    assert recurrence_ids(cal) == []
    assert len(cal.walk("VEVENT")) == 1


def test_limit_recurrence_set_uses_the_time_range_overlap_rules():
    # original 03-23 instance is 09:00Z-10:00Z: a range starting at 10:00Z misses it
    assert recurrence_ids(shaped(limit("20260323T100000Z", "20260323T120000Z"), SERIES)) == []


def test_limit_recurrence_set_keeps_this_and_future_overrides():
    data = ics("""
        BEGIN:VEVENT
        UID:r
        DTSTAMP:20260101T000000Z
        DTSTART:20260302T100000Z
        RRULE:FREQ=DAILY;COUNT=10
        END:VEVENT
        BEGIN:VEVENT
        UID:r
        DTSTAMP:20260101T000000Z
        RECURRENCE-ID;RANGE=THISANDFUTURE:20260304T100000Z
        DTSTART:20260304T120000Z
        END:VEVENT
    """)
    cal = shaped(limit("20260308T000000Z", "20260309T000000Z"), data)
    assert len(cal.walk("VEVENT")) == 2


# ------------------------------------------------------------------ limit-freebusy-set


def test_limit_freebusy_set_keeps_only_intersecting_periods():
    data = ics("""
        BEGIN:VFREEBUSY
        UID:fb
        DTSTAMP:20260101T000000Z
        FREEBUSY;FBTYPE=BUSY:20260102T100000Z/20260102T110000Z,20260105T100000Z/PT1H
        FREEBUSY:20260110T100000Z/20260110T110000Z
        END:VFREEBUSY
    """)
    cal = shaped('<C:limit-freebusy-set start="20260102T105959Z" end="20260105T100001Z"/>', data)
    periods = cal.walk("VFREEBUSY")[0]["FREEBUSY"]
    assert [p.start for p in periods] == [utc(2026, 1, 2, 10), utc(2026, 1, 5, 10)]
    assert periods[0].params["FBTYPE"] == "BUSY"
