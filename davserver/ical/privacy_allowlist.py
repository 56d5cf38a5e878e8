"""What a pseudonymized view may carry: the one reviewed allowlist.

A pseudonymized rendering is *built* from these parts, never masked from a denylist:

* ``SERVER_PROPERTIES``: what the renderer writes from the practice's row (structure only;
  SUMMARY is the pseudonym plus the masked subject, LOCATION the practice location's name).
* ``EVENT_EXTRAS``: device properties of an event that carry no free text, each with the
  grammar its value must match and the parameters (with their grammars) it may keep.
* ``ALARM_PROPERTIES``: the same for a VALARM; its DESCRIPTION is always replaced by the
  event's own pseudonymized summary.

Everything else a device stored (ATTENDEE, ORGANIZER, CONTACT, ATTACH, COMMENT,
DESCRIPTION, X-ALT-DESC, structured locations, CATEGORIES, unknown properties and
components) is left out. A value that matches its grammar but still spells a patient's name
(a device-chosen alarm UID such as "maria-muster-1") is left out too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import icalendar
import regex
from icalendar.prop import vInline

__all__ = [
    "ALARM_PROPERTIES",
    "EVENT_EXTRAS",
    "SERVER_PROPERTIES",
    "Allowed",
    "safe_alarms",
    "safe_event_extras",
]

# Written by the renderer from the practice row; the README's privacy section lists them.
SERVER_PROPERTIES = (
    "UID",
    "DTSTAMP",
    "DTSTART",
    "DTEND",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
    "STATUS",
    "CREATED",
    "LAST-MODIFIED",
    "SUMMARY",
    "LOCATION",
)

_TIME = r"T(?:\d{1,6}H)?(?:\d{1,6}M)?(?:\d{1,6}S)?"
_DURATION = rf"[+-]?P(?:\d{{1,6}}W|\d{{1,6}}D(?:{_TIME})?|{_TIME})"
_DATE_TIME = r"\d{8}T\d{6}Z?"
# Device-made identifiers (alarm UIDs): letters, digits and a few separators, no spaces.
_IDENTIFIER = r"[A-Za-z0-9][A-Za-z0-9._@:+\-]{0,127}"
_BUSY = r"FREE|TENTATIVE|BUSY|OOF|WORKINGELSEWHERE"


@dataclass(frozen=True)
class Allowed:
    """A property that may pass: the grammar of its value and its allowed parameters."""

    value: str
    params: dict[str, str] = field(default_factory=dict)

    def value_ok(self, text: str) -> bool:
        return regex.fullmatch(self.value, text) is not None

    def param_ok(self, name: str, text: str) -> bool:
        grammar = self.params.get(name.upper())
        return grammar is not None and regex.fullmatch(grammar, text) is not None


EVENT_EXTRAS: dict[str, Allowed] = {
    "TRANSP": Allowed("OPAQUE|TRANSPARENT"),
    "CLASS": Allowed("PUBLIC|PRIVATE|CONFIDENTIAL"),
    "SEQUENCE": Allowed(r"\d{1,9}"),
    "COLOR": Allowed(r"[A-Za-z]{1,20}"),  # RFC 7986: a CSS3 colour name
    "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR": Allowed("AUTOMATIC|DISABLED|ENABLED"),
    "X-APPLE-TRAVEL-DURATION": Allowed(_DURATION, {"VALUE": "DURATION"}),
    "X-MICROSOFT-CDO-BUSYSTATUS": Allowed(_BUSY),
    "X-MICROSOFT-CDO-INTENDEDSTATUS": Allowed(_BUSY),
    # Thunderbird: when its alarms were last acknowledged, and its edit counter.
    "X-MOZ-LASTACK": Allowed(_DATE_TIME),
    "X-MOZ-GENERATION": Allowed(r"\d{1,9}"),
}

ALARM_PROPERTIES: dict[str, Allowed] = {
    "ACTION": Allowed("AUDIO|DISPLAY"),
    "TRIGGER": Allowed(f"{_DURATION}|{_DATE_TIME}", {"RELATED": "START|END", "VALUE": "DURATION|DATE-TIME"}),
    "REPEAT": Allowed(r"\d{1,3}"),
    "DURATION": Allowed(_DURATION),
    "UID": Allowed(_IDENTIFIER),
    "ACKNOWLEDGED": Allowed(_DATE_TIME),
    "X-WR-ALARMUID": Allowed(_IDENTIFIER),
    "X-EVOLUTION-ALARM-UID": Allowed(_IDENTIFIER),
    "X-APPLE-DEFAULT-ALARM": Allowed("TRUE|FALSE"),
    "X-APPLE-LOCAL-DEFAULT-ALARM": Allowed("TRUE|FALSE"),
}


def _allowed_items(
    component: icalendar.cal.Component, allowlist: dict[str, Allowed], names_in: Callable[[str], bool]
) -> Iterator[tuple[str, vInline]]:
    """(name, value) of the component's own properties that pass the allowlist."""
    for name, value in component.property_items(recursive=False, sorted=False):
        rule = allowlist.get(name.upper())
        if rule is None or not hasattr(value, "to_ical"):
            continue
        text = value.to_ical()
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        if not rule.value_ok(text) or names_in(text):
            continue
        kept = vInline(text)
        for param, param_value in getattr(value, "params", {}).items():
            if isinstance(param_value, str) and rule.param_ok(param, param_value):
                kept.params[param.upper()] = param_value
        yield name.upper(), kept


def safe_event_extras(
    device: icalendar.Event | None, names_in: Callable[[str], bool]
) -> list[tuple[str, vInline]]:
    """The device's event properties a pseudonymized view may carry (``names_in``: does a
    value spell a patient's name)."""
    if device is None:
        return []
    return list(_allowed_items(device, EVENT_EXTRAS, names_in))


def safe_alarms(
    device: icalendar.Event | None, summary: str, names_in: Callable[[str], bool]
) -> list[icalendar.Alarm]:
    """The device's alarms rebuilt from allowed properties, each showing ``summary``.

    An alarm without a valid ACTION and TRIGGER would be invalid and is left out.
    """
    if device is None:
        return []
    alarms = []
    for sub in device.subcomponents:
        if sub.name != "VALARM":
            continue
        alarm = icalendar.Alarm()
        for name, value in _allowed_items(sub, ALARM_PROPERTIES, names_in):
            alarm.add(name, value, encode=False)
        if "ACTION" not in alarm or "TRIGGER" not in alarm:
            continue
        if str(alarm["ACTION"]) == "DISPLAY":
            alarm.add("description", summary)
        alarms.append(alarm)
    return alarms
