"""RFC 4791 calendar-query filters: one test per rule of §9.7 / §9.9, on tiny calendars.

Times in comments: Europe/Vienna is UTC+1 (CET) in winter and UTC+2 (CEST) from
2026-03-29 01:00Z to 2026-10-25 01:00Z.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from dateutil import rrule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from davserver.ical.filters import (
    CompFilter,
    FilterError,
    ParamFilter,
    PropFilter,
    TextMatch,
    TimeRange,
    matches,
    parse_filter,
    prefilter,
)

VIENNA = ZoneInfo("Europe/Vienna")
NEW_YORK = ZoneInfo("America/New_York")
NS = 'xmlns:C="urn:ietf:params:xml:ns:caldav"'


def xml_filter(inner: str) -> etree._Element:
    return etree.fromstring(f"<C:filter {NS}>{inner}</C:filter>")


def flt(inner: str) -> CompFilter:
    """A filter whose VCALENDAR comp-filter contains `inner`."""
    return parse_filter(xml_filter(f'<C:comp-filter name="VCALENDAR">{inner}</C:comp-filter>'))


def time_range(start: str | None, end: str | None) -> str:
    attrs = (f' start="{start}"' if start else "") + (f' end="{end}"' if end else "")
    return f"<C:time-range{attrs}/>"


def event_in(start: str | None, end: str | None) -> CompFilter:
    return flt(f'<C:comp-filter name="VEVENT">{time_range(start, end)}</C:comp-filter>')


def ics(body: str) -> icalendar.Calendar:
    """A calendar object resource; `body` holds its components."""
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//praxis//test//EN\n"
    text += textwrap.dedent(body).strip() + "\nEND:VCALENDAR\n"
    return icalendar.Calendar.from_ical(text)


def vevent(lines: str, uid: str = "e1") -> str:
    body = textwrap.dedent(lines).strip()
    return f"BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260101T000000Z\n{body}\nEND:VEVENT\n"


def in_range(cal: icalendar.Calendar, start: str | None, end: str | None, tz=VIENNA) -> bool:
    return matches(cal, event_in(start, end), tz)


def condition(inner: str) -> str:
    with pytest.raises(FilterError) as info:
        flt(inner)
    assert str(info.value)  # one-line reason
    return info.value.condition


# ----------------------------------------------------------------- parsing, §9.7


def test_parse_builds_the_filter_tree_with_rfc_defaults():
    got = flt(
        '<C:comp-filter name="vevent">'
        '<C:time-range start="20260101T000000Z"/>'
        '<C:prop-filter name="ATTENDEE"><C:text-match>doe</C:text-match>'
        '<C:param-filter name="PARTSTAT"><C:is-not-defined/></C:param-filter>'
        "</C:prop-filter></C:comp-filter>"
    )
    tr = TimeRange(datetime(2026, 1, 1, tzinfo=UTC), None)
    prop = PropFilter(
        "ATTENDEE",
        False,
        None,
        TextMatch("doe", "i;ascii-casemap", False),
        (ParamFilter("PARTSTAT", True, None),),
    )
    assert got == CompFilter("VCALENDAR", False, None, (), (CompFilter("VEVENT", False, tr, (prop,), ()),))


def test_filter_needs_exactly_one_vcalendar_comp_filter():
    for bad in (
        "",
        '<C:comp-filter name="VEVENT"/>',
        '<C:comp-filter name="VCALENDAR"/><C:comp-filter name="VCALENDAR"/>',
    ):
        with pytest.raises(FilterError) as info:
            parse_filter(xml_filter(bad))
        assert info.value.condition == "valid-filter"


def test_filter_element_itself_must_be_caldav_filter():
    with pytest.raises(FilterError) as info:
        parse_filter(etree.fromstring(f'<C:comp-filter {NS} name="VCALENDAR"/>'))
    assert info.value.condition == "valid-filter"


def test_time_range_needs_a_start_or_an_end():
    assert (
        condition(f'<C:comp-filter name="VEVENT">{time_range(None, None)}</C:comp-filter>') == "valid-filter"
    )


def test_time_range_end_must_be_after_start():
    for start, end in (("20260102T000000Z", "20260101T000000Z"), ("20260101T000000Z", "20260101T000000Z")):
        inner = f'<C:comp-filter name="VEVENT">{time_range(start, end)}</C:comp-filter>'
        assert condition(inner) == "valid-filter"


@pytest.mark.parametrize(
    "value", ["20260101T000000", "20260101", "2026-01-01T00:00:00Z", "20261301T000000Z", "tomorrow"]
)
def test_time_range_values_must_be_utc_date_times(value):
    inner = f'<C:comp-filter name="VEVENT">{time_range(value, None)}</C:comp-filter>'
    assert condition(inner) == "valid-filter"


def test_is_not_defined_cannot_be_combined_with_other_tests():
    assert (
        condition(
            '<C:comp-filter name="VEVENT"><C:is-not-defined/>'
            f"{time_range('20260101T000000Z', None)}</C:comp-filter>"
        )
        == "valid-filter"
    )
    assert (
        condition(
            '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
            "<C:is-not-defined/><C:text-match>x</C:text-match>"
            "</C:prop-filter></C:comp-filter>"
        )
        == "valid-filter"
    )


def test_draft_is_defined_element_is_accepted_as_a_plain_existence_test():
    got = flt('<C:comp-filter name="VEVENT"><C:is-defined/></C:comp-filter>')
    assert got.comp_filters[0] == CompFilter("VEVENT", False, None, (), ())
    assert (
        condition('<C:comp-filter name="VEVENT"><C:is-defined/><C:is-not-defined/></C:comp-filter>')
        == "valid-filter"
    )


def test_names_are_required():
    assert condition("<C:comp-filter/>") == "valid-filter"
    assert condition('<C:comp-filter name="VEVENT"><C:prop-filter/></C:comp-filter>') == "valid-filter"


def test_unknown_caldav_elements_are_invalid_but_foreign_namespaces_are_ignored():
    assert condition('<C:comp-filter name="VEVENT"><C:bogus/></C:comp-filter>') == "valid-filter"
    got = flt('<C:comp-filter name="VEVENT"><X:ext xmlns:X="urn:x"/></C:comp-filter>')
    assert got.comp_filters[0] == CompFilter("VEVENT", False, None, (), ())


def test_unknown_collation_is_supported_collation():
    inner = (
        '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
        '<C:text-match collation="i;unicode-casemap">x</C:text-match>'
        "</C:prop-filter></C:comp-filter>"
    )
    assert condition(inner) == "supported-collation"


def test_negate_condition_must_be_yes_or_no():
    inner = (
        '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
        '<C:text-match negate-condition="true">x</C:text-match>'
        "</C:prop-filter></C:comp-filter>"
    )
    assert condition(inner) == "valid-filter"


@pytest.mark.parametrize("comp", ["VTODO", "VJOURNAL", "VFREEBUSY"])
def test_time_range_on_other_calendar_components_is_unsupported(comp):
    inner = f'<C:comp-filter name="{comp}">{time_range("20260101T000000Z", None)}</C:comp-filter>'
    assert condition(inner) == "supported-filter"


def test_time_range_on_valarm_is_unsupported():
    inner = (
        '<C:comp-filter name="VEVENT"><C:comp-filter name="VALARM">'
        f"{time_range('20260101T000000Z', None)}</C:comp-filter></C:comp-filter>"
    )
    assert condition(inner) == "supported-filter"


def test_time_range_on_components_without_defined_semantics_is_invalid():
    with pytest.raises(FilterError) as info:
        parse_filter(
            xml_filter(
                f'<C:comp-filter name="VCALENDAR">{time_range("20260101T000000Z", None)}</C:comp-filter>'
            )
        )
    assert info.value.condition == "valid-filter"
    inner = f'<C:comp-filter name="VTIMEZONE">{time_range("20260101T000000Z", None)}</C:comp-filter>'
    assert condition(inner) == "valid-filter"


def test_property_time_range_rules():
    def prop(name: str, body: str) -> str:
        return (
            f'<C:comp-filter name="VEVENT"><C:prop-filter name="{name}">{body}'
            "</C:prop-filter></C:comp-filter>"
        )

    tr = time_range("20260101T000000Z", None)
    assert condition(prop("DTSTART", tr)) == "supported-filter"  # recurrence-dependent value
    assert condition(prop("SUMMARY", tr)) == "valid-filter"  # §7.8 example of an invalid filter
    assert condition(prop("DTSTAMP", tr + "<C:text-match>x</C:text-match>")) == "valid-filter"
    assert flt(prop("LAST-MODIFIED", tr)).comp_filters[0].prop_filters[0].time_range


# ------------------------------------------------------- component / property, §9.7.1-4

EVENT = ics(
    vevent("""
    DTSTART;TZID=Europe/Vienna:20260115T100000
    DTEND;TZID=Europe/Vienna:20260115T110000
    SUMMARY:Kontrolle Müller
    STATUS:CANCELLED
    CATEGORIES:Praxis,Haus\\, Garten
    ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:anna@example.org
    ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bert@example.org
    BEGIN:VALARM
    ACTION:DISPLAY
    TRIGGER:-PT15M
    END:VALARM
