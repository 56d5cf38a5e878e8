"""Device iCalendar -> practice appointment fields: the inverse of render.py.

Strict about what breaks an object (RFC 4791 §5.3.2.1 preconditions), lenient about what
real clients omit or bend: no DTSTAMP, DURATION instead of DTEND, floating times, Windows or
made-up TZIDs. A device never changes the patient link or the patient's data: texts that
come back as we rendered them (after NFC, any whitespace) leave the practice's fields
untouched, and what a changed text may replace follows the view's field ownership
(field_ownership.py): never with a pseudonym, from a pseudonymized view never with any
patient's name, and never by leaving out a property the view did not show.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import islice

import icalendar
import regex
from dateutil import rrule as du_rrule
from icalendar.parser.content_line import Contentlines
from icalendar.timezone import tzp

from davserver.ical import field_ownership, render
from davserver.ical import limits as ical_validate
from davserver.ical.zones import ZoneResolver, convert
from providers.practice import masking, patient_mentions, patient_names
from providers.practice.api import AppointmentFields, OverrideFields
from providers.practice.records import Appointment, AppointmentOverride

C = "{urn:ietf:params:xml:ns:caldav}"
VALID_DATA = C + "valid-calendar-data"
VALID_OBJECT = C + "valid-calendar-object-resource"
SUPPORTED_COMPONENT = C + "supported-calendar-component"

CALENDAR_COMPONENTS = frozenset({"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VAVAILABILITY"})
# A broken value in one of these breaks the object; elsewhere it is kept as the device sent it.
STRICT_PROPERTIES = frozenset(
    {"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "STATUS"}
)
_STATUS = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
LOCATION_MAX = 300  # Appointment.location_text / AppointmentOverride.location_text
MAX_INSTANCES = 10_000  # a daily series for 27 years


class InvalidObject(ValueError):
    """The upload breaks a CalDAV precondition; `condition` is its Clark name."""

    def __init__(self, condition: str, message: str):
        super().__init__(message)
        self.condition, self.message = condition, message


@dataclass
class DeviceObject:
    """A validated upload: one UID, VEVENTs only, master (if any) and overrides."""

    uid: str
    master: icalendar.Event | None
    overrides: list[icalendar.Event]
    timezones: dict[str, icalendar.Timezone] = field(default_factory=dict)
    text: str = ""


def decode(body: bytes, charset: str | None) -> str:
    try:
        text = body.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise InvalidObject(VALID_DATA, f"body is not valid {charset or 'UTF-8'} text") from None
    return text.lstrip("\ufeff")


def parse_object(body: bytes, charset: str | None = None) -> DeviceObject:
    """Validate an uploaded calendar object resource; raise InvalidObject on a broken one."""
    text = decode(body, charset)
    try:
        ical_validate.check_text(text)
        calendars, zones = _parse_calendars(text)
    except ical_validate.InvalidValue as exc:
        raise InvalidObject(VALID_DATA, str(exc)) from None
    except (ValueError, IndexError, KeyError, TypeError):
        raise InvalidObject(VALID_DATA, "body is not iCalendar data") from None
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise InvalidObject(VALID_DATA, "body must hold exactly one VCALENDAR")
    cal = calendars[0]
    if "METHOD" in cal:
        raise InvalidObject(VALID_OBJECT, "METHOD is not allowed in a stored calendar object")
    kinds = {c.name for c in cal.subcomponents if c.name in CALENDAR_COMPONENTS}
    if len(kinds) > 1:
        raise InvalidObject(VALID_OBJECT, "one calendar object holds one component type")
    if not kinds:
        raise InvalidObject(VALID_OBJECT, "no calendar component in the object")
    if kinds != {"VEVENT"}:
        raise InvalidObject(SUPPORTED_COMPONENT, "this calendar stores VEVENT components only")
    events = [c for c in cal.subcomponents if c.name == "VEVENT"]
    _check_errors(events)
    try:
        ical_validate.check_events(events)
    except ical_validate.InvalidValue as exc:
        raise InvalidObject(VALID_DATA, str(exc)) from None
    uids = {str(e.get("UID", "")).strip() for e in events}
    if "" in uids:
        raise InvalidObject(VALID_OBJECT, "every VEVENT needs a UID")
    if len(uids) > 1:
        raise InvalidObject(VALID_OBJECT, "all components of one object share one UID")
    masters = [e for e in events if "RECURRENCE-ID" not in e]
    overrides = [e for e in events if "RECURRENCE-ID" in e]
    if len(masters) > 1:
        raise InvalidObject(VALID_OBJECT, "more than one VEVENT without RECURRENCE-ID")
    if not masters:
        raise InvalidObject(VALID_OBJECT, "recurrence instances without their series are not supported")
    rids = [_rid_text(e) for e in overrides]
    if len(set(rids)) != len(rids):
        raise InvalidObject(VALID_OBJECT, "two components for the same RECURRENCE-ID")
    for event in events:
        if "DTSTART" not in event:
            raise InvalidObject(VALID_DATA, "VEVENT without DTSTART")
    if zones is None:
        zones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    timezones = {str(tz["TZID"]): tz for tz in zones if "TZID" in tz}
    return DeviceObject(uids.pop(), masters[0], overrides, timezones, text)


# ---------------------------------------------------------------- VTIMEZONEs seen before

# A device sends the same VTIMEZONE with every object, and parsing it was half of parsing an
# upload. Each top-level VTIMEZONE parsed once is kept by its (unfolded) text; an upload
# whose VTIMEZONEs are all known is parsed without them. That gives the same result: a
# component's parse depends only on its own lines and on icalendar's time zone cache, which
# is filled in as the parser would have (first definition of a name wins there anyway), and
# a block whose lines carry a TZID parameter is never cached.
_ZONES: dict[str, icalendar.Timezone] = {}
_ZONES_MAX = 64


def _parse_calendars(text: str) -> tuple[list[icalendar.Component], list | None]:
    """`Calendar.from_ical(text, multiple=True)`, plus the top-level VTIMEZONEs when they
    came from the cache (None: they are in the calendar's subcomponents)."""
    lines = Contentlines.from_ical(text)
    split = _split_zones(lines)
    if split is None:
        return icalendar.Calendar.from_ical(lines, multiple=True), None
    rest, blocks = split
    cached = [_ZONES.get(key) for key in blocks]
    if None in cached:
        calendars = icalendar.Calendar.from_ical(lines, multiple=True)
        found = [c for c in calendars[0].subcomponents if c.name == "VTIMEZONE"]
        if len(calendars) == 1 and len(found) == len(blocks):
            if len(_ZONES) >= _ZONES_MAX:
                _ZONES.clear()
            _ZONES.update(zip(blocks, found, strict=True))
        return calendars, None
    for zone in cached:
        if "TZID" in zone:
            tzp.cache_timezone_component(zone)
    return icalendar.Calendar.from_ical(rest, multiple=True), cached


_PLAIN_STRUCTURE = re.compile(r"(BEGIN|END):([A-Za-z0-9-]+)", re.IGNORECASE)


def _structure(line) -> tuple[str, str] | None:
    """("BEGIN"|"END", component name) as icalendar reads the line, None for a property."""
    head = line[:5].upper()
    if not head.startswith(("BEGIN", "END")):
        return None
    plain = _PLAIN_STRUCTURE.fullmatch(line)  # what parts() gives, without its char loop
    if plain is not None:
        return plain[1].upper(), plain[2].upper()
    name, _, value = line.parts()  # ValueError: left to the full parse
    name = name.upper()
    return (name, value.upper()) if name in ("BEGIN", "END") else None


def _split_zones(lines: list) -> tuple[list, list[str]] | None:
    """(lines without the top-level VTIMEZONEs, each VTIMEZONE's text) of one VCALENDAR;
    None when the body is anything else (the full parse then decides)."""
    rest: list = []
    blocks: list[str] = []
    block: list | None = None
    depth = 0
    closed = False
    try:
        for line in lines:
            if not line:
                rest.append(line)
                continue
            if closed:
                return None  # anything after the calendar
            kind = _structure(line)
            if kind is not None and kind[0] == "BEGIN":
                if depth == 0 and kind[1] != "VCALENDAR":
                    return None
                if depth == 1 and kind[1] == "VTIMEZONE":
                    block = []
                depth += 1
            elif kind is not None:
                depth -= 1
                if depth < 0:
                    return None
                closed = depth == 0
            elif depth == 0:
                return None
            if block is None:
                rest.append(line)
                continue
            if kind is None and "TZID=" in line.upper():
                return None
            block.append(line)
            if kind is not None and kind[0] == "END" and depth == 1:
                if kind[1] != "VTIMEZONE":
                    return None
                blocks.append("\n".join(block))
                block = None
    except ValueError:
        return None
    return (rest, blocks) if closed and blocks else None


def _check_errors(events: list[icalendar.Event]) -> None:
    for event in events:
        for name, _ in getattr(event, "errors", []):
            if str(name).upper() in STRICT_PROPERTIES:
                raise InvalidObject(VALID_DATA, f"invalid {str(name).upper()} value")


def _rid_text(event: icalendar.Event) -> bytes:
    return event["RECURRENCE-ID"].to_ical()


# ---------------------------------------------------------------- times


class _Times:
    """Times of one upload expressed as the stored (wall clock, tzid, all-day) triples."""

    def __init__(self, obj: DeviceObject, practice_tz: str):
        self.zones = ZoneResolver(obj.timezones, practice_tz)

    def start(self, event: icalendar.Event) -> tuple[dt.datetime, str | None, bool]:
        prop = event["DTSTART"]
        value = prop.dt
        if not isinstance(value, dt.datetime):
            return dt.datetime.combine(value, dt.time()), None, True
        local, tzid = self.zones.local(value, prop.params.get("TZID"))
        return local, tzid, False

    def in_frame(
        self,
        value: dt.date | dt.datetime | tuple,
        tzid_param: str | None,
        frame_tzid: str | None,
        all_day: bool,
    ) -> dt.datetime:
        """A DTEND/EXDATE/RDATE/RECURRENCE-ID value as a wall clock in the series' zone."""
        if isinstance(value, tuple):  # RDATE;VALUE=PERIOD: its start
            value = value[0]
        if not isinstance(value, dt.datetime):
            return dt.datetime.combine(value, dt.time())
        if all_day:
            return dt.datetime.combine(value.date(), dt.time())
        local, tzid = self.zones.local(value, tzid_param)
        return convert(local, tzid, frame_tzid)

    def span(self, event: icalendar.Event) -> tuple[dt.datetime, dt.datetime, str | None, bool]:
        start, tzid, all_day = self.start(event)
        if "DTEND" in event:
            prop = event["DTEND"]
            end = self.in_frame(prop.dt, prop.params.get("TZID"), tzid, all_day)
        elif "DURATION" in event:
            end = start + event["DURATION"].dt
        else:  # RFC 5545: a DATE lasts one day, a DATE-TIME no time at all
            end = start + (dt.timedelta(days=1) if all_day else dt.timedelta(0))
        if all_day and end <= start:
            end = start + dt.timedelta(days=1)
        if end < start:
            raise InvalidObject(VALID_DATA, "DTEND is before DTSTART")
        return start, end, tzid, all_day

    def values(
        self, event: icalendar.Event, name: str, frame_tzid: str | None, all_day: bool
    ) -> list[dt.datetime]:
        props = event.get(name)
        if props is None:
            return []
        result = []
        for prop in props if isinstance(props, list) else [props]:
            for item in prop.dts:
                tzid = item.params.get("TZID") or prop.params.get("TZID")
                result.append(self.in_frame(item.dt, tzid, frame_tzid, all_day))
        return sorted(set(result))


def _rrule(event: icalendar.Event, start: dt.datetime) -> str | None:
    prop = event.get("RRULE")
    if prop is None:
        return None
    if isinstance(prop, list):  # RFC 5545 allows one; keep the first
        prop = prop[0]
    text = prop.to_ical().decode("ascii", "replace")
    _check_rule(text, start)
    return text or None


def _check_rule(text: str, start: dt.datetime) -> None:
    """Refuse rules whose instances cannot be counted cheaply (every write computes the
    series' last instance): more often than daily, or a finite rule with too many instances."""
    freq = str(icalendar.vRecur.from_ical(text).get("FREQ", [""])[0]).upper()
    if freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        raise InvalidObject(VALID_DATA, "recurrence more often than daily is not supported")
    try:
        rule = du_rrule.rrulestr(text, dtstart=start, ignoretz=True)
    except (ValueError, TypeError, OverflowError):
        raise InvalidObject(VALID_DATA, "invalid RRULE") from None
    upper = text.upper()
    finite = "COUNT=" in upper or "UNTIL=" in upper
    if finite and next(islice(rule, MAX_INSTANCES, None), None) is not None:
        raise InvalidObject(VALID_DATA, f"a series is limited to {MAX_INSTANCES} instances")


def _status(event: icalendar.Event, current: str) -> str:
    value = str(event.get("STATUS", "")).strip().upper()
    return _STATUS.get(value, current)


# ---------------------------------------------------------------- texts


def _norm(text: str | None) -> str:
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def _text(event: icalendar.Event, name: str) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0]
    return str(value)


