"""The time skeleton of a served object: only what decides when its instances are.

Post-filtering a series for a time range (calendar-query) or expanding it for busy time
(free-busy) needs DTSTART, DTEND, RRULE, EXDATE, overrides and time zones, not the texts,
alarms and device properties. Parsing the whole rendered object was most of the cost of
a query on a calendar with many ongoing series; the skeleton parses a third of the lines
and, since instance times do not depend on the viewer's policy, its text is cached per
(row, revision) for every viewer, in the application's render cache (one per database).
A revision never changes content, so the cache is exact in every process.
"""

from __future__ import annotations

import icalendar

from providers.practice.records import Appointment
from providers.render_cache import SkeletonKey
from providers.resources import CalendarCollection

# Everything recurring-ical-events and filters.instances_overlapping read, plus what
# free-busy decides on (STATUS, TRANSP).
TIME_PROPS = frozenset(
    {
        b"UID",
        b"DTSTART",
        b"DTEND",
        b"DURATION",
        b"RRULE",
        b"RDATE",
        b"EXDATE",
        b"EXRULE",
        b"RECURRENCE-ID",
        b"SEQUENCE",
        b"STATUS",
        b"TRANSP",
    }
)
_TIMEZONE_PARTS = {b"VTIMEZONE", b"STANDARD", b"DAYLIGHT"}


def strip_to_times(data: bytes) -> bytes:
    """The VEVENTs (without subcomponents) reduced to TIME_PROPS, and every VTIMEZONE."""
    unfolded = data.replace(b"\r\n ", b"").replace(b"\r\n\t", b"")
    keep: list[bytes] = []
    stack: list[bytes] = []
    for line in unfolded.split(b"\r\n"):
        if not line:
            continue
        upper = line.upper()
        if upper.startswith((b"BEGIN:", b"END:")):
            name = upper.split(b":", 1)[1].strip()
            if upper.startswith(b"BEGIN:"):
                stack.append(name)
                if _kept(stack):
                    keep.append(line)
            else:
                if _kept(stack):
                    keep.append(line)
                if stack:
                    stack.pop()
            continue
        if not _kept(stack):
            continue
        name = upper.split(b":", 1)[0].split(b";", 1)[0]
        if stack[-1] in _TIMEZONE_PARTS or name in TIME_PROPS or stack == [b"VCALENDAR"]:
            keep.append(line)
    return b"\r\n".join(keep) + b"\r\n"


def _kept(stack: list[bytes]) -> bool:
    if stack[:1] != [b"VCALENDAR"]:
        return False
    inner = stack[1:]
    return (
        not inner
        or inner == [b"VEVENT"]
        or (inner[0] == b"VTIMEZONE" and all(p in _TIMEZONE_PARTS for p in inner))
    )


def time_skeleton(calendar: CalendarCollection, appt: Appointment) -> icalendar.Calendar:
    """Parsed skeleton of the served object (a fresh parse: callers may keep or change it).

    The cache keeps the skeleton's text, not the parsed components: those take many times
    its size (docs/benchmarks/code-decisions.md), and the answers per time range are cached anyway.
    """
    cache = calendar.settings.render_cache
    key = SkeletonKey(appt.id, appt.revision)
    stripped = cache.get(key)
    if stripped is None:
        stripped = strip_to_times(calendar.render(appt))
        cache.put(key, stripped)  # a bounded LRU
    return icalendar.Calendar.from_ical(stripped)