""")
)


def m(inner_vevent: str, cal: icalendar.Calendar = EVENT) -> bool:
    """Does cal match VCALENDAR > VEVENT > inner_vevent?"""
    return matches(cal, flt(f'<C:comp-filter name="VEVENT">{inner_vevent}</C:comp-filter>'), VIENNA)


def summary(text: str, **attrs: str) -> str:
    a = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<C:prop-filter name="SUMMARY"><C:text-match{a}>{text}</C:text-match></C:prop-filter>'


def test_empty_vcalendar_comp_filter_matches_every_object():
    assert matches(EVENT, flt(""), VIENNA)


def test_empty_comp_filter_matches_if_the_component_exists():
    assert m("")
    assert not matches(EVENT, flt('<C:comp-filter name="VTODO"/>'), VIENNA)


def test_comp_filter_is_not_defined_matches_if_the_component_is_absent():
    assert matches(EVENT, flt('<C:comp-filter name="VTODO"><C:is-not-defined/></C:comp-filter>'), VIENNA)
    assert not m("<C:is-not-defined/>")


def test_nested_comp_filter_scope_is_the_enclosing_component():
    assert m('<C:comp-filter name="VALARM"/>')
    assert not m('<C:comp-filter name="VALARM"><C:is-not-defined/></C:comp-filter>')
    # VALARM is not a child of VCALENDAR itself: a filter that can never match is invalid
    with pytest.raises(FilterError, match="VALARM cannot be a component of VCALENDAR"):
        flt('<C:comp-filter name="VALARM"/>')


def test_comp_filter_children_are_anded():
    assert m(summary("kontrolle") + '<C:comp-filter name="VALARM"/>')
    with pytest.raises(FilterError, match="VTODO cannot be a component of VEVENT"):
        m(summary("kontrolle") + '<C:comp-filter name="VTODO"/>')
    assert not m(summary("nope") + '<C:comp-filter name="VALARM"/>')


def test_prop_filters_are_anded():
    assert m(summary("kontrolle") + summary("müller"))
    assert not m(summary("kontrolle") + summary("meier"))


def test_empty_prop_filter_matches_if_the_property_exists():
    assert m('<C:prop-filter name="STATUS"/>')
    assert not m('<C:prop-filter name="LOCATION"/>')


def test_prop_filter_is_not_defined_matches_if_the_property_is_absent():
    assert m('<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>')
    assert not m('<C:prop-filter name="SUMMARY"><C:is-not-defined/></C:prop-filter>')


def test_vcalendar_level_prop_filter_tests_calendar_properties():
    assert matches(
        EVENT, flt('<C:prop-filter name="PRODID"><C:text-match>praxis</C:text-match></C:prop-filter>'), VIENNA
    )


def test_any_component_of_the_name_may_satisfy_the_comp_filter():
    cal = ics(
        vevent("DTSTART:20260101T100000Z\nSUMMARY:one", "a")
        + vevent("DTSTART:20260101T100000Z\nSUMMARY:two", "a2")
    )
    assert m(summary("two"), cal)
    assert not m(summary("one") + summary("two"), cal)  # both tests on the same component


# ------------------------------------------------------------------ text-match, §9.7.5


def test_text_match_is_a_substring_match():
    assert m(summary("trolle Mü"))
    assert m(summary(""))  # the empty string is a substring of every value


def test_default_collation_ascii_casemap_folds_ascii_letters_only():
    assert m(summary("KONTROLLE"))
    assert m(summary("MüLLER"))
    assert not m(summary("MÜLLER"))  # Ü is not folded by i;ascii-casemap


def test_octet_collation_is_case_sensitive():
    assert m(summary("Kontrolle", collation="i;octet"))
    assert not m(summary("kontrolle", collation="i;octet"))
    assert not m(summary("kontrolle", collation="I;OCTET"))  # identifier case is not significant


def test_negate_condition_inverts_the_match():
    status = (
        '<C:prop-filter name="STATUS"><C:text-match negate-condition="yes">'
        "CANCELLED</C:text-match></C:prop-filter>"
    )
    assert not m(status)
    confirmed = ics(vevent("DTSTART:20260101T100000Z\nSTATUS:CONFIRMED"))
    assert m(status, confirmed)
    # §9.7.2: a text-match needs the property to exist, negated or not
    assert not m(status, ics(vevent("DTSTART:20260101T100000Z")))


def test_text_match_on_repeated_property_matches_any_instance():
    attendee = '<C:prop-filter name="ATTENDEE"><C:text-match>{}</C:text-match></C:prop-filter>'
    assert m(attendee.format("bert@"))
    assert m(attendee.format("anna@"))
    assert not m(attendee.format("carl@"))


def test_text_match_sees_unescaped_text_values():
    cats = '<C:prop-filter name="CATEGORIES"><C:text-match>Haus, Garten</C:text-match></C:prop-filter>'
    assert m(cats)


# ---------------------------------------------------------------- param-filter, §9.7.3


def attendee(param_filter: str, text: str | None = None) -> str:
    tm = f"<C:text-match>{text}</C:text-match>" if text else ""
    return f'<C:prop-filter name="ATTENDEE">{tm}{param_filter}</C:prop-filter>'


def test_empty_param_filter_matches_if_the_parameter_exists():
    assert m(attendee('<C:param-filter name="ROLE"/>'))
    assert not m(attendee('<C:param-filter name="CN"/>'))


def test_param_filter_is_not_defined():
    assert m(attendee('<C:param-filter name="CN"><C:is-not-defined/></C:param-filter>'))
    assert m(attendee('<C:param-filter name="ROLE"><C:is-not-defined/></C:param-filter>', "bert"))
    assert not m(attendee('<C:param-filter name="ROLE"><C:is-not-defined/></C:param-filter>', "anna"))


def test_param_filter_text_match():
    needs = '<C:param-filter name="PARTSTAT"><C:text-match>needs-action</C:text-match></C:param-filter>'
    assert m(attendee(needs))
    assert m(attendee(needs, "bert"))
    # property and parameter tests apply to the same ATTENDEE line
    assert not m(attendee(needs, "anna"))


def test_prop_filter_time_range_on_a_date_time_property():
    def stamp(start: str | None, end: str | None) -> bool:
        return m(f'<C:prop-filter name="DTSTAMP">{time_range(start, end)}</C:prop-filter>')

    assert stamp("20260101T000000Z", "20260101T000001Z")  # start <= value
    assert not stamp("20251231T000000Z", "20260101T000000Z")  # end > value
    assert stamp(None, "20260101T000001Z")
    assert not stamp("20260101T000001Z", None)


# --------------------------------------------------------- VEVENT time-range, §9.9

TIMED = ics(
    vevent("""
    DTSTART;TZID=Europe/Vienna:20260115T100000
    DTEND;TZID=Europe/Vienna:20260115T110000
