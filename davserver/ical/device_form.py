"""A device's own event comes back as the device sent it, while the row still says the same.

Re-rendering an upload from the row adds what the device never sent (STATUS, our CREATED,
our VTIMEZONE) and reorders the rest, so a sync client sees a server-side change right after
its own upload and a local edit made meanwhile becomes a conflict. When the device's last
upload maps onto exactly the row as it is now (no practice-side edit since, nothing
normalised away) the upload is that row's faithful iCalendar form, and it is served as sent:
PUT can then answer with the ETag (RFC 4791 §5.3.4) and the device's next sync finds nothing
new. Otherwise, and whenever the view could hide something (a patient linked, a pseudonymized
or delegated view, a phone-like number the view would mask), the one renderer renders the
row as always.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from davserver.ical import parse as ical_parse
from davserver.ical import render
from davserver.ical.device_extras import device_components
from providers.practice.api import AppointmentFields
from providers.practice.records import Appointment


def render_for_view(appointment: Appointment, policy: render.RenderPolicy) -> bytes:
    """The object a viewer with `policy` receives: the device's upload when it is the row's
    faithful form, else the renderer's output."""
    upload = as_uploaded(appointment, policy)
    return upload if upload is not None else render.render_appointment(appointment, policy)


def as_uploaded(appointment: Appointment, policy: render.RenderPolicy) -> bytes | None:
    """The device's last upload (CRLF line ends) if it says exactly what the row says, else None."""
    text = appointment.device_ical
    if not text or appointment.patient_id is not None or policy.opaque_names:
        return None  # the upload holds its name-bearing UID, which such a view must not see
    mapped = _mapped(text)
    if mapped is None or mapped != (appointment.uid, *_row_state(appointment)):
        return None
    if not policy.include_phone and _may_hold_phone(appointment, policy):
        return None  # the renderer masks phone-like numbers for this view
    return upload_bytes(text)


def _may_hold_phone(appointment: Appointment, policy: render.RenderPolicy) -> bool:
    texts = (appointment.subject, appointment.notes, appointment.location_text)
    if any(render.masked_text(appointment, t, policy) != (t or "") for t in texts):
        return True
    return device_components(appointment)[2]


def upload_bytes(text: str) -> bytes:
    """The stored upload as it is served: UTF-8 with CRLF line ends."""
    return _crlf(text).encode("utf-8")


# Upload text -> (UID, row state) it maps to as a new appointment, or None. Every viewer
# and every revision of an unchanged row share one parse; a PUT that creates a row puts
# its own mapping here, so rendering it on write parses nothing again.
_MAPPED: dict[str, tuple | None] = {}
_MAPPED_MAX = 1024


def _mapped(text: str) -> tuple | None:
    if text not in _MAPPED:
        try:
            obj = ical_parse.parse_object(text.encode("utf-8"))
            fields = ical_parse.to_fields(obj, None, render.RenderPolicy(), "UTC")
        except (ical_parse.InvalidObject, ValueError):
            _remember(text, None)
        else:
            remember(obj, fields)
    return _MAPPED.get(text)


def remember(obj: ical_parse.DeviceObject, fields: AppointmentFields) -> None:
    """Note what an upload maps to as a new appointment (`fields` from to_fields(obj, None, ...)).

    Only uploads whose every TZID is an IANA name can be served as sent, and for those the
    preferred zone of the mapping makes no difference.
    """
    _remember(
        obj.text,
        (obj.uid, *_state(fields, fields.overrides, None)) if _stored_as_written(obj, fields) else None,
    )


def _remember(text: str, value: tuple | None) -> None:
    if len(_MAPPED) >= _MAPPED_MAX:
        _MAPPED.clear()
    _MAPPED[text] = value


_TZID_PARAM = re.compile(r";TZID=(\"[^\"]*\"|[^;:]*)", re.IGNORECASE)


def _stored_as_written(obj: ical_parse.DeviceObject, fields: AppointmentFields) -> bool:
    """Whether mapping kept the upload's own spelling: its texts as written (not trimmed,
    cut or normalised) and only the IANA zone names we store (a Windows or custom TZID is
    served as the IANA zone it was mapped to). Not an upload whose opaque UID was mapped
    back to the stored one (put.py): served as sent, it would show the opaque UID."""
    if any(str(c.get("UID")) != obj.uid for c in (obj.master, *obj.overrides) if c is not None):
        return False
    texts = [
        (fields.subject, obj.master.get("SUMMARY")),
        (fields.notes, obj.master.get("DESCRIPTION")),
        (fields.location_text, obj.master.get("LOCATION")),
    ]
    for stored, sent in texts:
        if (stored or "") != (str(sent) if sent is not None and not isinstance(sent, list) else ""):
            return False
    zones = {fields.tzid, *(o.tzid for o in fields.overrides)}
    unfolded = obj.text.replace("\r\n ", "").replace("\n ", "")
    return all(name.strip('"') in zones for name in _TZID_PARAM.findall(unfolded))


def _state(row: Appointment | AppointmentFields, overrides: Iterable, location_id: int | None) -> tuple:
    """What rendering takes from a row (or from the fields it was written from)."""
    return (
        row.start_local,
        row.end_local,
        row.tzid,
        row.all_day,
        row.subject or "",
        row.notes or "",
        row.status,
        location_id,
        row.location_text or None,
        row.rrule or None,
        _iso_list(row.exdates),
        _iso_list(row.rdates),
        sorted(
            (
                o.recurrence_id,
                o.start_local,
                o.end_local,
                o.tzid,
                o.all_day,
                o.status,
                o.subject,
                o.location_text,
            )
            for o in overrides
        ),
    )


def _row_state(appointment: Appointment) -> tuple:
    return _state(appointment, appointment.override_rows or (), appointment.location_id)


def _iso_list(values: str | Iterable) -> str:
    """Dates as the row keeps them: a JSON list of sorted ISO strings (practice_api)."""
    if isinstance(values, str):
        values = json.loads(values or "[]")
    return json.dumps(sorted(v if isinstance(v, str) else v.isoformat() for v in values))


def _crlf(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\r\n".join(lines).rstrip("\r\n") + "\r\n"