def _plain(text: str | None) -> str:
    """For comparing a device text with what the view showed: NFC, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", _norm(text)).split())


# What may stand between the patient label and the subject: any dash and the usual separators.
_AFTER_LABEL = regex.compile(r"^\s*(?:[\p{Pd}:|/·•,;]+\s*)?")


def _strip_label(text: str, label: str) -> str:
    """`text` without the view's patient label in front (compared after NFC, any separator)."""
    text = unicodedata.normalize("NFC", text)
    label = unicodedata.normalize("NFC", label)
    if not label or not text.startswith(label):
        return text
    rest = text[len(label) :]
    if rest and not _AFTER_LABEL.match(rest).group():
        return text  # the label is only the start of a longer word or number
    return rest[_AFTER_LABEL.match(rest).end() :].strip()


@dataclass
class _Texts:
    """Maps device texts back to practice fields for one existing appointment (or none),
    under the view's field ownership rules."""

    appointment: Appointment | None
    policy: render.RenderPolicy
    rules: field_ownership.Ownership

    def _takes(self, text: str, real: str | None, rule: field_ownership.TextRule) -> bool:
        """Whether a changed device text may replace the practice's `real` text: never one
        holding a pseudonym or another part masking put into what the view showed of `real`
        (the device saw the mask, not the text); under CLEAN_ONLY never one naming any
        patient either."""
        appt = self.appointment
        if patient_mentions.pseudonyms_in(appt.practice_id, [text]):
            return False
        real = real or ""
        masked = render.masked_text(appt, real, self.policy)
        if masked != real and any(r in text for r in render.replacements(real, masked)):
            return False
        return not (
            rule is field_ownership.TextRule.CLEAN_ONLY and masking.contains_patient_name(text, self._names())
        )

    def _names(self) -> masking.PracticeNames:
        """The practice's name matcher (the server's pseudonymized policies carry it)."""
        if self.policy.names is not None:
            return self.policy.names
        practice = self.appointment.practice_id
        return render.practice_matcher(practice, patient_names.version(practice))

    def subject(self, summary: str | None, current: str | None) -> str | None:
        appt = self.appointment
        if appt is None:
            return summary or ""
        if summary is None and not self.rules.missing_clears:
            return current
        text = _strip_label(_norm(summary), render.patient_label(appt, self.policy))
        if _plain(text) == _plain(render.masked_text(appt, current, self.policy)):
            return current
        return text if self._takes(text, current, self.rules.subject) else current

    def location(
        self,
        value: str | None,
        rendered: str,
        current_text: str | None,
        linked: bool = False,
    ) -> tuple[bool, str | None]:
        """(unchanged, new free text)."""
        if self.rules.location is field_ownership.TextRule.PRACTICE_ONLY:
            return True, current_text  # the view shows the practice's location row at most
        shown = bool(_plain(rendered))
        if value is None:
            return (False, None) if self.rules.missing_clears and shown else (True, current_text)
        if _plain(value) == _plain(rendered):
            return True, current_text
        if not shown and (current_text or linked):
            return True, current_text  # hidden from this view: not the device's to change
        if not _plain(value):
            return False, None
        text = _norm(value)
        real = self._location_source(current_text, linked)
        return (False, text) if self._takes(text, real, self.rules.location) else (True, current_text)

    def _location_source(self, current_text: str | None, linked: bool) -> str | None:
        """The practice's text behind what the view showed as LOCATION."""
        loc = self.appointment.location if linked else None
        if current_text or loc is None:
            return current_text
        return ", ".join(p for p in (loc.name, loc.address) if p)

    def notes(self, description: str | None, current: str) -> str:
        appt = self.appointment
        if appt is None:
            return _norm(description)
        if self.rules.notes is field_ownership.TextRule.PRACTICE_ONLY:
            return current  # the view never shows the notes: nothing to edit
        shown = render.description_text(appt, self.policy)
        if description is None:
            return "" if self.rules.missing_clears and _plain(shown) else current
        if _plain(description) == _plain(shown):
            return current
        if current and not _plain(shown):
            return current  # hidden from this view: not the device's to change
        phone = appt.patient.phone if appt.patient is not None else None
        lines = _norm(description).split("\n")
        if phone:
            lines = [line for line in lines if line.strip() != f"Tel.: {phone}"]
        text = "\n".join(lines).strip()
        return text if not text or self._takes(text, current, self.rules.notes) else current


