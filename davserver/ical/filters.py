"""RFC 4791 calendar-query filters (§7.8, §9.7, §9.9): parse, SQL prefilter, evaluate.

Pure protocol code: no HTTP, no database.  The REPORT handler parses the
``<C:filter>`` once with :func:`parse_filter`, narrows candidates in SQL with
:func:`prefilter` and decides each calendar object resource with :func:`matches`.

Anything we cannot evaluate exactly is refused at parse time with
``FilterError('supported-filter')``: a 403 is recoverable for a client, a
silently wrong answer makes events disappear from phones.  Refused: time-range
on VTODO/VJOURNAL/VFREEBUSY/VALARM (only VEVENT instances are expanded) and on
DTSTART/DTEND/DUE properties (their per-instance effective value counts).
Time-range where RFC 4791 defines none (VCALENDAR, SUMMARY, ...) is invalid.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from icalendar.prop import vDDDLists
from lxml import etree

from davserver.work_budget import charge, remaining

CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
COLLATIONS = ("i;ascii-casemap", "i;octet")
_UTC_RE = re.compile(r"^\d{8}T\d{6}Z$")
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
# RFC 4791 §9.9 only defines time-range for these; the others are left undefined.
_TR_COMPONENTS_UNSUPPORTED = {"VTODO", "VJOURNAL", "VFREEBUSY", "VALARM"}
_TR_PROPS_SUPPORTED = {"COMPLETED", "CREATED", "DTSTAMP", "LAST-MODIFIED"}
_TR_PROPS_UNSUPPORTED = {"DTSTART", "DTEND", "DUE"}
_MAIN_COMPONENTS = {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"}
# RFC 5545 (and 7953) nesting: a comp-filter for anything else can never match (§9.7.1
# makes such a filter invalid, not empty). X- components may appear anywhere.
_SUBCOMPONENTS = {
    "VCALENDAR": {*_MAIN_COMPONENTS, "VTIMEZONE", "VAVAILABILITY"},
    "VEVENT": {"VALARM"},
    "VTODO": {"VALARM"},
    "VJOURNAL": set(),
    "VFREEBUSY": set(),
    "VALARM": set(),
    "VTIMEZONE": {"STANDARD", "DAYLIGHT"},
    "STANDARD": set(),
    "DAYLIGHT": set(),
    "VAVAILABILITY": {"AVAILABLE"},
    "AVAILABLE": set(),
}
# <is-defined/> (CalDAV drafts) is still sent by old clients; it adds no test.
_EXISTS = {"is-not-defined", "is-defined"}
# Bad stored data must not break a whole REPORT; such objects are included.
_BROKEN_DATA = (ValueError, KeyError, TypeError, AttributeError, OverflowError)
# recurring-ical-events compares floating/DATE values as if they were UTC; the
# true zone differs by at most 14 h, so we query wider and re-check exactly.
_MARGIN = timedelta(days=2)
_FAR_PAST = datetime(1000, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


class FilterError(Exception):
    """A CALDAV precondition failure for the REPORT response (403 + this element).

    condition: 'valid-filter' | 'supported-filter' | 'supported-collation';
    str(e) is a one-line reason.
    """

    def __init__(self, condition: str, message: str):
        super().__init__(message)
        self.condition = condition


@dataclass(frozen=True)
class TimeRange:
    """start inclusive, end exclusive, aware UTC; None is -/+ infinity."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class TextMatch:
    text: str
    collation: str
    negate: bool


@dataclass(frozen=True)
class ParamFilter:
    name: str
    is_not_defined: bool
    text_match: TextMatch | None


@dataclass(frozen=True)
class PropFilter:
    name: str
    is_not_defined: bool
    time_range: TimeRange | None
    text_match: TextMatch | None
    param_filters: tuple[ParamFilter, ...]


@dataclass(frozen=True)
class CompFilter:
    name: str
    is_not_defined: bool
    time_range: TimeRange | None
    prop_filters: tuple[PropFilter, ...]
    comp_filters: tuple[CompFilter, ...]


