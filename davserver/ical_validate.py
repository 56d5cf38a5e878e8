"""Limits of an uploaded iCalendar object, before it is mapped onto an appointment.

The body is checked as text first (control characters, nesting depth), so nothing hostile
reaches the parser; then every VEVENT's times and rule with the value checks the data API
applies too (providers/validation.py). A refusal is InvalidValue; PUT answers it with
403 CALDAV:valid-calendar-data and the one-line reason.
"""

from __future__ import annotations

import datetime as dt
import re

import icalendar

from providers.validation import (
    CONTROL,
    DEVICE_TZID_MAX,
    InvalidValue,
    check_duration,
    check_moment,
    check_rrule,
)

MAX_DEPTH = 8  # VCALENDAR > VEVENT > VALARM is 3; VTIMEZONE > STANDARD is 3
_BEGIN_END = re.compile(r"^(BEGIN|END)[ \t]*:", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(r"\r?\n[ \t]")
# A TZID parameter value; the parser looks every one up as a file name (OSError when long).
_LONG_TZID = re.compile(
    rf';TZID=("[^"\r\n]{{{DEVICE_TZID_MAX + 1},}}"|[^;:"\r\n]{{{DEVICE_TZID_MAX + 1},}})', re.IGNORECASE
)
_TIME_PROPS = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")


def check_text(text: str) -> None:
    """No control characters (RFC 5545 §3.3.11, §3.1), components at most MAX_DEPTH deep,
    TZID parameters of at most DEVICE_TZID_MAX characters."""
    found = CONTROL.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        raise InvalidValue(f"control character U+{ord(found.group()):04X} in line {line}")
    depth = 0
    for match in _BEGIN_END.finditer(text):
        depth += 1 if match.group(1).upper() == "BEGIN" else -1
        if depth > MAX_DEPTH:
            raise InvalidValue(f"components are nested more than {MAX_DEPTH} deep")
    if _LONG_TZID.search(_FOLD.sub("", text)) is not None:
        raise InvalidValue(f"TZID is limited to {DEVICE_TZID_MAX} characters")


def check_events(events: list[icalendar.Component]) -> None:
    """Times within the supported years, durations within limits, TZIDs of sane length,
    a rule that can be expanded in bounded time."""
    for event in events:
        for name in _TIME_PROPS:
            for prop in _props(event, name):
                _check_tzid_param(prop, name)
                for value in _values(prop):
                    check_moment(value, name)
        if "DURATION" in event:
            duration = event["DURATION"].dt
            if not isinstance(duration, dt.timedelta):
                raise InvalidValue("DURATION: not a duration")
            check_duration(duration, "DURATION")
        if "DTSTART" in event and "DTEND" in event:
            try:
                check_duration(_naive(event["DTEND"].dt) - _naive(event["DTSTART"].dt), "DTEND")
            except TypeError:
                pass  # DATE against DATE-TIME: ical_parse decides
        rules = _props(event, "RRULE")
        if rules and "DTSTART" in event:
            text = rules[0].to_ical().decode("ascii", "replace")
            check_rrule(text, _naive(event["DTSTART"].dt), "RRULE")


def _props(event: icalendar.Component, name: str) -> list:
    value = event.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _values(prop: object) -> list:
    """The dates of a property (EXDATE/RDATE lists, PERIOD starts and ends)."""
    items = [d.dt for d in prop.dts] if hasattr(prop, "dts") else [getattr(prop, "dt", None)]
    out = []
    for item in items:
        if isinstance(item, tuple):  # PERIOD: (start, end or duration)
            out += [v for v in item if isinstance(v, dt.date)]
        elif isinstance(item, dt.date):
            out.append(item)
    return out


def _check_tzid_param(prop: object, name: str) -> None:
    tzid = getattr(prop, "params", {}).get("TZID")
    if tzid is not None and len(str(tzid)) > DEVICE_TZID_MAX:
        raise InvalidValue(f"{name}: TZID is limited to {DEVICE_TZID_MAX} characters")


def _naive(value: dt.date | dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value.replace(tzinfo=None)
