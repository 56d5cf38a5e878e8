"""The <C:calendar-data> element of a CalDAV REPORT request (RFC 4791 §9.6).

Parsing turns the request element into a :class:`CalendarDataRequest`;
:func:`apply_calendar_data` shapes one stored calendar object resource for the
response: ``expand`` or ``limit-recurrence-set``, then ``limit-freebusy-set``,
then partial retrieval (comp/prop/allprop/allcomp, novalue).

Errors: :class:`CalendarDataError` (a ValueError).  ``condition`` is
``'supported-calendar-data'`` for an unsupported content-type/version (answer
403 with that CALDAV precondition) and ``None`` for a malformed element, e.g.
``expand`` without start/end (answer 400 Bad Request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
from icalendar.prop import vDDDLists, vDDDTypes, vText
from lxml import etree

from davserver.ical.filters import (
    CALDAV_NS,
    TimeRange,
    instances_overlapping,
    overlaps,
    parse_time_range,
    to_utc,
)

_RECURRENCE_PROPS = ("RRULE", "RDATE", "EXDATE", "EXRULE")
_BROKEN_DATA = (ValueError, KeyError, TypeError, AttributeError, OverflowError)


class CalendarDataError(ValueError):
    """Invalid <C:calendar-data>; condition 'supported-calendar-data' or None (-> 400)."""

    def __init__(self, message: str, condition: str | None = None):
        super().__init__(message)
        self.condition = condition


@dataclass(frozen=True)
class PropSpec:
    name: str
    novalue: bool


@dataclass(frozen=True)
class CompSpec:
    """A <C:comp>: None means all (allprop/allcomp, or an empty <C:comp>)."""

    name: str
    props: tuple[PropSpec, ...] | None
    comps: tuple[CompSpec, ...] | None


@dataclass(frozen=True)
class CalendarDataRequest:
    comp: CompSpec | None = None
    expand: TimeRange | None = None
    limit_recurrence_set: TimeRange | None = None
    limit_freebusy_set: TimeRange | None = None

    @property
    def whole(self) -> bool:
        """True for a plain <calendar-data/>: the stored bytes go out unchanged."""
        return self == CalendarDataRequest()


# --------------------------------------------------------------------------- parsing


def _caldav_children(el: etree._Element) -> list[tuple[str, etree._Element]]:
    out = []
    for child in el:
        if isinstance(child.tag, str) and etree.QName(child).namespace == CALDAV_NS:
            out.append((etree.QName(child).localname, child))
    return out  # foreign-namespace extensions are ignored (RFC 4918 extensibility)


def _name(el: etree._Element) -> str:
    name = (el.get("name") or "").strip().upper()
    if not name:
        raise CalendarDataError(f"<{etree.QName(el).localname}> without a name")
    return name


def _comp(el: etree._Element) -> CompSpec:
    props: list[PropSpec] = []
    comps: list[CompSpec] = []
    seen: set[str] = set()
    for local, child in _caldav_children(el):
        seen.add(local)
        if local == "prop":
            novalue = child.get("novalue", "no")
            if novalue not in ("yes", "no"):
                raise CalendarDataError(f"novalue must be yes or no: {novalue!r}")
            props.append(PropSpec(_name(child), novalue == "yes"))
        elif local == "comp":
            comps.append(_comp(child))
        elif local not in ("allprop", "allcomp"):
            raise CalendarDataError(f"unexpected <{local}> in <comp>")
    if {"allprop", "prop"} <= seen or {"allcomp", "comp"} <= seen:
        raise CalendarDataError("allprop/allcomp cannot be combined with prop/comp")
    if not seen:  # an empty <comp> means the whole component (RFC 4791 §7.8.1 example)
        return CompSpec(_name(el), None, None)
    return CompSpec(
        _name(el),
        None if "allprop" in seen else tuple(props),
        None if "allcomp" in seen else tuple(comps),
    )


def _range(el: etree._Element) -> TimeRange:
    try:
        return parse_time_range(el, require_both=True)
    except ValueError as exc:
        raise CalendarDataError(str(exc)) from None


def parse_calendar_data(el: etree._Element | None) -> CalendarDataRequest | None:
    """Parse a <C:calendar-data> request element; None stays None. Raises CalendarDataError."""
    if el is None:
        return None
    if etree.QName(el) != etree.QName(CALDAV_NS, "calendar-data"):
        raise CalendarDataError("expected a CALDAV:calendar-data element")
    ctype = el.get("content-type", "text/calendar").split(";")[0].strip().lower()
    if ctype != "text/calendar" or el.get("version", "2.0").strip() != "2.0":
        raise CalendarDataError(f"unsupported calendar data {ctype!r}", "supported-calendar-data")
    found: dict[str, etree._Element] = {}
    for local, child in _caldav_children(el):
        if local not in ("comp", "expand", "limit-recurrence-set", "limit-freebusy-set"):
            raise CalendarDataError(f"unexpected <{local}> in <calendar-data>")
        if local in found:
            raise CalendarDataError(f"more than one <{local}>")
        found[local] = child
    if "expand" in found and "limit-recurrence-set" in found:
        raise CalendarDataError("expand and limit-recurrence-set are mutually exclusive")
    comp = _comp(found["comp"]) if "comp" in found else None
    if comp is not None and comp.name != "VCALENDAR":
        raise CalendarDataError(f"top-level comp must be VCALENDAR, not {comp.name}")
    ranges = {k: _range(v) for k, v in found.items() if k != "comp"}
    return CalendarDataRequest(
        comp,
        ranges.get("expand"),
        ranges.get("limit-recurrence-set"),
        ranges.get("limit-freebusy-set"),
    )


# -------------------------------------------------------------------------- applying


def _utc_value(prop: object, default_tz: ZoneInfo) -> object:
    """A date-time property value converted to UTC (DATE values stay DATE)."""
    params = {k: v for k, v in getattr(prop, "params", {}).items() if k not in ("TZID", "RANGE")}
    if isinstance(prop, vDDDLists):
        dts = [d.dt for d in prop.dts]
        if not any(isinstance(d, datetime) for d in dts):
            return prop
        new = vDDDLists([to_utc(d, default_tz) for d in dts])
    elif isinstance(prop, vDDDTypes) and isinstance(prop.dt, datetime):
        new = vDDDTypes(to_utc(prop.dt, default_tz))
    else:
        return prop
    new.params.update(params)
    return new


def _to_utc_component(comp: icalendar.Component, default_tz: ZoneInfo) -> None:
    """Rewrite every date-time in comp and its subcomponents to UTC (for expand)."""
    for key in list(comp.keys()):
        value = comp[key]
        if isinstance(value, list):
            comp[key] = [_utc_value(v, default_tz) for v in value]
        else:
            comp[key] = _utc_value(value, default_tz)
    for sub in comp.subcomponents:
        _to_utc_component(sub, default_tz)


def _expand(cal: icalendar.Calendar, tr: TimeRange, default_tz: ZoneInfo) -> icalendar.Calendar:
    """One VEVENT per instance overlapping tr, in UTC, without RRULE/RDATE/EXDATE/VTIMEZONE.

    Only VEVENTs are expanded; other components (never VTIMEZONE) pass through
    with their times in UTC.
    """
    vevents = [c for c in cal.subcomponents if c.name == "VEVENT"]
    recurring = {str(c.get("UID")) for c in vevents if "RECURRENCE-ID" in c or "RRULE" in c or "RDATE" in c}
    instances = list(instances_overlapping(vevents, tr, default_tz))
    out = cal.copy()
    for comp in cal.subcomponents:
        if comp.name not in ("VEVENT", "VTIMEZONE"):
            other = comp.copy(recursive=True)
            _to_utc_component(other, default_tz)
            out.add_component(other)
    for inst in instances:
        inst.subcomponents = [s.copy(recursive=True) for s in inst.subcomponents]
        for name in _RECURRENCE_PROPS:
            inst.pop(name, None)
        if str(inst.get("UID")) not in recurring:
            inst.pop("RECURRENCE-ID", None)
        if "DTEND" in inst and inst["DTEND"].dt == inst["DTSTART"].dt:
            del inst["DTEND"]  # zero-duration event: keep it without DTEND, as stored
        _to_utc_component(inst, default_tz)
        out.add_component(inst)
    return out


def _component_span(comp: icalendar.Component) -> tuple[date, date]:
    """Local (start, end) of a stored VEVENT per RFC 4791 §9.9 defaults."""
    start = comp["DTSTART"].dt
    if "DTEND" in comp:
        return start, comp["DTEND"].dt
    if "DURATION" in comp:
        duration = comp["DURATION"].dt
        if not isinstance(start, datetime) and duration % timedelta(days=1):
            start = datetime.combine(start, time(0))
        return start, start + duration
    return start, start if isinstance(start, datetime) else start + timedelta(days=1)


def _override_impacts(
    override: icalendar.Component,
    master: icalendar.Component | None,
    tr: TimeRange,
    default_tz: ZoneInfo,
) -> bool:
    """§9.6.6: current or original (RECURRENCE-ID + master's duration) times overlap tr."""
    rid = override["RECURRENCE-ID"]
    if "RANGE" in rid.params:
        return True  # THISANDFUTURE shapes later instances too: always keep it
    start, end = _component_span(override)
    if overlaps(to_utc(start, default_tz), to_utc(end, default_tz), tr):
        return True
    m_start, m_end = _component_span(master if master is not None else override)
    try:
        duration = m_end - m_start
        orig_end = rid.dt + duration
    except TypeError:  # DATE vs DATE-TIME mix in broken data
        orig_end = to_utc(rid.dt, default_tz) + (to_utc(m_end, default_tz) - to_utc(m_start, default_tz))
    return overlaps(to_utc(rid.dt, default_tz), to_utc(orig_end, default_tz), tr)


def _limit_recurrence_set(cal: icalendar.Calendar, tr: TimeRange, default_tz: ZoneInfo) -> icalendar.Calendar:
    """Keep masters and everything else; keep only VEVENT overrides impacting tr."""
    masters = {
        str(c.get("UID")): c for c in cal.subcomponents if c.name == "VEVENT" and "RECURRENCE-ID" not in c
    }
    out = cal.copy()
    for comp in cal.subcomponents:
        if comp.name == "VEVENT" and "RECURRENCE-ID" in comp:
            try:
                keep = _override_impacts(comp, masters.get(str(comp.get("UID"))), tr, default_tz)
            except _BROKEN_DATA:
                keep = True
            if not keep:
                continue
        out.add_component(comp)
    return out


def _limit_freebusy_set(cal: icalendar.Calendar, tr: TimeRange) -> None:
    """§9.6.7: keep only FREEBUSY periods intersecting tr (periods are UTC by RFC 5545)."""
    for comp in cal.subcomponents:
        if comp.name != "VFREEBUSY" or "FREEBUSY" not in comp:
            continue
        value = comp["FREEBUSY"]
        periods = value if isinstance(value, list) else [value]
        kept = [p for p in periods if p.start < tr.end and p.end > tr.start]
        del comp["FREEBUSY"]
        if kept:
            comp["FREEBUSY"] = kept


def _blank(prop: object) -> vText:
    """novalue="yes": name and parameters with an empty value ("NAME;PARAM=x:")."""
    blank = vText("")
    blank.params.update(getattr(prop, "params", {}))
    return blank


def _select(comp: icalendar.Component, spec: CompSpec) -> icalendar.Component:
    """Partial retrieval: only the requested properties and subcomponents."""
    if spec.props is None and spec.comps is None:
        return comp
    out = type(comp)()
    out.name = comp.name
    wanted = None if spec.props is None else {p.name: p.novalue for p in spec.props}
    for key in comp.keys():
        if wanted is not None and key.upper() not in wanted:
            continue
        value = comp[key]
        if wanted is not None and wanted[key.upper()]:
            value = [_blank(v) for v in value] if isinstance(value, list) else _blank(value)
        out[key] = value
    subs = None if spec.comps is None else {c.name: c for c in spec.comps}
    for sub in comp.subcomponents:
        if subs is None:
            out.add_component(sub)
        elif sub.name in subs:
            out.add_component(_select(sub, subs[sub.name]))
    return out


def apply_calendar_data(req: CalendarDataRequest | None, ical_bytes: bytes, default_tz: ZoneInfo) -> bytes:
    """Shape one stored calendar object for a REPORT response; None/plain -> unchanged bytes.

    Stored data we cannot parse or expand is returned whole or unexpanded rather
    than dropped, so a client never loses an event because of a bad RRULE.
    """
    if req is None or req.whole:
        return ical_bytes
    try:
        cal = icalendar.Calendar.from_ical(ical_bytes)
    except ValueError:
        return ical_bytes
    if req.expand is not None:
        try:
            cal = _expand(cal, req.expand, default_tz)
        except _BROKEN_DATA:
            pass
    elif req.limit_recurrence_set is not None:
        cal = _limit_recurrence_set(cal, req.limit_recurrence_set, default_tz)
    if req.limit_freebusy_set is not None:
        _limit_freebusy_set(cal, req.limit_freebusy_set)
    if req.comp is not None:
        cal = _select(cal, req.comp)
    return cal.to_ical(sorted=False)


__all__ = [
    "CalendarDataError",
    "CalendarDataRequest",
    "CompSpec",
    "PropSpec",
    "apply_calendar_data",
    "parse_calendar_data",
]
