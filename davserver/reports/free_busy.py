"""free-busy-query (RFC 4791 §7.10): busy time of a calendar as one VFREEBUSY.

The answer is 200 with text/calendar, not a multistatus. Cancelled appointments and
cancelled occurrences never block time, nor do events a device marked TRANSP:TRANSPARENT;
STATUS:TENTATIVE is BUSY-TENTATIVE. Series are expanded, periods are in UTC, clipped to
the requested range and merged, so no appointment detail (not even its exact extent
outside the range) leaves the server.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo

import icalendar
from lxml import etree

from davserver.http import CalDAVError
from davserver.ical.filters import TimeRange, instance_span, instances_overlapping, parse_time_range
from davserver.reports import ReportResult, report
from davserver.reports.skeleton import time_skeleton
from providers.properties import CALDAV, CALENDAR
from providers.resources import CalendarCollection

PRODID = "-//praxis-caldav//free-busy//EN"
_BROKEN_DATA = (ValueError, KeyError, TypeError, AttributeError, OverflowError)


def requested_range(request_el: etree._Element) -> TimeRange:
    """Both bounds are required: an open end has no finite VFREEBUSY for endless series."""
    el = request_el.find(f"{{{CALDAV}}}time-range")
    if el is None:
        raise CalDAVError(400, message="free-busy-query needs a CALDAV:time-range")
    try:
        return parse_time_range(el, require_both=True)
    except ValueError as exc:
        raise CalDAVError(400, message=str(exc)) from None


@report(f"{{{CALDAV}}}free-busy-query", {CALENDAR})
def free_busy_query(
    request_el: etree._Element,
    calendar: CalendarCollection,
    environ: dict,
    calendar_data: Callable[[bytes], bytes] | None,
) -> ReportResult:
    tr = requested_range(request_el)
    tz = ZoneInfo(calendar.settings.practice_timezone)
    busy: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    # Cancelled appointments are never busy, whatever serve_cancelled says.
    for appt in calendar.get_filtered(tr.start, tr.end, busy_only=True):
        for fbtype, start, end in busy_periods(time_skeleton(calendar, appt), tr, tz):
            busy.setdefault(fbtype, []).append((start, end))
    body = vfreebusy(tr, {k: merge(v) for k, v in busy.items()})
    return ReportResult(200, body, "text/calendar; charset=utf-8")


def busy_periods(
    cal: icalendar.Calendar, tr: TimeRange, tz: ZoneInfo
) -> Iterable[tuple[str, dt.datetime, dt.datetime]]:
    """(FBTYPE, start, end) of every blocking VEVENT instance, clipped to tr."""
    vevents = [c for c in cal.subcomponents if c.name == "VEVENT"]
    try:
        instances = list(instances_overlapping(vevents, tr, tz))
    except _BROKEN_DATA:
        return
    for inst in instances:
        status = str(inst.get("STATUS", "CONFIRMED")).upper()
        if status == "CANCELLED" or str(inst.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
            continue
        start, end = instance_span(inst, tz)
        start, end = max(start, tr.start), min(end, tr.end)
        if end > start:  # a zero-length appointment blocks no time
            yield ("BUSY-TENTATIVE" if status == "TENTATIVE" else "BUSY"), start, end


def merge(periods: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Overlapping or touching periods as one."""
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(periods):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def vfreebusy(tr: TimeRange, busy: dict[str, list[tuple[dt.datetime, dt.datetime]]]) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    fb = icalendar.FreeBusy()
    fb.add("dtstamp", dt.datetime.now(dt.UTC).replace(microsecond=0))
    fb.add("dtstart", tr.start)
    fb.add("dtend", tr.end)
    for fbtype in sorted(busy):
        for period in busy[fbtype]:
            fb.add("freebusy", period, parameters={"FBTYPE": fbtype})
    cal.add_component(fb)
    return cal.to_ical()