""")
)  # 09:00Z-10:00Z


def test_dtend_row_start_before_dtend_and_end_after_dtstart():
    assert not in_range(TIMED, "20260115T080000Z", "20260115T090000Z")  # end == DTSTART
    assert in_range(TIMED, "20260115T080000Z", "20260115T090001Z")
    assert not in_range(TIMED, "20260115T100000Z", "20260115T110000Z")  # start == DTEND
    assert in_range(TIMED, "20260115T095959Z", "20260115T110000Z")
    assert in_range(TIMED, "20260115T091500Z", "20260115T093000Z")  # inside
    assert in_range(TIMED, "20260101T000000Z", "20260201T000000Z")  # around


def test_missing_bound_is_infinite():
    assert in_range(TIMED, None, "20260115T090001Z")
    assert not in_range(TIMED, None, "20260115T090000Z")
    assert in_range(TIMED, "20260115T095959Z", None)
    assert not in_range(TIMED, "20260115T100000Z", None)


def test_duration_row_uses_dtstart_plus_duration():
    cal = ics(vevent("DTSTART;TZID=Europe/Vienna:20260115T100000\nDURATION:PT1H"))
    assert in_range(cal, "20260115T095959Z", "20260115T110000Z")
    assert not in_range(cal, "20260115T100000Z", "20260115T110000Z")
    assert not in_range(cal, "20260115T080000Z", "20260115T090000Z")


@pytest.mark.parametrize("extra", ["", "\nDURATION:PT0S"])
def test_zero_duration_row_start_inclusive(extra):
    cal = ics(vevent("DTSTART;TZID=Europe/Vienna:20260115T100000" + extra))  # instant 09:00Z
    assert in_range(cal, "20260115T090000Z", "20260115T090001Z")  # start <= DTSTART
    assert not in_range(cal, "20260115T080000Z", "20260115T090000Z")  # end > DTSTART
    assert not in_range(cal, "20260115T090001Z", None)


def test_all_day_without_dtend_lasts_one_local_day():
    cal = ics(vevent("DTSTART;VALUE=DATE:20260310"))  # 2026-03-09 23:00Z - 03-10 23:00Z
    assert not in_range(cal, "20260309T220000Z", "20260309T230000Z")
    assert in_range(cal, "20260309T220000Z", "20260309T230001Z")
    assert in_range(cal, "20260310T225959Z", None)
    assert not in_range(cal, "20260310T230000Z", None)


def test_all_day_uses_the_calendar_timezone():
    cal = ics(vevent("DTSTART;VALUE=DATE:20260310"))
    assert in_range(cal, "20260310T000000Z", "20260310T030000Z", VIENNA)
    assert not in_range(cal, "20260310T000000Z", "20260310T030000Z", NEW_YORK)  # from 04:00Z
    assert in_range(cal, "20260311T030000Z", "20260311T040000Z", NEW_YORK)


def test_all_day_on_spring_dst_day_lasts_23_hours():
    cal = ics(vevent("DTSTART;VALUE=DATE:20260329"))  # 03-28 23:00Z - 03-29 22:00Z
    assert in_range(cal, "20260329T215959Z", "20260329T220000Z")
    assert not in_range(cal, "20260329T220000Z", "20260329T230000Z")


def test_all_day_on_autumn_dst_day_lasts_25_hours():
    cal = ics(vevent("DTSTART;VALUE=DATE:20261025"))  # 10-24 22:00Z - 10-25 23:00Z
    assert in_range(cal, "20261025T223000Z", "20261025T230000Z")
    assert not in_range(cal, "20261024T210000Z", "20261024T220000Z")


def test_multi_day_all_day_event_with_dtend():
    cal = ics(vevent("DTSTART;VALUE=DATE:20260310\nDTEND;VALUE=DATE:20260312"))
    assert in_range(cal, "20260311T225959Z", None)
    assert not in_range(cal, "20260311T230000Z", None)


def test_floating_time_is_in_the_calendar_timezone():
    cal = ics(vevent("DTSTART:20260115T100000\nDTEND:20260115T110000"))
    assert in_range(cal, "20260115T090000Z", "20260115T093000Z", VIENNA)  # 09:00Z
    assert not in_range(cal, "20260115T090000Z", "20260115T093000Z", NEW_YORK)  # 15:00Z
    assert in_range(cal, "20260115T150000Z", "20260115T153000Z", NEW_YORK)


def test_utc_time_ignores_the_calendar_timezone():
    cal = ics(vevent("DTSTART:20260115T100000Z\nDTEND:20260115T110000Z"))
    for tz in (VIENNA, NEW_YORK):
        assert in_range(cal, "20260115T100000Z", "20260115T100100Z", tz)
        assert not in_range(cal, "20260115T090000Z", "20260115T100000Z", tz)


def test_weekly_series_across_the_spring_dst_switch():
    cal = ics(
        vevent("""
        DTSTART;TZID=Europe/Vienna:20260322T100000
        DTEND;TZID=Europe/Vienna:20260322T110000
        RRULE:FREQ=WEEKLY;COUNT=3
    """)
    )  # 03-22 09:00Z, 03-29 08:00Z, 04-05 08:00Z
    assert in_range(cal, "20260322T090000Z", "20260322T090100Z")
    assert in_range(cal, "20260329T080000Z", "20260329T080100Z")
    assert not in_range(cal, "20260329T090000Z", "20260329T100000Z")


def test_weekly_series_across_the_autumn_dst_switch():
    cal = ics(
        vevent("""
        DTSTART;TZID=Europe/Vienna:20261018T100000
        DTEND;TZID=Europe/Vienna:20261018T110000
        RRULE:FREQ=WEEKLY;COUNT=2
    """)
    )  # 10-18 08:00Z, 10-25 09:00Z
    assert not in_range(cal, "20261025T080000Z", "20261025T090000Z")
    assert in_range(cal, "20261025T090000Z", "20261025T090100Z")


def test_nonexistent_spring_time_uses_the_offset_before_the_gap():
    cal = ics(vevent("DTSTART;TZID=Europe/Vienna:20260329T023000"))  # RFC 5545: 01:30Z
    assert in_range(cal, "20260329T013000Z", "20260329T013001Z")
    assert not in_range(cal, "20260329T003000Z", "20260329T013000Z")


def test_ambiguous_autumn_time_is_the_first_occurrence():
    cal = ics(vevent("DTSTART;TZID=Europe/Vienna:20261025T023000"))  # CEST: 00:30Z
    assert in_range(cal, "20261025T003000Z", "20261025T003001Z")
    assert not in_range(cal, "20261025T013000Z", "20261025T013001Z")


def test_custom_vtimezone_by_its_own_rules():
    vtimezone = textwrap.dedent("""
        BEGIN:VTIMEZONE
        TZID:Praxis Local Time
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
    cal = ics(
        vtimezone
        + vevent("""
        DTSTART;TZID=Praxis Local Time:20260328T100000
        DURATION:PT1H
        RRULE:FREQ=DAILY;COUNT=2
    """)
    )  # 03-28 09:00Z, 03-29 08:00Z
    assert in_range(cal, "20260328T090000Z", "20260328T090100Z")
    assert in_range(cal, "20260329T080000Z", "20260329T080100Z")
    assert not in_range(cal, "20260329T090000Z", "20260329T100000Z")