# ---------------------------------------------------------------- mapping


def to_fields(
    obj: DeviceObject,
    current: Appointment | None,
    policy: render.RenderPolicy,
    practice_tz: str,
    reviving: bool = False,
    delegated: bool = False,
) -> AppointmentFields:
    """AppointmentFields for storing `obj` over `current` (None: a device-created appointment).

    `current` must come with patient, location and `override_rows` loaded
    (CalendarCollection.rows_for_write).
    `delegated`: the device writes through another practitioner's calendar (field_ownership).
    """
    times = _Times(obj, practice_tz)
    texts = _Texts(current, policy, field_ownership.ownership(policy, delegated))
    master = obj.master
    start, end, tzid, all_day = times.span(master)
    rrule = _rrule(master, start)
    status_now = "confirmed" if current is None or reviving else current.status
    subject = texts.subject(_text(master, "SUMMARY"), current.subject if current else "")
    notes = texts.notes(_text(master, "DESCRIPTION"), current.notes if current else "")
    location, location_free = None, _norm(_text(master, "LOCATION")) or None
    if current is not None:
        rendered = render.location_text(current, None, policy)
        unchanged, location_free = texts.location(
            _text(master, "LOCATION"), rendered, current.location_text, linked=current.location is not None
        )
        location = current.location if unchanged else None
    fields = AppointmentFields(
        start_local=start,
        end_local=end,
        tzid=tzid,
        all_day=all_day,
        subject=subject or "",
        notes=notes or "",
        status=_status(master, status_now),
        location=location,
        location_text=_cut(location_free),
        rrule=rrule,
        exdates=times.values(master, "EXDATE", tzid, all_day),
        rdates=times.values(master, "RDATE", tzid, all_day),
        device_ical=obj.text,
    )
    loaded = current.override_rows if current is not None else None
    existing = {o.recurrence_id: o for o in loaded or ()}
    fields.overrides = [
        _override(event, times, texts, fields, existing, current, policy) for event in obj.overrides
    ]
    return fields


