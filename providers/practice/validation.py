"""What a stored appointment may hold: the one check behind every entrance.

PUT (through davserver/ical/limits.py), PROPPATCH, the JSON import and the data API all
end here, so a value that would later hang a query, overflow date arithmetic or break XML
never reaches the database. Every refusal is an InvalidValue with a one-line reason that
names the field, never the value (it may be patient data).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import islice
from typing import TYPE_CHECKING

import icalendar
from dateutil import rrule as du_rrule

if TYPE_CHECKING:
    from providers.practice.api import AppointmentFields

# Dates outside these years are refused: every later +/- margin stays far from year 9999.
EARLIEST = dt.datetime(1800, 1, 1)
LATEST = dt.datetime(2999, 12, 31, 23, 59, 59)
MAX_DURATION = dt.timedelta(days=3660)  # ten years: longer than any appointment
MAX_SERIES_INSTANCES = 10_000  # a daily series for 27 years
TZID_MAX = 64  # Appointment.tzid
DEVICE_TZID_MAX = 255  # a device's own TZID (Outlook's are long but not longer)
# The Gregorian calendar repeats every 400 years: a rule with no instance in one full cycle
# (after its start) has none ever, and the search for one is bounded by the cycle.
_CYCLE_YEARS = 400
_SEARCH_BASE_YEAR = 9200  # divisible by 400; the search runs to dateutil's end (9999)

# RFC 5545 §3.3.11: TEXT has no control characters but HTAB (line breaks are escaped);
# XML 1.0 has no U+FFFE/U+FFFF and no surrogates. CR and LF are line breaks in our texts.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

_FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
# RFC 5545 §3.3.10 ranges of the numeric BY* parts: (low, high, may be negative).
_BY_RANGES = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
_RULE_PARTS = {"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYDAY", "WKST", *_BY_RANGES}


MAX_DEPTH = 8  # VCALENDAR > VEVENT > VALARM is 3; VTIMEZONE > STANDARD is 3
_BEGIN_END = re.compile(r"^(BEGIN|END)[ \t]*:", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(r"\r?\n[ \t]")
# A TZID parameter value; icalendar looks every one up as a file name (OSError when long).
_LONG_TZID = re.compile(
    rf';TZID=("[^"\r\n]{{{DEVICE_TZID_MAX + 1},}}"|[^;:"\r\n]{{{DEVICE_TZID_MAX + 1},}})', re.IGNORECASE
)


class InvalidValue(ValueError):
    """A value no appointment may hold; str() is a one-line reason naming the field."""


def check_ical_structure(text: str) -> None:
    """iCalendar text whose parse and expansion stay bounded: components at most MAX_DEPTH
    deep (expansion copies them recursively), TZID parameters of sane length."""
    depth = 0
    for match in _BEGIN_END.finditer(text):
        depth += 1 if match.group(1).upper() == "BEGIN" else -1
        if depth > MAX_DEPTH:
            raise InvalidValue(f"components are nested more than {MAX_DEPTH} deep")
    if _LONG_TZID.search(_FOLD.sub("", text)) is not None:
        raise InvalidValue(f"TZID is limited to {DEVICE_TZID_MAX} characters")


def check_text(value: str | None, field: str) -> None:
    """No control characters (RFC 5545 §3.3.11; XML cannot carry most of them either)."""
    if value and (found := CONTROL.search(value)) is not None:
        raise InvalidValue(f"{field}: control character U+{ord(found.group()):04X} is not allowed")


def within_limits(value: dt.date | dt.datetime) -> bool:
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return EARLIEST <= value.replace(tzinfo=None) <= LATEST


def parse_local(text: str) -> dt.datetime:
    """A stored ISO wall-clock time or date (ValueError if it is none)."""
    return dt.datetime.fromisoformat(text)


def check_moment(value: dt.date | dt.datetime, field: str) -> None:
    """A date or wall-clock time within EARLIEST..LATEST."""
    if not within_limits(value):
        raise InvalidValue(f"{field}: dates are limited to the years {EARLIEST.year} to {LATEST.year}")


def check_duration(duration: dt.timedelta, field: str) -> None:
    if not dt.timedelta(0) <= duration <= MAX_DURATION:
        raise InvalidValue(f"{field}: a duration lies between 0 and {MAX_DURATION.days} days")


def check_tzid(tzid: str | None, field: str) -> None:
    """A stored TZID: an IANA zone name this server knows."""
    if tzid is None:
        return
    if len(tzid) > TZID_MAX:
        raise InvalidValue(f"{field}: time zone names are limited to {TZID_MAX} characters")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidValue(f"{field}: not an IANA time zone name: {tzid!r}") from None


def check_rrule(text: str, dtstart: dt.datetime, field: str = "rrule") -> None:
    """RFC 5545 §3.3.10 parts in range, INTERVAL/COUNT >= 1, and at least one instance
    after DTSTART within one 400-year cycle (else every expansion scans to year 9999)."""
    problem = rrule_problem(text, dtstart)
    if problem is not None:
        raise InvalidValue(f"{field}: {problem}")
    upper = text.upper()
    if "COUNT=" in upper or "UNTIL=" in upper:  # every write computes the last instance
        naive = dtstart.replace(tzinfo=None)
        rule = du_rrule.rrulestr(text, dtstart=naive, ignoretz=True)
        if next(islice(rule, MAX_SERIES_INSTANCES, None), None) is not None:
            raise InvalidValue(f"{field}: a series is limited to {MAX_SERIES_INSTANCES} instances")


def rrule_problem(text: str, dtstart: dt.datetime) -> str | None:
    """Why `text` is not a rule we can expand in bounded time, or None (cached)."""
    naive = dtstart.replace(tzinfo=None) if isinstance(dtstart, dt.datetime) else dtstart
    if not isinstance(naive, dt.datetime):
        naive = dt.datetime.combine(naive, dt.time())
    # The instance pattern depends on the start's place in the 400-year cycle, not its year.
    return _rule_problem(text, naive.replace(year=2000 + naive.year % _CYCLE_YEARS))


@lru_cache(maxsize=1024)
def _rule_problem(text: str, dtstart: dt.datetime) -> str | None:
    try:
        parts = icalendar.vRecur.from_ical(text)
    except (ValueError, TypeError, IndexError):
        return "not a valid recurrence rule"
    problem = _parts_problem({str(k).upper(): v for k, v in parts.items()})
    if problem is not None:
        return problem
    try:
        rule = du_rrule.rrulestr(text, dtstart=dtstart, ignoretz=True)
    except (ValueError, TypeError, OverflowError):
        return "not a valid recurrence rule"
    # The same pattern shifted by whole cycles to the end of dateutil's range: the search
    # for a first instance stops at year 9999, i.e. after one to two cycles.
    shifted = dtstart.replace(year=_SEARCH_BASE_YEAR + dtstart.year % _CYCLE_YEARS)
    probe = rule.replace(dtstart=shifted, count=None, until=None)
    try:
        found = probe.after(shifted, inc=False)
    except (ValueError, OverflowError):
        found = None
    if found is None:
        return "the rule has no instance after its start"
    return None


def _parts_problem(parts: dict) -> str | None:
    unknown = set(parts) - _RULE_PARTS
    if unknown:
        return f"unknown rule part {sorted(unknown)[0]}"
    freq = [str(f).upper() for f in parts.get("FREQ", [])]
    if len(freq) != 1 or freq[0] not in _FREQS:
        return "FREQ must be one of " + ", ".join(_FREQS)
    if "COUNT" in parts and "UNTIL" in parts:
        return "COUNT and UNTIL exclude each other"
    for name in ("INTERVAL", "COUNT"):
        values = parts.get(name, [1])
        if len(values) != 1 or not isinstance(values[0], int) or values[0] < 1:
            return f"{name} must be a whole number of at least 1"
    for name, (low, high, signed) in _BY_RANGES.items():
        for value in parts.get(name, []):
            if not isinstance(value, int) or not low <= (abs(value) if signed else value) <= high:
                return (
                    f"{name} values lie between {'-' if signed else ''}{high if signed else low} and {high}"
                )
    for value in parts.get("BYDAY", []):
        match = _BYDAY.fullmatch(str(value).upper())
        if match is None or (match[2] is not None and not 1 <= int(match[2]) <= 53):
            return "BYDAY holds weekdays (MO..SU), optionally with a position 1..53"
    for value in parts.get("WKST", []):
        if str(value).upper() not in _DAYS:
            return "WKST must be a weekday (MO..SU)"
    return None


def check_appointment(f: AppointmentFields) -> None:
    """Everything of an appointment a writer sets (texts, times, zones, rule, overrides)."""
    check_text(f.subject, "subject")
    check_text(f.notes, "notes")
    check_text(f.location_text, "location")
    _check_times(f.start_local, f.end_local, f.tzid, "")
    if f.rrule:
        check_rrule(f.rrule, f.start_local)
    _check_moments(f.exdates, "exdates")
    _check_moments(f.rdates, "rdates")
    for i, o in enumerate(f.overrides):
        where = f"overrides[{i}]."
        check_moment(o.recurrence_id, where + "recurrence_id")
        _check_times(o.start_local, o.end_local, o.tzid, where)
        check_text(o.subject, where + "subject")
        check_text(o.location_text, where + "location")


def _check_times(start: dt.datetime, end: dt.datetime, tzid: str | None, where: str) -> None:
    check_moment(start, where + "start")
    check_moment(end, where + "end")
    check_duration(end - start, where + "end")
    check_tzid(tzid, where + "tzid")


def _check_moments(values: Iterable[dt.datetime], field: str) -> None:
    for value in values:
        check_moment(value, field)
