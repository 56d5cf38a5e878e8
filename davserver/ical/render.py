"""Render an appointment row as an iCalendar object: the one renderer and its one policy.

What reaches SUMMARY, LOCATION, DESCRIPTION and every other property is decided here and
nowhere else. Device-only data (alarms, categories, X- properties, unknown components)
comes from the device's last upload (device_extras.py) and is merged under the practice's
fields in clear views, so a practice-side edit never drops what a device added; a
pseudonymized view takes only what privacy_allowlist.py lets through.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

from davserver.ical import privacy_allowlist
from davserver.ical.device_extras import (
    MODEL_PROPERTIES,
    device_components,
    phone_free,
    phone_free_component,
    rid_key,
)
from davserver.ical.vtimezone import vtimezone
from providers.practice import opaque_names, patient_names
from providers.practice.masking import (
    Person,
    PracticeNames,
    contains_patient_name,
    mask_phones,
    mask_text,
    practice_names,
)
from providers.practice.pseudonym import pseudonym
from providers.practice.records import Appointment, AppointmentOverride

PRODID = "-//praxis-caldav//praxis-caldav 0.1//EN"

_STATUS = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}
SUMMARY_SEPARATOR = " – "
# What a pseudonymized view shows for a location that names or addresses a patient.
HOME_VISIT = "Hausbesuch"
# The renderer's generation, part of every ETag and sync token: a release that renders
# differently makes every device re-fetch (b: allowlist renderer, practice-wide masking;
# c: VTIMEZONEs exact for every IANA zone, docs/benchmarks/libraries.md).
RENDER_GENERATION = "c"


@dataclass(frozen=True)
class RenderPolicy:
    """What a viewer may see; part of the ETag and of the sync token, so switching it makes
    every device re-fetch."""

    pseudonymize: bool = False
    include_phone: bool = False
    # The version of the practice's patient names the matcher was built from: part of the
    # render cache key (a rebuilt matcher renders anew), not of the tag (the ETag stays the
    # row's revision; rows whose masking changes get a new revision when a name changes).
    names_version: int = 0
    names: PracticeNames | None = field(default=None, compare=False, hash=False, repr=False)
    # A delegate's view (not the owner's): object names and UIDs are opaque even in clear.
    delegated: bool = field(default=False, compare=False)
    # Whether names and UIDs are shown opaque (providers/practice/opaque_names.py): in every view but
    # the owner's clear one. What decides the rendering is this, not who views: a
    # pseudonymized delegate shares the owner's pseudonymized renderings.
    opaque_names: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "opaque_names", self.pseudonymize or self.delegated)

    @property
    def tag(self) -> str:
        mode = "p" if self.pseudonymize else "c"
        opaque = "o" if self.opaque_names else ""
        return f"{mode}{'t' if self.include_phone else 'n'}{opaque}{RENDER_GENERATION}"

    @property
    def etag_suffix(self) -> str:
        return f"-{self.tag}"

    @property
    def shows_phone(self) -> bool:
        return self.include_phone and not self.pseudonymize

    def stricter(self, other: RenderPolicy) -> RenderPolicy:
        return RenderPolicy(
            self.pseudonymize or other.pseudonymize,
            self.include_phone and other.include_phone,
            self.names_version,
            self.names,
            self.delegated or other.delegated,
        )


def etag_for(revision: int, policy: RenderPolicy) -> str:
    """Strong, quoted ETag: revision of the row plus the policy (no patient data)."""
    return f'"{revision}{policy.etag_suffix}"'


def patient_label(appointment: Appointment, policy: RenderPolicy) -> str:
    patient = appointment.patient
    if patient is None:
        return ""
    if policy.pseudonymize:
        return pseudonym(patient.first_name, patient.last_name, patient.patient_number)
    return " ".join(p for p in (patient.first_name, patient.last_name) if p).strip()


def _names(appointment: Appointment, policy: RenderPolicy) -> PracticeNames:
    """The practice's matcher. A policy made without one (not by the server's policy_for) gets
    it here, at the price of a query: a pseudonymized rendering never masks less."""
    if policy.names is not None:
        return policy.names
    return practice_matcher(appointment.practice_id, patient_names.version(appointment.practice_id))


def practice_matcher(practice_id: int, version: int) -> PracticeNames:
    """The practice's name matcher for this version of its names, built once per process."""
    return practice_names(
        practice_id, version, lambda: [Person(*row) for row in patient_names.people(practice_id)]
    )


def _masked(appointment: Appointment, text: str | None, policy: RenderPolicy) -> str:
    """Free text as the policy shows it: pseudonymized, every patient name of the practice and
    every phone-like number masked; in clear mode without phone, the phone-like numbers."""
    text = text or ""
    if not text:
        return text
    if policy.pseudonymize:
        return mask_text(text, _names(appointment, policy))
    if not policy.include_phone:
        return mask_phones(text)
    return text