SERIES = ics(
    vevent(
        """
    DTSTART;TZID=Europe/Vienna:20260302T100000
    DTEND;TZID=Europe/Vienna:20260302T110000
    RRULE:FREQ=WEEKLY;COUNT=6
    EXDATE;TZID=Europe/Vienna:20260316T100000
    RDATE;TZID=Europe/Vienna:20260319T120000
    SUMMARY:weekly
""",
        "s",
    )
    + vevent(
        """
    RECURRENCE-ID;TZID=Europe/Vienna:20260323T100000
    DTSTART;TZID=Europe/Vienna:20260325T150000
    DTEND;TZID=Europe/Vienna:20260325T160000
    SUMMARY:moved within the series
""",
        "s",
    )
    + vevent(
        """
    RECURRENCE-ID;TZID=Europe/Vienna:20260309T100000
    DTSTART;TZID=Europe/Vienna:20260504T100000
    DTEND;TZID=Europe/Vienna:20260504T110000
    SUMMARY:moved after the series
""",
        "s",
    )
)
# Mondays 03-02 .. 04-06 at 10:00 local; 03-16 excluded; 03-09 and 03-23 overridden.


def test_series_plain_instances_match():
    assert in_range(SERIES, "20260302T090000Z", "20260302T090100Z")
    assert in_range(SERIES, "20260330T080000Z", "20260330T080100Z")  # after DST: 08:00Z
    assert not in_range(SERIES, "20260330T090000Z", "20260330T100000Z")


