"""The allowlist of pseudonymized views: values must match their grammar, parameters their
list, and alarms are rebuilt with the event's own summary."""

from __future__ import annotations

import icalendar

from davserver.ical.privacy_allowlist import safe_alarms, safe_event_extras


def _event(*lines: str) -> icalendar.Event:
    text = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        + "\r\n".join(lines)
        + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return icalendar.Calendar.from_ical(text).walk("VEVENT")[0]


def _no_names(text: str) -> bool:
    return "maria" in text.lower()


def test_event_extras_pass_only_with_a_value_of_their_grammar() -> None:
    event = _event(
        "TRANSP:TRANSPARENT",
        "TRANSP:Maria Muster",
        "SEQUENCE:2",
        "SEQUENCE:2 Maria",
        "COLOR:turquoise",
        "COLOR:Maria",
        "X-MICROSOFT-CDO-BUSYSTATUS;X-NOTE=Maria:OOF",
        "X-APPLE-TRAVEL-DURATION;VALUE=DURATION:PT30M",
        "CATEGORIES:Kontrolle",
        "X-UNKNOWN:1",
    )
    kept = [
        (name, value.to_ical().decode(), dict(value.params))
        for name, value in safe_event_extras(event, _no_names)
    ]
    assert kept == [
        ("TRANSP", "TRANSPARENT", {}),
        ("SEQUENCE", "2", {}),
        ("COLOR", "turquoise", {}),
        ("X-MICROSOFT-CDO-BUSYSTATUS", "OOF", {}),  # the free-text parameter is dropped
        ("X-APPLE-TRAVEL-DURATION", "PT30M", {"VALUE": "DURATION"}),
    ]


def test_alarms_are_rebuilt_with_the_event_summary() -> None:
    event = _event(
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER;RELATED=END;X-WHO=Maria:-PT5M",
        "DESCRIPTION:Maria anrufen",
        "X-WR-ALARMUID:A1B2-C3",
        "X-WR-ALARMUID:has spaces",
        "ATTACH:https://example.org/Maria.mp3",
        "END:VALARM",
        "BEGIN:VALARM",
        "ACTION:EMAIL",
        "TRIGGER:-PT1H",
        "END:VALARM",
        "BEGIN:VALARM",
        "ACTION:AUDIO",
        "END:VALARM",
    )
    (alarm,) = safe_alarms(event, "MaMu 1042 – Kontrolle", _no_names)
    lines = alarm.to_ical().decode().split("\r\n")
    assert sorted(lines) == sorted(
        [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            "TRIGGER;RELATED=END:-PT5M",
            "X-WR-ALARMUID:A1B2-C3",
            "DESCRIPTION:MaMu 1042 – Kontrolle",
            "END:VALARM",
            "",
        ]
    )
