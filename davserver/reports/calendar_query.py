"""calendar-query (RFC 4791 §7.8, §9.7): SQL decides what it can, Python the rest.

The common client query (DAVx5, Outlook: one VEVENT comp-filter with a time-range, often
without an end) is answered from the denormalised UTC bounds: a single appointment with a
time zone is decided by SQL and a two-line check on its own columns, without rendering.
Only rows whose bounds are a superset — series, floating and all-day appointments (bounds
widened by 14 h) — are evaluated by filters.matches, on their cached time skeleton; any
other filter shape renders and evaluates every candidate in full. A missed instance here
deletes an appointment from a phone, so the fast path is only taken where it is exact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from lxml import etree

from davserver.http import CalDAVError, multistatus
from davserver.ical import limits as ical_validate
from davserver.ical.filters import (
    CompFilter,
    FilterError,
    TimeRange,
    matches,
    overlaps,
    parse_filter,
    prefilter,
    to_utc,
)
from davserver.ical.zones import ZoneResolver
from davserver.reports import ReportResult, fragments, report, request_props
from davserver.reports.responses import add_object_response
from davserver.reports.skeleton import time_skeleton
from providers.practice.records import Appointment
from providers.properties import CALDAV, CALENDAR
from providers.render_cache import InRangeKey, QueryKey
from providers.resources import CalendarCollection

FILTER = f"{{{CALDAV}}}filter"
TIMEZONE = f"{{{CALDAV}}}timezone"


def filter_error(exc: FilterError) -> CalDAVError:
    """403 with the CALDAV precondition (valid-filter, supported-filter, supported-collation)."""
    return CalDAVError(403, f"{{{CALDAV}}}{exc.condition}", str(exc))


def parse_request_filter(request_el: etree._Element) -> CompFilter:
    """The one <C:filter> of the request (RFC 4791 §7.8 makes it mandatory)."""
    found = request_el.findall(FILTER)
    if len(found) != 1:
        raise CalDAVError(403, f"{{{CALDAV}}}valid-filter", "calendar-query needs exactly one CALDAV:filter")
    try:
        return parse_filter(found[0])
    except FilterError as exc:
        raise filter_error(exc) from None


def request_timezone(request_el: etree._Element, default: str) -> ZoneInfo:
    """The zone of floating and all-day times (RFC 4791 §9.8): the request's
    <C:timezone>, else the calendar's. Refused unless it is one VCALENDAR with one
    VTIMEZONE that names or matches a zone we know (403 valid-calendar-data, §7.8)."""
    found = request_el.findall(TIMEZONE)
    if not found:
        return ZoneInfo(default)

    def invalid(why: str) -> CalDAVError:
        return CalDAVError(403, f"{{{CALDAV}}}valid-calendar-data", f"CALDAV:timezone {why}")

    text = found[0].text or ""
    if len(found) > 1:
        raise invalid("may be given once")
    try:
        ical_validate.check_text(text)
        cal = icalendar.Calendar.from_ical(text)
    except ValueError:
        raise invalid("is not iCalendar data") from None
    zones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    if cal.name != "VCALENDAR" or len(zones) != 1 or "TZID" not in zones[0]:
        raise invalid("must hold one VCALENDAR with one VTIMEZONE")
    tzid = str(zones[0]["TZID"])
    name, through = ZoneResolver({tzid: zones[0]}, default).resolve(tzid, dt.date.today().year)
    if name is None or through is not None:
        raise invalid("matches no time zone this server knows")
    return ZoneInfo(name)


@report(f"{{{CALDAV}}}calendar-query", {CALENDAR})
def calendar_query(
    request_el: etree._Element,
    calendar: CalendarCollection,
    environ: dict,
    calendar_data: Callable[[bytes], bytes] | None,
) -> etree._Element | ReportResult:
    """Depth is not consulted: the members of the calendar are always what is searched."""
    names, _ = request_props(request_el)
    flt = parse_request_filter(request_el)
    tz = request_timezone(request_el, calendar.settings.practice_timezone)
    cache = calendar.settings.render_cache
    # The policy is in the key: a text filter (SUMMARY contains a name) is evaluated on the
    # viewer's rendering, so which objects match differs between a clear and a pseudonym view.
    key = QueryKey(
        calendar.owner.id,
        calendar.change_number(),
        calendar.settings.serve_cancelled,
        flt,
        tz.key,
        calendar.policy,
    )
    answer = _answer_from_cache(calendar, key, names, calendar_data)
    if answer is not None:
        return answer
    with cache.computing(key):  # the same query arriving together is computed once
        answer = _answer_from_cache(calendar, key, names, calendar_data)
        if answer is not None:
            return answer
        try:
            found = matching(calendar, flt, tz)
        except FilterError as exc:
            raise filter_error(exc) from None
        cache.put(
            key,
            tuple(fragments.Member(appt.id, appt.resource_name, appt.revision) for appt in found),
            cost=_ANSWER_COST * len(found),
        )
        body = fragments.multistatus_chunks(
            calendar,
            [fragments.Member(appt.id, appt.resource_name, appt.revision, appt) for appt in found],
            names,
            calendar_data,
        )
    if body is not None:
        return ReportResult(207, body, "application/xml; charset=utf-8")
    ms = multistatus()
    for appt in found:
        add_object_response(ms, calendar.object_for(appt), names, calendar_data)
    return ms


def _answer_from_cache(
    calendar: CalendarCollection,
    key: QueryKey,
    names: list[str],
    calendar_data: Callable[[bytes], bytes] | None,
) -> ReportResult | None:
    """The last answer to the same filter while nothing changed: no row is read if every
    object's text (or rendering) is still cached."""
    hit = calendar.settings.render_cache.get(key)
    if hit is None or not fragments.applies(names):
        return None
    try:
        body = fragments.multistatus_chunks(calendar, hit, names, calendar_data)
    except fragments.Missing:
        return None
    return None if body is None else ReportResult(207, body, "application/xml; charset=utf-8")


