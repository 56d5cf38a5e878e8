"""What a device stored with an appointment, ready to render: its upload without the model's
properties, parsed once per distinct text, and its texts with phone-like numbers masked.

A device's alarms, categories, X- properties and unknown components are merged under the
practice's fields in clear views (render.py); pseudonymized views take only what
privacy_allowlist lets through.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

from providers.practice.masking import mask_phones, phone_spans
from providers.practice.records import Appointment

# Properties the practice database owns; on render they always come from the row.
MODEL_PROPERTIES = frozenset(
    {
        "UID",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "DURATION",
        "SUMMARY",
        "LOCATION",
        "DESCRIPTION",
        "STATUS",
        "RRULE",
        "RDATE",
        "EXDATE",
        "RECURRENCE-ID",
        "LAST-MODIFIED",
        "CREATED",
    }
)


def device_components(appointment: Appointment) -> tuple[dict, list, bool]:
    """Device components by RECURRENCE-ID key (None = master), other components to keep, and
    whether any of their text may hold a phone-like number."""
    if not appointment.device_ical:
        return {}, [], False
    extras = _device_extras(appointment.device_ical)
    return (*_parse_extras(extras, appointment.tzid), _may_hold_phone(extras))


_ICAL_DATE_TIME = re.compile(r"\d{8}T\d{6}Z?")


@lru_cache(maxsize=256)
def _may_hold_phone(extras: str) -> bool:
    """Whether device extras hold a phone-like number outside iCalendar date-times: most do
    not, and masking them property by property is a seventh of a render."""
    return bool(phone_spans(_ICAL_DATE_TIME.sub(" ", extras)))


def _device_extras(data: str) -> str:
    """The upload without what rendering never takes from it: model properties of VEVENTs
    and the properties of VCALENDAR itself.

    Parsing is most of a render; an upload is mostly model properties and time zones.
    VTIMEZONEs stay only when a kept line names a TZID (a custom zone may define it).
    """
    unfolded = data.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "")
    kept: list[str] = []
    zones: list[str] = []
    depth_names: list[str] = []
    needs_zones = False
    for line in unfolded.split("\n"):
        if not line:
            continue
        upper = line[:16].upper()
        if upper.startswith("BEGIN:"):
            depth_names.append(line[6:].strip().upper())
        in_zone = len(depth_names) > 1 and depth_names[1] == "VTIMEZONE"
        if len(depth_names) == 1 and not upper.startswith(("BEGIN:", "END:")):
            continue  # VCALENDAR's own properties: rendering takes none of them
        if in_zone:
            zones.append(line)
        elif (
            len(depth_names) == 2 and depth_names[1] == "VEVENT" and not upper.startswith(("BEGIN:", "END:"))
        ):
            name = line.split(":", 1)[0].split(";", 1)[0].strip().upper()
            if name in MODEL_PROPERTIES and name != "RECURRENCE-ID":
                continue
            kept.append(line)
        else:
            kept.append(line)
        if not in_zone and len(depth_names) > 1 and "TZID=" in line.upper():
            needs_zones = True
        if upper.startswith("END:") and depth_names:
            depth_names.pop()
    if needs_zones and zones:
        kept[1:1] = zones
    return "\r\n".join(kept) + "\r\n"


@lru_cache(maxsize=256)
def _parse_extras(extras: str, tzid: str | None) -> tuple[dict, list]:
    """Parsed once per distinct text (and zone, for RECURRENCE-ID keys): a device sends the
    same alarm, categories and X-properties with many events, and parsing was a third of
    rendering a stored object. Shared between appointments and policies: callers only read
    the components."""
    try:
        cal = icalendar.Calendar.from_ical(extras)
    except ValueError:
        return {}, []
    events: dict = {}
    others = []
    for comp in cal.subcomponents:
        if comp.name == "VEVENT":
            rid = comp.get("RECURRENCE-ID")
            events[rid_key(rid.dt, tzid) if rid is not None else None] = comp
        elif comp.name != "VTIMEZONE":
            others.append(comp)
    return events, others


def rid_key(value: dt.date | dt.datetime, tzid: str | None = None) -> str:
    """Compare recurrence ids by wall-clock value in the series' zone (devices may send UTC)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and tzid:
            value = value.astimezone(dt.UTC if tzid == "UTC" else ZoneInfo(tzid))
        return value.replace(tzinfo=None).isoformat()
    return dt.datetime(value.year, value.month, value.day).isoformat()


_TEXT_TYPES = (icalendar.prop.vText, icalendar.prop.vUnknown, icalendar.prop.vCalAddress, icalendar.prop.vUri)


def phone_free(value):
    """A device property with phone-like numbers in its text and parameters masked; None for
    a base64 value (an attachment) that holds one, since it cannot be masked in place."""
    params = getattr(value, "params", {})
    if str(params.get("ENCODING", "")).upper() == "BASE64":
        raw = value.to_ical()
        try:
            decoded = base64.b64decode(raw, validate=False).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
        return None if phone_spans(decoded) else value
    if not isinstance(value, _TEXT_TYPES):
        return value
    raw = value.to_ical()
    raw = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    masked_params = {k: mask_phones(v) if isinstance(v, str) else v for k, v in params.items()}
    masked = mask_phones(raw)
    if masked == raw and masked_params == dict(params):
        return value
    kept = icalendar.prop.vInline(masked)
    kept.params.update(masked_params)
    return kept


def phone_free_component(component):
    """A copy of a device component (an alarm) with phone-like numbers masked in its texts."""
    copy = type(component)()
    copy.name = component.name
    for name, value in component.property_items(recursive=False):
        kept = phone_free(value) if name not in ("BEGIN", "END") else None
        if kept is not None:
            copy.add(name, kept, encode=False)
    for sub in component.subcomponents:
        copy.add_component(phone_free_component(sub))
    return copy
