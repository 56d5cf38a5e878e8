"""Compact VTIMEZONE components with yearly RRULEs, derived from the IANA database.

Clients need a VTIMEZONE for every TZID. The rule form (as most servers publish it) is a
few hundred bytes; an RDATE list per year would multiply the size of every event.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

_REFERENCE_YEAR = 2026


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[dt.datetime, dt.timedelta, dt.timedelta, str]]:
    """(local time before the switch, offset before, offset after, name after) within `year`."""
    result = []
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=1)
    prev = start.astimezone(zone)
    t = start + step
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    while t < end:
        cur = t.astimezone(zone)
        if cur.utcoffset() != prev.utcoffset():
            # Wall-clock time of the onset in the old offset (RFC 5545: DTSTART is in TZOFFSETFROM).
            onset_local = (t + prev.utcoffset()).replace(tzinfo=None)
            result.append((onset_local, prev.utcoffset(), cur.utcoffset(), cur.tzname() or ""))
        prev = cur
        t += step
    return result


@lru_cache(maxsize=64)
def vtimezone(tzid: str) -> icalendar.Timezone:
    """A VTIMEZONE for `tzid`; falls back to icalendar's RDATE form for irregular zones."""
    zone = ZoneInfo(tzid)
    tz = icalendar.Timezone()
    tz.add("tzid", tzid)
    transitions = _transitions(zone, _REFERENCE_YEAR)
    if not transitions:
        now = dt.datetime(_REFERENCE_YEAR, 6, 1, tzinfo=zone)
        std = icalendar.TimezoneStandard()
        std.add("dtstart", dt.datetime(1970, 1, 1))
        std.add("tzoffsetfrom", now.utcoffset())
        std.add("tzoffsetto", now.utcoffset())
        std.add("tzname", now.tzname() or tzid)
        tz.add_component(std)
        return tz
    if len(transitions) != 2:
        return icalendar.Timezone.from_tzid(
            tzid,
            first_date=dt.date(_REFERENCE_YEAR - 10, 1, 1),
            last_date=dt.date(_REFERENCE_YEAR + 15, 1, 1),
        )
    for onset, before, after, name in transitions:
        sub = icalendar.TimezoneDaylight() if after > before else icalendar.TimezoneStandard()
        last_day = (onset.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        week = -1 if onset.day + 7 > last_day.day else (onset.day - 1) // 7 + 1
        weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][onset.weekday()]
        # First onset on or after 1970 with the same rule, so the rule covers every appointment.
        sub.add("dtstart", onset.replace(year=1970, day=1) + _first_weekday_shift(onset, week))
        sub.add("rrule", {"freq": "yearly", "bymonth": onset.month, "byday": f"{week}{weekday}"})
        sub.add("tzoffsetfrom", before)
        sub.add("tzoffsetto", after)
        sub.add("tzname", name)
        tz.add_component(sub)
    return tz


def _first_weekday_shift(onset: dt.datetime, week: int) -> dt.timedelta:
    """Days from the 1st of onset's month in 1970 to the matching n-th/last weekday in 1970."""
    first = onset.replace(year=1970, day=1)
    target = onset.weekday()
    if week > 0:
        days = (target - first.weekday()) % 7 + 7 * (week - 1)
    else:
        nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        last = nxt - dt.timedelta(days=1)
        days = last.day - 1 - ((last.weekday() - target) % 7)
    return dt.timedelta(days=days)