def test_series_exdate_removes_the_instance():
    assert not in_range(SERIES, "20260316T000000Z", "20260317T000000Z")


def test_series_rdate_adds_an_instance():
    assert in_range(SERIES, "20260319T110000Z", "20260319T110100Z")


def test_series_override_moved_out_of_the_range_no_longer_matches_there():
    assert not in_range(SERIES, "20260309T000000Z", "20260310T000000Z")
    assert not in_range(SERIES, "20260323T000000Z", "20260324T000000Z")


def test_series_override_moved_into_the_range_matches_there():
    assert in_range(SERIES, "20260325T140000Z", "20260325T141500Z")
    assert in_range(SERIES, "20260504T080000Z", "20260504T081500Z")  # after the last instance


def test_series_ends_after_count():
    assert not in_range(SERIES, "20260407T000000Z", "20260501T000000Z")


def test_time_range_and_prop_filters_target_the_same_component():
    def q(text: str, start: str, end: str) -> bool:
        return m(time_range(start, end) + summary(text), SERIES)

    assert q("moved within", "20260325T000000Z", "20260326T000000Z")
    assert not q("weekly", "20260325T000000Z", "20260326T000000Z")
    assert not q("weekly", "20260323T000000Z", "20260324T000000Z")  # overridden slot
    assert q("weekly", "20260330T000000Z", "20260331T000000Z")
    assert not q("moved", "20260330T000000Z", "20260331T000000Z")