def _override(
    event: icalendar.Event,
    times: _Times,
    texts: _Texts,
    master: AppointmentFields,
    existing: dict[dt.datetime, AppointmentOverride],
    current: Appointment | None,
    policy: render.RenderPolicy,
) -> OverrideFields:
    rid_prop = event["RECURRENCE-ID"]
    rid = times.in_frame(rid_prop.dt, rid_prop.params.get("TZID"), master.tzid, master.all_day)
    start, end, tzid, all_day = times.span(event)
    row = existing.get(rid)
    subject: str | None = _norm(_text(event, "SUMMARY"))
    location: str | None = _norm(_text(event, "LOCATION")) or None
    if current is not None:
        own = row.subject if row is not None else None
        subject = texts.subject(_text(event, "SUMMARY"), own if own is not None else current.subject)
        if own is None and subject == current.subject:
            subject = None  # unchanged: keeps following the series
        own_loc = row.location_text if row is not None else None
        unchanged, location = texts.location(
            _text(event, "LOCATION"), render.location_text(current, own_loc, policy), own_loc
        )
        if unchanged:
            location = own_loc
    if subject is not None and subject == master.subject:
        subject = None
    if location is not None and location == master.location_text:
        location = None
    return OverrideFields(
        recurrence_id=rid,
        start_local=start,
        end_local=end,
        tzid=tzid,
        all_day=all_day,
        status=_status(event, row.status if row is not None else "confirmed"),
        subject=subject,
        location_text=_cut(location),
    )


def _cut(location: str | None) -> str | None:
    """Free-text locations longer than the column are cut (PostgreSQL would refuse them)."""
    return location[:LOCATION_MAX] if location else None
