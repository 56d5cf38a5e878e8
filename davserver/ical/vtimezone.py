"""Compact VTIMEZONE components with yearly RRULEs, derived from the IANA database.

Clients need a VTIMEZONE for every TZID. The rule form (as most servers publish it) is a
few hundred bytes; an RDATE list per year would multiply the size of every event. A rule is
only published when it reproduces every transition of the years appointments fall in
(_FIRST_YEAR.._LAST_YEAR); zones whose rules change in between get RDATEs for that window.

Kept instead of icalendar's Timezone.from_tzid (7.3): that one writes each DTSTART/RDATE in
the offset after the change (RFC 5545: before it), so spring-forward onsets come out an hour
late in every DST zone, and its RDATE form is larger (docs/benchmarks/libraries.md).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

# The years a published VTIMEZONE must get exactly right: ten years back, fifteen ahead.
_FIRST_YEAR, _LAST_YEAR = 2016, 2040
_WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
# Coarse scan step: at most one change fits in it (closest pair 2016-2040: 6.96 days, Asia/Gaza).
_STEP = dt.timedelta(days=1)


@dataclass(frozen=True)
class Transition:
    """One change of UTC offset; `onset` is the wall-clock time in the offset before it."""

    onset: dt.datetime
    before: dt.timedelta
    after: dt.timedelta
    name: str


@dataclass(frozen=True)
class YearlyRule:
    """A yearly onset day: the n-th (-1: last) weekday, weekday on or after a day, or a fixed day."""

    month: int
    weekday: int | None
    nth: int | None = None
    from_day: int | None = None
    fixed_day: int | None = None

    def day(self, year: int) -> int:
        last = calendar.monthrange(year, self.month)[1]
        if self.fixed_day is not None:
            return self.fixed_day
        first_weekday = calendar.weekday(year, self.month, self.from_day or 1)
        if self.from_day is not None:
            return self.from_day + (self.weekday - first_weekday) % 7
        if self.nth == -1:
            return last - (calendar.weekday(year, self.month, last) - self.weekday) % 7
        return 1 + (self.weekday - first_weekday) % 7 + 7 * (self.nth - 1)

    def rrule(self) -> dict:
        rule: dict = {"freq": "yearly", "bymonth": self.month}
        if self.fixed_day is not None:
            rule["bymonthday"] = self.fixed_day
        elif self.from_day is not None:
            rule["bymonthday"] = list(range(self.from_day, self.from_day + 7))
            rule["byday"] = _WEEKDAYS[self.weekday]
        else:
            rule["byday"] = f"{self.nth}{_WEEKDAYS[self.weekday]}"
        return rule


def _offset_changes(zone: ZoneInfo, first_year: int, last_year: int) -> list[Transition]:
    """Every offset change in first_year..last_year, to the second."""
    result = []
    t = dt.datetime(first_year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(last_year + 1, 1, 1, tzinfo=dt.UTC)
    before = t.astimezone(zone).utcoffset()
    while t < end:
        nxt = t + _STEP
        if nxt.astimezone(zone).utcoffset() != before:
            lo, hi = t, nxt
            while hi - lo > dt.timedelta(seconds=1):
                mid = (lo + (hi - lo) / 2).replace(microsecond=0)
                lo, hi = (mid, hi) if mid.astimezone(zone).utcoffset() == before else (lo, mid)
            local = hi.astimezone(zone)
            onset = (hi + before).replace(tzinfo=None)
            result.append(Transition(onset, before, local.utcoffset(), local.tzname() or ""))
            before = local.utcoffset()
        t = nxt
    return result


def _candidate_rules(onset: dt.datetime) -> list[YearlyRule]:
    """Rules that put onset's day where it is, most widely understood first."""
    month, day, weekday = onset.month, onset.day, onset.weekday()
    last = calendar.monthrange(onset.year, month)[1]
    shortest = 28 if month == 2 else last
    rules = []
    if day <= 28:
        rules.append(YearlyRule(month, weekday, nth=(day - 1) // 7 + 1))
    if day + 7 > last:
        rules.append(YearlyRule(month, weekday, nth=-1))
    rules += [
        YearlyRule(month, weekday, from_day=k) for k in range(max(1, day - 6), day + 1) if k + 6 <= shortest
    ]
    rules.append(YearlyRule(month, None, fixed_day=day))
    return rules


def _yearly_rules(changes: list[Transition]) -> list[tuple[Transition, YearlyRule]] | None:
    """Two yearly rules that reproduce every change in the window, or None."""
    reference = [c for c in changes if c.onset.year == (_FIRST_YEAR + _LAST_YEAR) // 2]
    if len(reference) != 2:
        return None
    actual = {(c.onset, c.before, c.after, c.name) for c in changes}
    chosen = []
    for change in reference:
        for rule in _candidate_rules(change.onset):
            produced = set()
            for year in range(_FIRST_YEAR, _LAST_YEAR + 1):
                onset = change.onset.replace(year=year, day=rule.day(year))
                produced.add((onset, change.before, change.after, change.name))
            if produced <= actual:
                chosen.append((change, rule))
                break
        else:
            return None
    if len(actual) != 2 * (_LAST_YEAR - _FIRST_YEAR + 1):
        return None
    return chosen


def _subcomponent(
    before: dt.timedelta, after: dt.timedelta, name: str, start: dt.datetime
) -> icalendar.Component:
    sub = icalendar.TimezoneDaylight() if after > before else icalendar.TimezoneStandard()
    sub.add("dtstart", start)
    sub.add("tzoffsetfrom", before)
    sub.add("tzoffsetto", after)
    sub.add("tzname", name)
    return sub


@lru_cache(maxsize=64)
def vtimezone(tzid: str) -> icalendar.Timezone:
    """A VTIMEZONE for `tzid`: yearly RRULEs where they hold, else RDATEs over the window."""
    zone = ZoneInfo(tzid)
    tz = icalendar.Timezone()
    tz.add("tzid", tzid)
    changes = _offset_changes(zone, _FIRST_YEAR, _LAST_YEAR)
    if not changes:
        now = dt.datetime(_LAST_YEAR, 6, 1, tzinfo=zone)
        tz.add_component(
            _subcomponent(now.utcoffset(), now.utcoffset(), now.tzname() or tzid, dt.datetime(1970, 1, 1))
        )
        return tz
    rules = _yearly_rules(changes)
    if rules is not None:
        for change, rule in rules:
            # First onset on or after 1970 with the same rule, so the rule covers every appointment.
            start = change.onset.replace(year=1970, day=rule.day(1970))
            sub = _subcomponent(change.before, change.after, change.name, start)
            sub.add("rrule", rule.rrule())
            tz.add_component(sub)
        return tz
    # Irregular zone: the state at the window's start from 1970 on, then each change as an RDATE.
    first = changes[0]
    tz.add_component(
        _subcomponent(first.before, first.before, _name_at(zone, first), dt.datetime(1970, 1, 1))
    )
    groups: dict[tuple, list[dt.datetime]] = {}
    for change in changes:
        groups.setdefault((change.before, change.after, change.name), []).append(change.onset)
    for (before, after, name), onsets in groups.items():
        sub = _subcomponent(before, after, name, onsets[0])
        if onsets[1:]:
            sub.add("rdate", onsets[1:])
        tz.add_component(sub)
    return tz


def _name_at(zone: ZoneInfo, change: Transition) -> str:
    """The zone's abbreviation just before `change`."""
    instant = (change.onset - change.before).replace(tzinfo=dt.UTC) - dt.timedelta(seconds=1)
    return instant.astimezone(zone).tzname() or ""