def test_matching_never_modifies_the_calendar():
    cal = ics(
        vevent("""
        DTSTART:20260302T100000Z
        RRULE:FREQ=DAILY;COUNT=5
        EXDATE:20260303T100000Z
        EXDATE:20260304T100000Z
        SUMMARY:a
    """)
        + vevent("""
        RECURRENCE-ID:20260305T100000Z
        DTSTART:20260305T120000Z
        SUMMARY:b
    """)
    )
    before = cal.to_ical()
    assert not m(time_range("20260305T000000Z", "20260306T000000Z") + summary("a"), cal)
    assert cal.to_ical() == before


def test_this_and_future_override_with_component_specific_tests_is_refused():
    cal = ics(
        vevent("""
        DTSTART:20260302T100000Z
        RRULE:FREQ=DAILY;COUNT=5
        SUMMARY:a
    """)
        + vevent("""
        RECURRENCE-ID;RANGE=THISANDFUTURE:20260304T100000Z
        DTSTART:20260304T120000Z
        SUMMARY:b
    """)
    )
    with pytest.raises(FilterError) as info:
        m(time_range("20260301T000000Z", None) + summary("a"), cal)
    assert info.value.condition == "supported-filter"
    assert in_range(cal, "20260305T120000Z", "20260305T120100Z")  # moved by the override