# Bytes of one member (id, name, revision) of a cached answer: the tuple, its name and integers.
_ANSWER_COST = 200


def plain_time_range(flt: CompFilter) -> tuple[bool, TimeRange | None]:
    """(True, range) for VCALENDAR or VCALENDAR/VEVENT[time-range] with no other test.

    Every stored object has a master VEVENT, so such a filter depends only on the
    instances' times, which the row's columns give without rendering.
    """
    if flt.is_not_defined or flt.prop_filters or len(flt.comp_filters) > 1:
        return False, None
    if not flt.comp_filters:
        return True, None
    comp = flt.comp_filters[0]
    if comp.name != "VEVENT" or comp.is_not_defined or comp.prop_filters or comp.comp_filters:
        return False, None
    return True, comp.time_range


def matching(calendar: CalendarCollection, flt: CompFilter, tz: ZoneInfo) -> list[Appointment]:
    """The served appointments of `calendar` that match `flt`."""
    if flt.is_not_defined:
        return []
    plain, tr = plain_time_range(flt)
    if plain:
        rows = calendar.get_filtered(tr and tr.start, tr and tr.end)
        if tr is None:
            return rows
        out = []
        for appt in rows:
            span = exact_span(appt)
            if span is not None:
                if overlaps(span[0], span[1], tr):
                    out.append(appt)
            elif _in_range(calendar, appt, flt, tr, tz):
                out.append(appt)
        return out
    types, tr = prefilter(flt)
    rows = calendar.get_filtered(
        tr and tr.start, tr and tr.end, with_device_data_only=bool(types and types - {"VEVENT"})
    )
    return [appt for appt in rows if _matches(calendar, appt, flt, tz)]


def _in_range(
    calendar: CalendarCollection, appt: Appointment, flt: CompFilter, tr: TimeRange, tz: ZoneInfo
) -> bool:
    """Whether a series (or floating/all-day row) has an instance in tr, cached per revision.

    For a plain time-range filter the answer depends only on the row's revision, the range
    and the calendar's zone: expanding the series was most of a repeated week query.
    """
    key = InRangeKey(appt.id, appt.revision, tr.start, tr.end, tz.key)
    cache = calendar.settings.render_cache
    found = cache.get(key)
    if found is None:
        found = matches(time_skeleton(calendar, appt), flt, tz)
        cache.put(key, found)
    return found


def exact_span(appt: Appointment) -> tuple[dt.datetime, dt.datetime] | None:
    """UTC (start, end) of a single appointment with a time zone, as rendered; else None.

    Seconds only, like the rendered DTSTART/DTEND. Floating and all-day rows depend on
    the calendar's zone and series on their rule: those are left to filters.matches.
    """
    if appt.is_recurring or appt.all_day or appt.tzid is None:
        return None
    try:
        zone = ZoneInfo(appt.tzid)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a legacy row: the rendering decides
        return None
    start = to_utc(appt.start_local.replace(microsecond=0), zone)
    end = to_utc(appt.end_local.replace(microsecond=0), zone)
    return start, end


def _matches(calendar: CalendarCollection, appt: Appointment, flt: CompFilter, tz: ZoneInfo) -> bool:
    """Render (cached by revision) and evaluate the filter on the served object."""
    return matches(icalendar.Calendar.from_ical(calendar.render(appt)), flt, tz)
