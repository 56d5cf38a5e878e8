"""Limits of an uploaded iCalendar object, before it is mapped onto an appointment.

The body is checked as text first (control characters, nesting depth), so nothing hostile
reaches the parser; then every VEVENT's times and rule with the value checks the data API
applies too (providers/practice/validation.py). A refusal is InvalidValue; PUT answers it with
403 CALDAV:valid-calendar-data and the one-line reason.
"""

from __future__ import annotations

import datetime as dt

import icalendar

from providers.practice.validation import (
    CONTROL,
    DEVICE_TZID_MAX,
    InvalidValue,
    check_duration,
    check_ical_structure,
    check_moment,
    check_rrule,
)

_TIME_PROPS = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")
# RFC 5545 §3.6.1: "MUST NOT occur more than once"; the ones our mapping reads as one value
# (texts and RRULE given twice keep their first, as clients have sent them).
_ONCE = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID")


def check_text(text: str) -> None:
    """No control characters (RFC 5545 §3.3.11, §3.1), then validation.check_ical_structure."""
    found = CONTROL.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        raise InvalidValue(f"control character U+{ord(found.group()):04X} in line {line}")
    check_ical_structure(text)


def check_events(events: list[icalendar.Component]) -> None:
    """Times within the supported years, durations within limits, TZIDs of sane length,
    a rule that can be expanded in bounded time, overrides we can store as sent."""
    for event in events:
        for name in _ONCE:
            if isinstance(event.get(name), list):
                raise InvalidValue(f"{name} may occur once in a VEVENT")
    check_override_notes(events)
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
        rid = event.get("RECURRENCE-ID")
        if rid is not None and "RANGE" in getattr(rid, "params", {}):
            raise InvalidValue("RECURRENCE-ID;RANGE=THISANDFUTURE is not supported: change the series itself")
        rules = _props(event, "RRULE")
        if rules and "DTSTART" in event:
            text = rules[0].to_ical().decode("ascii", "replace")
            check_rrule(text, _naive(event["DTSTART"].dt), "RRULE")


def check_override_notes(events: list[icalendar.Component]) -> None:
    """An occurrence cannot have notes of its own (the practice keeps one text per series):
    refused rather than dropped. Notes equal to the series' or none at all are fine."""
    masters = [e for e in events if "RECURRENCE-ID" not in e]
    series = _text(masters[0]) if masters else ""
    for event in events:
        if "RECURRENCE-ID" in event and _text(event) not in ("", series):
            raise InvalidValue("an occurrence cannot have its own DESCRIPTION: change the series' notes")


def _text(event: icalendar.Component) -> str:
    value = event.get("DESCRIPTION")
    if isinstance(value, list):
        value = value[0] if value else ""
    lines = str(value or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


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