INFINITE = ics(
    vevent("""
    DTSTART;TZID=Europe/Vienna:20260105T090000
    DTEND;TZID=Europe/Vienna:20260105T100000
    RRULE:FREQ=WEEKLY;BYDAY=MO
    EXDATE;TZID=Europe/Vienna:20300107T090000
""")
)  # Mondays 08:00Z (winter) forever


def test_infinite_rrule_with_start_only_range():
    assert in_range(INFINITE, "20991231T000000Z", None)
    assert in_range(INFINITE, "20260105T085959Z", None)


def test_infinite_rrule_with_end_only_range():
    assert not in_range(INFINITE, None, "20260105T080000Z")
    assert in_range(INFINITE, None, "20260105T080001Z")


def test_infinite_rrule_bounded_range_without_instances():
    assert not in_range(INFINITE, "20300108T000000Z", "20300113T000000Z")  # Tue..Sun
    assert not in_range(INFINITE, "20300107T000000Z", "20300108T000000Z")  # EXDATE Monday
    assert in_range(INFINITE, "20300114T000000Z", "20300115T000000Z")
    assert not in_range(INFINITE, "20200101T000000Z", "20250101T000000Z")  # before DTSTART


def test_unreadable_recurrence_rule_is_included_not_hidden():
    cal = ics(vevent("DTSTART:20260101T100000Z\nRRULE:FREQ=SOMETIMES"))
    assert in_range(cal, "20300101T000000Z", "20300102T000000Z")


# --------------------------------------------------------------------------- prefilter


def test_prefilter_reports_required_types_and_the_vevent_range():
    names, tr = prefilter(event_in("20260101T000000Z", "20260201T000000Z"))
    assert names == {"VEVENT"}
    assert tr == TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


def test_prefilter_is_conservative():
    assert prefilter(flt("")) == (None, None)
    assert prefilter(flt('<C:comp-filter name="VEVENT"/>')) == ({"VEVENT"}, None)
    assert prefilter(flt('<C:comp-filter name="VTODO"><C:is-not-defined/></C:comp-filter>')) == (None, None)
    assert prefilter(flt('<C:comp-filter name="VTIMEZONE"/>')) == (None, None)


# ------------------------------------------------------- property test against an oracle


def oracle_instances(
    dtstart: datetime,
    freq: int,
    interval: int,
    count: int | None,
    exclude: set[int],
    moved: tuple[int, int] | None,
):
    """(index, local wall-clock start) of every instance, computed with dateutil directly."""
    until = None if count else dtstart + timedelta(days=800)
    starts = list(rrule.rrule(freq, dtstart=dtstart, interval=interval, count=count, until=until))
    for i, start in enumerate(starts):
        if i in exclude:
            continue
        if moved and moved[0] == i:
            start = start + timedelta(hours=moved[1])
        yield i, start


def oracle_overlaps(start: datetime, end: datetime, lo: datetime | None, hi: datetime | None):
    if end == start:
        return (lo is None or lo <= start) and (hi is None or start < hi)
    return (lo is None or lo < end) and (hi is None or start < hi)


def ical_value(kind: str, wall: datetime) -> str:
    if kind == "date":
        return f";VALUE=DATE:{wall:%Y%m%d}"
    if kind == "tzid":
        return f";TZID=Europe/Vienna:{wall:%Y%m%dT%H%M%S}"
    return f":{wall:%Y%m%dT%H%M%S}" + ("Z" if kind == "utc" else "")