def masked_text(appointment: Appointment, text: str | None, policy: RenderPolicy) -> str:
    """Free text as this policy shows it (PUT compares device text with it)."""
    return _masked(appointment, text, policy)


def replacements(text: str, masked: str) -> list[str]:
    """What masking put into ``text`` (pseudonyms, "…"): a device text holding one of them
    came from the masked view, not from a person who knows the real text."""
    matcher = difflib.SequenceMatcher(None, text, masked, autojunk=False)
    parts = [
        masked[j1:j2].strip() for op, _, _, j1, j2 in matcher.get_opcodes() if op in ("replace", "insert")
    ]
    return [p for p in parts if len(p) >= 2 or p == "…"]


def summary_text(appointment: Appointment, subject: str | None, policy: RenderPolicy) -> str:
    label = patient_label(appointment, policy)
    subject_text = _masked(appointment, subject, policy)
    if label and subject_text:
        return f"{label}{SUMMARY_SEPARATOR}{subject_text}"
    return label or subject_text


def location_text(appointment: Appointment, override_text: str | None, policy: RenderPolicy) -> str:
    """LOCATION as the policy shows it; pseudonymized: the practice location's name only
    (free text a device or the practice typed is left out), and for a location whose name
    mentions a patient or a phone number the fixed word for a home visit."""
    if policy.pseudonymize:
        loc = appointment.location
        if loc is None or not loc.name:
            return ""
        if mask_text(loc.name, _names(appointment, policy)) != loc.name:
            return HOME_VISIT
        return loc.name
    if override_text:
        return _masked(appointment, override_text, policy)
    if appointment.location is not None:
        loc = appointment.location
        return _masked(appointment, ", ".join(p for p in (loc.name, loc.address) if p), policy)
    return _masked(appointment, appointment.location_text, policy)


def description_text(appointment: Appointment, policy: RenderPolicy) -> str:
    """DESCRIPTION: the notes and, if shown, the phone; none at all in a pseudonymized view."""
    if policy.pseudonymize:
        return ""
    parts = [_masked(appointment, appointment.notes, policy)]
    patient = appointment.patient
    if patient is not None and patient.phone and policy.shows_phone:
        parts.append(f"Tel.: {patient.phone}")
    return "\n".join(p for p in parts if p)


def _time_value(local: dt.datetime, tzid: str | None, all_day: bool) -> dt.date | dt.datetime:
    if all_day:
        return local.date()
    if tzid is None:
        return local  # floating
    if tzid == "UTC":
        return local.replace(tzinfo=dt.UTC)
    return local.replace(tzinfo=ZoneInfo(tzid))


def _base_event(
    device: icalendar.Event | None, appointment: Appointment, policy: RenderPolicy, mask_phones: bool
) -> icalendar.Event:
    """The event the practice's properties are written into, with what the device added.

    Pseudonymized: only the allowlisted extras (privacy_allowlist); alarms follow once the
    summary is known (``_add_alarms``). Clear: everything the device added, with
    ``mask_phones`` (the policy hides the phone, the extras hold a number) its phone-like
    numbers masked.
    """
    event = icalendar.Event()
    if device is None:
        return event
    if policy.pseudonymize:
        names = _names(appointment, policy)
        for name, value in privacy_allowlist.safe_event_extras(
            device, lambda t: contains_patient_name(t, names)
        ):
            event.add(name, value, encode=False)
        return event
    for name, value in device.property_items(recursive=False):
        if name in ("BEGIN", "END") or name in MODEL_PROPERTIES:
            continue
        if name == "RELATED-TO" and policy.opaque_names:
            value = icalendar.vText(shown_uid(appointment, str(value), policy))
        kept = phone_free(value) if mask_phones else value
        if kept is not None:
            event.add(name, kept, encode=False)
    for sub in device.subcomponents:
        event.add_component(phone_free_component(sub) if mask_phones else sub)
    return event


def _add_alarms(event: icalendar.Event, device: icalendar.Event | None, appointment, policy) -> None:
    """Pseudonymized: the device's alarms rebuilt from the allowlist, showing the event's summary."""
    if device is None or not policy.pseudonymize:
        return
    names = _names(appointment, policy)
    summary = str(event.get("SUMMARY", ""))
    for alarm in privacy_allowlist.safe_alarms(device, summary, lambda t: contains_patient_name(t, names)):
        event.add_component(alarm)


def shown_uid(appointment: Appointment, uid: str, policy: RenderPolicy) -> str:
    """A UID of the owner's calendar as this view shows it (opaque but in the owner's clear view)."""
    return opaque_names.shown_uid(appointment.practitioner_id, uid) if policy.opaque_names else uid