# --------------------------------------------------------------------------- parsing


def parse_utc(value: str | None) -> datetime | None:
    """Parse an iCalendar "date with UTC time" (20260101T000000Z); ValueError if not one."""
    if value is None:
        return None
    if not _UTC_RE.match(value):
        raise ValueError(f"not a UTC date-time: {value!r}")
    return datetime.strptime(value[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def parse_time_range(el: etree._Element, *, require_both: bool = False) -> TimeRange:
    """Parse start/end attributes; ValueError on bad syntax, missing bounds or start >= end."""
    start, end = parse_utc(el.get("start")), parse_utc(el.get("end"))
    if start is None and end is None:
        raise ValueError("time-range needs a start or an end attribute")
    if require_both and (start is None or end is None):
        raise ValueError(f"{etree.QName(el).localname} needs both start and end")
    if start is not None and end is not None and start >= end:
        raise ValueError("time-range end must be later than start")
    return TimeRange(start, end)


def _children(el: etree._Element) -> list[tuple[str, etree._Element]]:
    """CalDAV child elements by local name; foreign-namespace extensions are ignored."""
    return [
        (etree.QName(c).localname, c)
        for c in el
        if isinstance(c.tag, str) and etree.QName(c).namespace == CALDAV_NS
    ]


def _name(el: etree._Element) -> str:
    name = (el.get("name") or "").strip().upper()
    if not name:
        raise FilterError("valid-filter", f"{etree.QName(el).localname} without a name")
    return name


def _split(el: etree._Element, allowed: set[str]) -> dict[str, list[etree._Element]]:
    parts: dict[str, list[etree._Element]] = {}
    for local, child in _children(el):
        if local not in allowed:
            where = etree.QName(el).localname
            raise FilterError("valid-filter", f"unexpected <{local}> in <{where}>")
        parts.setdefault(local, []).append(child)
    for local, found in parts.items():
        if len(found) > 1 and local not in ("comp-filter", "prop-filter", "param-filter"):
            raise FilterError("valid-filter", f"more than one <{local}>")
    exclusive = parts.keys() - {"is-not-defined"}
    if "is-not-defined" in parts and exclusive:
        raise FilterError("valid-filter", "is-not-defined cannot be combined with other tests")
    return parts


def _time_range(parts: dict[str, list[etree._Element]]) -> TimeRange | None:
    if "time-range" not in parts:
        return None
    try:
        return parse_time_range(parts["time-range"][0])
    except ValueError as exc:
        raise FilterError("valid-filter", str(exc)) from None


def _text_match(parts: dict[str, list[etree._Element]]) -> TextMatch | None:
    if "text-match" not in parts:
        return None
    el = parts["text-match"][0]
    collation = el.get("collation", "i;ascii-casemap").strip().lower()
    if collation not in COLLATIONS:
        raise FilterError("supported-collation", f"unsupported collation {collation!r}")
    negate = el.get("negate-condition", "no")
    if negate not in ("yes", "no"):
        raise FilterError("valid-filter", f"negate-condition must be yes or no: {negate!r}")
    return TextMatch(el.text or "", collation, negate == "yes")


def _param_filter(el: etree._Element) -> ParamFilter:
    parts = _split(el, _EXISTS | {"text-match"})
    return ParamFilter(_name(el), "is-not-defined" in parts, _text_match(parts))


def _prop_filter(el: etree._Element) -> PropFilter:
    name = _name(el)
    parts = _split(el, _EXISTS | {"time-range", "text-match", "param-filter"})
    if "time-range" in parts and "text-match" in parts:
        raise FilterError("valid-filter", f"prop-filter {name}: time-range and text-match")
    tr = _time_range(parts)
    if tr is not None and name in _TR_PROPS_UNSUPPORTED:
        # The value that counts is each instance's effective one (RRULE, overrides,
        # DURATION), not the stored literal; refuse rather than answer wrongly.
        raise FilterError("supported-filter", f"time-range on property {name} is not supported")
    if tr is not None and name not in _TR_PROPS_SUPPORTED:
        raise FilterError("valid-filter", f"time-range is not defined for property {name}")
    params = tuple(_param_filter(p) for p in parts.get("param-filter", []))
    return PropFilter(name, "is-not-defined" in parts, tr, _text_match(parts), params)


def _comp_filter(el: etree._Element) -> CompFilter:
    name = _name(el)
    parts = _split(el, _EXISTS | {"time-range", "prop-filter", "comp-filter"})
    tr = _time_range(parts)
    allowed = _SUBCOMPONENTS.get(name)
    for child in parts.get("comp-filter", []):
        child_name = _name(child)
        if allowed is not None and child_name not in allowed and not child_name.startswith("X-"):
            raise FilterError("valid-filter", f"{child_name} cannot be a component of {name}")
    if tr is not None and name in _TR_COMPONENTS_UNSUPPORTED:
        raise FilterError("supported-filter", f"time-range on {name} is not supported")
    if tr is not None and name != "VEVENT":
        raise FilterError("valid-filter", f"time-range is not defined for {name}")
    return CompFilter(
        name,
        "is-not-defined" in parts,
        tr,
        tuple(_prop_filter(p) for p in parts.get("prop-filter", [])),
        tuple(_comp_filter(c) for c in parts.get("comp-filter", [])),
    )


def parse_filter(filter_el: etree._Element) -> CompFilter:
    """Parse a <C:filter> element into the VCALENDAR CompFilter; raises FilterError."""
    if etree.QName(filter_el) != etree.QName(CALDAV_NS, "filter"):
        raise FilterError("valid-filter", "expected a CALDAV:filter element")
    found = _children(filter_el)
    if len(found) != 1 or found[0][0] != "comp-filter":
        raise FilterError("valid-filter", "filter must contain exactly one comp-filter")
    top = _comp_filter(found[0][1])
    if top.name != "VCALENDAR":
        raise FilterError("valid-filter", f"top comp-filter must be VCALENDAR, not {top.name}")
    return top


# ------------------------------------------------------------------------ prefilter


def prefilter(flt: CompFilter) -> tuple[set[str] | None, TimeRange | None]:
    """Conservative SQL push-down: (types the object must ALL contain, range to overlap).

    Only main component types (VEVENT, VTODO, VJOURNAL, VFREEBUSY) are reported.
    The range is in UTC: DATE and floating instances must be placed in it as in
    :func:`matches` (calendar timezone), or the stored bounds widened by 14 h.
    A zero-duration instance at S matches start <= S < end, so compare the
    object's last instance end inclusively (last_end >= start).
    """
    if flt.is_not_defined:
        return None, None
    positive = [c for c in flt.comp_filters if not c.is_not_defined]
    names = {c.name for c in positive if c.name in _MAIN_COMPONENTS}
    tr = next((c.time_range for c in positive if c.name == "VEVENT" and c.time_range), None)
    return names or None, tr


# ------------------------------------------------------------------------ evaluation


def to_utc(value: date | datetime, default_tz: ZoneInfo) -> datetime:
    """DATE -> local midnight, floating -> local time, both in the calendar's zone; -> UTC.

    zoneinfo's fold=0 gives RFC 5545 §3.3.5: a time in the spring gap uses the
    offset before the gap, an ambiguous autumn time its first occurrence.
    """
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return value.astimezone(UTC)


def instance_span(instance: icalendar.Component, default_tz: ZoneInfo) -> tuple[datetime, datetime]:
    """(start, end) in UTC of one expanded VEVENT instance (DTEND set by the expander)."""
    start = instance["DTSTART"].dt
    if "DTEND" in instance:
        end = instance["DTEND"].dt
    else:
        end = start if isinstance(start, datetime) else start + timedelta(days=1)
    return to_utc(start, default_tz), to_utc(end, default_tz)


def overlaps(start: datetime, end: datetime, tr: TimeRange) -> bool:
    """RFC 4791 §9.9 VEVENT table; end == start is the zero-duration row."""
    if end > start:
        return (tr.start is None or tr.start < end) and (tr.end is None or tr.end > start)
    return (tr.start is None or tr.start <= start) and (tr.end is None or tr.end > start)


def _earliest(vevents: Sequence[icalendar.Component], default_tz: ZoneInfo) -> datetime:
    """No instance can start before this: min of DTSTART, RECURRENCE-ID and RDATEs."""
    found = []
    for comp in vevents:
        for name in ("DTSTART", "RECURRENCE-ID", "RDATE"):
            for prop in _props(comp, name):
                values = [d.dt for d in prop.dts] if hasattr(prop, "dts") else [prop.dt]
                for value in values:
                    value = value[0] if isinstance(value, tuple) else value  # PERIOD
                    if isinstance(value, date):
                        found.append(to_utc(value, default_tz))
    return max(min(found, default=_FAR_PAST), _FAR_PAST + _MARGIN) - _MARGIN


def instances_overlapping(
    vevents: Sequence[icalendar.Component], tr: TimeRange, default_tz: ZoneInfo, counted: bool = True
) -> Iterator[icalendar.Component]:
    """Lazily yield every VEVENT instance (RRULE/RDATE/EXDATE/overrides) overlapping tr.

    recurring-ical-events is queried in doubling windows starting at the later of
    tr.start and the first possible instance, so an infinite RRULE with an open
    end stops at the first hit and a bounded range never scans past tr.end.
    Raises the library's ValueError subclasses (or KeyError) on broken data, and
    work_budget.TooMuchWork when the request's budget is spent: its time always, its
    instances when `counted` (expand, free-busy; a filter test stops at the first anyway).
    """
    holder = icalendar.Calendar()
    for vevent in vevents:
        holder.add_component(vevent)
    query = recurring_ical_events.CalendarQuery(holder, components=["VEVENT"])
    begin = _earliest(vevents, default_tz)
    if tr.start is not None and tr.start - _FAR_PAST > _MARGIN:
        begin = max(begin, tr.start - _MARGIN)
    # Compared before adding: a range ending in 9999 must not overflow (and be swallowed).
    stop = _FAR_FUTURE if tr.end is None or tr.end >= _FAR_FUTURE - _MARGIN else tr.end + _MARGIN
    span, seen = timedelta(days=7), set()
    while begin < stop:
        until = begin + span if span < stop - begin else stop
        charge(0)  # the clock, before each window
        found = [(instance_span(i, default_tz), i) for i in query.between(begin, until)]
        charge(len(found) if counted else 0)
        for (start, end), instance in sorted(found, key=lambda pair: pair[0]):
            key = (str(instance.get("UID")), instance["RECURRENCE-ID"].dt, start)
            if key not in seen and overlaps(start, end, tr):
                seen.add(key)
                yield instance
        # Windows double, but never beyond a day per instance the budget has left: one
        # window of an endless daily series must not compute millions before the check.
        left = remaining() if counted else None
        begin, span = until, span * 2 if left is None else min(span * 2, timedelta(days=left + 1))


def _text_ok(value: str, tm: TextMatch) -> bool:
    if tm.collation == "i;octet":
        found = tm.text in value  # code-point substring == UTF-8 octet substring
    else:  # i;ascii-casemap folds a-z only, never non-ASCII letters
        found = tm.text.translate(_ASCII_UPPER) in value.translate(_ASCII_UPPER)
    return found != tm.negate


def _prop_text(prop: object) -> str:
    cats = getattr(prop, "cats", None)
    if cats is not None:
        return ",".join(str(c) for c in cats)
    if isinstance(prop, str):
        return str(prop)  # vText/vCalAddress/vUri: the unescaped value
    raw = prop.to_ical() if hasattr(prop, "to_ical") else str(prop)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _param_ok(prop: object, pf: ParamFilter) -> bool:
    params = getattr(prop, "params", None) or {}
    value = params.get(pf.name)
    if pf.is_not_defined:
        return value is None
    if value is None:
        return False
    if pf.text_match is None:
        return True
    text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return _text_ok(text, pf.text_match)


def _props(comp: icalendar.Component, name: str) -> list[object]:
    value = comp.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _prop_ok(comp: icalendar.Component, pf: PropFilter, default_tz: ZoneInfo) -> bool:
    props = _props(comp, pf.name)
    if pf.is_not_defined:
        return not props
    for prop in props:
        if pf.time_range is not None:
            value = getattr(prop, "dt", None)
            if not isinstance(value, date):
                continue
            at = to_utc(value, default_tz)
            tr = pf.time_range
            if not ((tr.start is None or tr.start <= at) and (tr.end is None or tr.end > at)):
                continue
        if pf.text_match is not None and not _text_ok(_prop_text(prop), pf.text_match):
            continue
        if all(_param_ok(prop, p) for p in pf.param_filters):
            return True
    return False


def _inner_ok(comp: icalendar.Component, flt: CompFilter, default_tz: ZoneInfo) -> bool:
    return all(_prop_ok(comp, p, default_tz) for p in flt.prop_filters) and all(
        _comp_ok(comp, c, default_tz) for c in flt.comp_filters
    )


def _vevents_in_range(
    cands: list[icalendar.Component],
    passing: list[icalendar.Component],
    tr: TimeRange,
    default_tz: ZoneInfo,
) -> bool:
    """Does an instance belonging to a passing VEVENT (master or override) overlap tr?

    An override that fails the other tests still owns its instance: it is
    EXDATEd on a (shallow-copied) master so the master does not reclaim it.
    """
    keep = {id(c) for c in passing}
    failing = [c for c in cands if id(c) not in keep]
    vevents = list(passing)
    if failing:
        if any("RANGE" in c["RECURRENCE-ID"].params for c in cands if "RECURRENCE-ID" in c):
            raise FilterError(
                "supported-filter", "RANGE=THISANDFUTURE overrides cannot be filtered separately"
            )
        overridden = [c for c in failing if "RECURRENCE-ID" in c]
        for i, comp in enumerate(vevents):
            if "RECURRENCE-ID" in comp:
                continue
            mine = [o for o in overridden if o.get("UID") == comp.get("UID")]
            if mine:  # new list: never append to the caller's EXDATE list
                comp = vevents[i] = comp.copy()
                comp["EXDATE"] = _props(comp, "EXDATE") + [vDDDLists([o["RECURRENCE-ID"].dt]) for o in mine]
    try:
        return next(instances_overlapping(vevents, tr, default_tz, counted=False), None) is not None
    except _BROKEN_DATA:
        return True  # unreadable recurrence data: include rather than hide the event


def _comp_ok(scope: icalendar.Component, flt: CompFilter, default_tz: ZoneInfo) -> bool:
    """§9.7.1: some component of that name in scope passes all of flt's tests."""
    cands = [c for c in scope.subcomponents if c.name == flt.name]
    if flt.is_not_defined:
        return not cands
    passing = [c for c in cands if _inner_ok(c, flt, default_tz)]
    if not passing or flt.time_range is None:
        return bool(passing)
    return _vevents_in_range(cands, passing, flt.time_range, default_tz)


def matches(calendar: icalendar.Calendar, flt: CompFilter, default_tz: ZoneInfo) -> bool:
    """Does this calendar object resource match the parsed filter?

    DATE and floating values are placed in ``default_tz`` (the calendar's zone).
    A prop-filter on a recurring VEVENT tests the stored component (master or
    override) that owns the instance.  May raise FilterError('supported-filter')
    for RANGE=THISANDFUTURE overrides that the other tests tell apart.
    """
    if flt.is_not_defined or calendar.name != flt.name:
        return False
    return _inner_ok(calendar, flt, default_tz)