def oracle_utc(kind: str, wall: datetime) -> datetime:
    if kind == "utc":
        return wall.replace(tzinfo=UTC)
    return wall.replace(tzinfo=VIENNA).astimezone(UTC)  # tzid, floating and date


@st.composite
def series_and_range(draw):
    """A small series (maybe infinite, EXDATEs, one moved instance) and a range near it."""
    kind = draw(st.sampled_from(["tzid", "floating", "utc", "date"]))
    day = date(2026, 3, 1) + timedelta(days=draw(st.integers(0, 250)))
    wall = datetime.combine(day, datetime.min.time())
    if kind == "date":
        length = timedelta(days=draw(st.integers(0, 2)))  # 0: no DTEND, one day
        shifts = [-48, 24, 48]
    else:  # office hours only, so no instance spans a DST switch
        wall = wall.replace(hour=draw(st.integers(6, 20)), minute=draw(st.sampled_from([0, 30])))
        length = timedelta(minutes=draw(st.sampled_from([0, 30, 90])))
        shifts = [-26, -3, 2, 49]
    freq = draw(st.sampled_from([rrule.DAILY, rrule.WEEKLY]))
    interval = draw(st.integers(1, 3))
    count = draw(st.one_of(st.none(), st.integers(1, 8)))
    exclude = set(draw(st.lists(st.integers(0, 7), max_size=3)))
    moved = draw(st.one_of(st.none(), st.tuples(st.integers(0, 7), st.sampled_from(shifts))))
    if moved:
        exclude.discard(moved[0])
    # anchor the range on some instance boundary to probe the inclusive/exclusive edges
    starts = list(rrule.rrule(freq, dtstart=wall, interval=interval, count=count or 8))
    anchor = draw(st.sampled_from(starts))
    if moved and moved[0] < len(starts) and draw(st.booleans()):
        anchor = starts[moved[0]] + timedelta(hours=moved[1])
    anchor += draw(st.sampled_from([timedelta(0), length]))
    at = oracle_utc(kind, anchor) + timedelta(
        minutes=draw(st.sampled_from([0, 0, 1, -1, 60, -60, 60 * 24 * 9, -60 * 24 * 9]))
    )
    size = timedelta(minutes=draw(st.sampled_from([1, 30, 60, 60 * 24, 60 * 24 * 10])))
    lo, hi = draw(st.sampled_from([(at, at + size), (at - size, at), (at, None), (None, at)]))
    return kind, wall, freq, interval, count, length, exclude, moved, lo, hi


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(series_and_range())
def test_time_range_agrees_with_a_brute_force_oracle(case):
    kind, wall, freq, interval, count, length, exclude, moved, lo, hi = case
    freq_name = {rrule.DAILY: "DAILY", rrule.WEEKLY: "WEEKLY"}[freq]
    rule = f"FREQ={freq_name};INTERVAL={interval}" + (f";COUNT={count}" if count else "")
    instances = dict(enumerate(rrule.rrule(freq, dtstart=wall, interval=interval, count=count or 8)))
    lines = [f"DTSTART{ical_value(kind, wall)}", f"RRULE:{rule}"]
    if length:
        lines.append(f"DTEND{ical_value(kind, wall + length)}")
    lines += [f"EXDATE{ical_value(kind, instances[i])}" for i in sorted(exclude) if i in instances]
    body = vevent("\n".join(lines), "h")
    if moved and moved[0] in instances:
        new = instances[moved[0]] + timedelta(hours=moved[1])
        body += vevent(
            f"RECURRENCE-ID{ical_value(kind, instances[moved[0]])}\n"
            f"DTSTART{ical_value(kind, new)}\n"
            + (f"DTEND{ical_value(kind, new + length)}" if length else ""),
            "h",
        )
    cal = ics(body)

    expected = False
    for _, start in oracle_instances(wall, freq, interval, count, exclude, moved):
        s_utc = oracle_utc(kind, start)
        e_utc = oracle_utc(kind, start + (length or (timedelta(days=1) if kind == "date" else timedelta(0))))
        if oracle_overlaps(s_utc, e_utc, lo, hi):
            expected = True
            break
    fmt = "%Y%m%dT%H%M%SZ"
    got = in_range(cal, lo and lo.strftime(fmt), hi and hi.strftime(fmt))
    assert got == expected, cal.to_ical().decode()