def _stamp(event: icalendar.Event, appointment: Appointment, policy: RenderPolicy) -> None:
    event.add("uid", shown_uid(appointment, appointment.uid, policy))
    modified = appointment.modified_at.replace(tzinfo=dt.UTC)
    event.add("dtstamp", modified)
    event.add("last-modified", modified)
    event.add("created", appointment.created_at.replace(tzinfo=dt.UTC))


def render_appointment(appointment: Appointment, policy: RenderPolicy) -> bytes:
    """The iCalendar text a device receives for this appointment (master plus overrides)."""
    device_events, device_others, phones = device_components(appointment)
    mask_phones_in_extras = phones and not policy.include_phone

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    tzids = set()

    master_device = device_events.get(None)
    master = _base_event(master_device, appointment, policy, mask_phones_in_extras)
    _stamp(master, appointment, policy)
    all_day = appointment.all_day
    _add_instance_properties(
        master,
        appointment,
        policy,
        appointment.start_local,
        appointment.end_local,
        appointment.tzid,
        all_day,
        appointment.subject,
        None,
        appointment.status,
    )
    if appointment.tzid and not all_day:
        tzids.add(appointment.tzid)
    if appointment.rrule:
        master.add("rrule", icalendar.vRecur.from_ical(appointment.rrule))
    for key, prop in (("exdates", "exdate"), ("rdates", "rdate")):
        values = [dt.datetime.fromisoformat(v) for v in json.loads(getattr(appointment, key))]
        if values:
            master.add(prop, [_time_value(v, appointment.tzid, all_day) for v in values])
    _add_alarms(master, master_device, appointment, policy)
    cal.add_component(master)

    for override in appointment.override_rows or ():
        cal.add_component(
            _render_override(
                appointment,
                override,
                policy,
                device_events.get(rid_key(override.recurrence_id)),
                mask_phones_in_extras,
            )
        )
        if override.tzid and not override.all_day:
            tzids.add(override.tzid)

    if not policy.pseudonymize:  # other components a device stored: never in a pseudonymized view
        for comp in device_others:
            cal.add_component(phone_free_component(comp) if mask_phones_in_extras else comp)
    data = _to_ical(cal)
    zones = sorted(tzids - {"UTC"}, reverse=True)
    if not zones:
        return data
    # The VTIMEZONEs open the object, serialized once per zone: a third of every render.
    first_component = data.index(b"\r\nBEGIN:") + 2
    return data[:first_component] + b"".join(map(_vtimezone_ical, zones)) + data[first_component:]


def _to_ical(cal: icalendar.Calendar) -> bytes:
    """cal.to_ical(), without folding lines that need none.

    icalendar folds every line character by character (half of a render's time); a line
    of fewer than 75 octets comes out unchanged, so only longer ones go through it.
    """
    out = []
    for line in cal.content_lines():
        if line:
            raw = line.encode("utf-8")
            out.append(raw if len(raw) < 75 else line.to_ical())
    return b"\r\n".join(out) + b"\r\n"


@lru_cache(maxsize=64)
def _vtimezone_ical(tzid: str) -> bytes:
    return vtimezone(tzid).to_ical()


def _render_override(
    appointment: Appointment,
    override: AppointmentOverride,
    policy: RenderPolicy,
    device: icalendar.Event | None,
    mask_phones: bool,
) -> icalendar.Event:
    event = _base_event(device, appointment, policy, mask_phones)
    _stamp(event, appointment, policy)
    event.add("recurrence-id", _time_value(override.recurrence_id, appointment.tzid, appointment.all_day))
    subject = override.subject if override.subject is not None else appointment.subject
    _add_instance_properties(
        event,
        appointment,
        policy,
        override.start_local,
        override.end_local,
        override.tzid,
        override.all_day,
        subject,
        override.location_text,
        override.status,
    )
    _add_alarms(event, device, appointment, policy)
    return event


def _add_instance_properties(
    event: icalendar.Event,
    appointment: Appointment,
    policy: RenderPolicy,
    start: dt.datetime,
    end: dt.datetime,
    tzid: str | None,
    all_day: bool,
    subject: str | None,
    location_override: str | None,
    status: str,
) -> None:
    """Times and texts of the master or of one override, through the one policy."""
    event.add("dtstart", _time_value(start, tzid, all_day))
    event.add("dtend", _time_value(end, tzid, all_day))
    event.add("summary", summary_text(appointment, subject, policy))
    location = location_text(appointment, location_override, policy)
    if location:
        event.add("location", location)
    description = description_text(appointment, policy)
    if description:
        event.add("description", description)
    event.add("status", _STATUS.get(status, "CONFIRMED"))
