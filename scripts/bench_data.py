"""Benchmark dataset: a reproducible practice calendar as iCalendar objects, and its oracle.

Every object is one 50-minute session on a weekday in Europe/Vienna (with its VTIMEZONE);
about 5 % are weekly series with EXDATEs and one moved occurrence (a RECURRENCE-ID override).
The oracle answers time-range questions by expanding the generated objects with
recurring_ical_events, independently of any server.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

TZID = "Europe/Vienna"
ZONE = ZoneInfo(TZID)
UTC = dt.UTC
FIRST_DAY = dt.date(2025, 1, 6)  # a Monday; the data covers 104 weeks from here
WEEKS = 104
EXTRA_YEAR = 2031  # events PUT by the throughput runs lie here, outside every query window
SERIES_SHARE = 0.05
SESSION = dt.timedelta(minutes=50)

# Query windows: local midnights, so no session touches a boundary.
WEEK = (dt.datetime(2025, 11, 10, tzinfo=ZONE), dt.datetime(2025, 11, 17, tzinfo=ZONE))
MONTH = (dt.datetime(2026, 3, 1, tzinfo=ZONE), dt.datetime(2026, 4, 1, tzinfo=ZONE))  # has a DST change

VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Vienna\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n"
)

FIRST_NAMES = [
    "Maria",
    "Anna",
    "Lukas",
    "Jürgen",
    "Sophie",
    "Élodie",
    "Tobias",
    "Zoë",
    "Günther",
    "Katharina",
    "Mehmet",
    "Ivana",
    "Paul",
    "Hannah",
    "Ömer",
    "Lea",
    "Florian",
    "Sára",
]
LAST_NAMES = [
    "Muster",
    "Huber",
    "Gruber",
    "Wagner",
    "Müller",
    "Pichler",
    "Steiner",
    "Moser",
    "Mayer",
    "Hofer",
    "Leitner",
    "Berger",
    "Fuchs",
    "Eder",
    "Schwarz",
    "Nowak",
    "Yılmaz",
]
THERAPIES = [
    "Physiotherapie",
    "Ergotherapie",
    "Logopädie",
    "Psychotherapie",
    "Erstgespräch",
    "Manuelle Therapie",
    "Kontrolltermin",
]
LOCATIONS = [
    "Raum 1, Mariahilfer Straße 12, 1060 Wien",
    "Raum 2, Mariahilfer Straße 12, 1060 Wien",
    "Turnsaal; Hauptplatz 3, 2500 Baden",
    "Hausbesuch",
]


@dataclass
class Event:
    """One iCalendar object resource of the dataset."""

    name: str  # resource name in the calendar collection
    uid: str
    fields: dict
    ics: str
    first_utc: dt.datetime  # earliest instance start (any override included)
    last_utc: dt.datetime  # latest instance end
    is_series: bool = False
    version: int = 0

    def modified(self) -> str:
        """The same object with a changed SUMMARY (times unchanged, so the oracle still holds)."""
        self.version += 1
        fields = dict(self.fields)
        fields["summary"] = f"{fields['summary']} (geändert {self.version})"
        return render(self.uid, fields)


@dataclass
class Dataset:
    seed: int
    events: list[Event] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.events]


def _text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 sequence."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line + "\r\n"
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start, limit = end, 74  # continuation lines start with a space
    return "\r\n ".join(parts) + "\r\n"


def _local(value: dt.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _vevent(
    uid: str, fields: dict, start: dt.datetime, recurrence_id: dt.datetime | None = None, master: bool = True
) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        f"DTSTART;TZID={TZID}:{_local(start)}",
        f"DTEND;TZID={TZID}:{_local(start + SESSION)}",
    ]
    if recurrence_id is not None:
        lines.append(f"RECURRENCE-ID;TZID={TZID}:{_local(recurrence_id)}")
    lines += [
        f"SUMMARY:{_text(fields['summary'])}",
        f"LOCATION:{_text(fields['location'])}",
        f"DESCRIPTION:{_text(fields['description'])}",
        "STATUS:CONFIRMED",
        "CATEGORIES:Praxis",
    ]
    if master and fields.get("rrule"):
        lines.append(f"RRULE:{fields['rrule']}")
        if fields["exdates"]:
            exdates = ",".join(_local(x) for x in fields["exdates"])
            lines.append(f"EXDATE;TZID={TZID}:{exdates}")
    lines.append("END:VEVENT")
    return lines


def render(uid: str, fields: dict) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//praxis-caldav//bench//DE", "CALSCALE:GREGORIAN"]
    out = "".join(_fold(x) for x in lines) + VTIMEZONE
    body = _vevent(uid, fields, fields["start"])
    for original, moved in fields.get("overrides", []):
        body += _vevent(uid, fields, moved, recurrence_id=original, master=False)
    return out + "".join(_fold(x) for x in body) + "END:VCALENDAR\r\n"


def _session_start(rng: random.Random, day: dt.date) -> dt.datetime:
    minute = rng.choice([0, 0, 0, 10, 20, 30, 40])
    return dt.datetime(day.year, day.month, day.day, rng.randint(8, 17), minute, tzinfo=ZONE)


def make_event(rng: random.Random, index: int, prefix: str, day: dt.date) -> Event:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    number = rng.randint(1000, 99999)
    phone = f"+43 6{rng.randint(50, 99)} {rng.randint(1000000, 9999999)}"
    start = _session_start(rng, day)
    fields = {
        "summary": f"{first} {last} – {rng.choice(THERAPIES)}",
        "location": rng.choice(LOCATIONS),
        "description": f"Patient {number}\nTel. {phone}",
        "start": start,
        "rrule": None,
        "exdates": [],
        "overrides": [],
    }
    instances = [start]
    if rng.random() < SERIES_SHARE:
        count = rng.randint(6, 26)
        instances = [start + dt.timedelta(weeks=k) for k in range(count)]
        # Wall-clock weekly recurrence across DST: rebuild each with the zone's offset of its date.
        instances = [dt.datetime.combine(x.date(), start.time(), tzinfo=ZONE) for x in instances]
        if rng.random() < 0.3:
            until = dt.datetime.combine(instances[-1].date(), dt.time(23, 59, 59), tzinfo=ZONE)
            fields["rrule"] = f"FREQ=WEEKLY;UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        else:
            fields["rrule"] = f"FREQ=WEEKLY;COUNT={count}"
        picks = rng.sample(range(1, count), k=3)
        fields["exdates"] = sorted(instances[k] for k in picks[: rng.randint(1, 2)])
        original = instances[picks[2]]
        moved_day = original.date() + dt.timedelta(days=rng.choice([0, 1, 2]))
        moved = _session_start(rng, moved_day)
        fields["overrides"] = [(original, moved)]
        instances = [x for x in instances if x not in fields["exdates"] and x != original] + [moved]
    uid = f"{prefix}-{index:06d}@bench.praxis.invalid"
    return Event(
        name=f"{prefix}-{index:06d}.ics",
        uid=uid,
        fields=fields,
        ics=render(uid, fields),
        first_utc=min(instances).astimezone(UTC),
        last_utc=(max(instances) + SESSION).astimezone(UTC),
        is_series=bool(fields["rrule"]),
    )


def generate(n: int, seed: int = 8) -> Dataset:
    rng = random.Random(seed)
    weekdays = [
        FIRST_DAY + dt.timedelta(days=d)
        for d in range(WEEKS * 7)
        if (FIRST_DAY + dt.timedelta(days=d)).weekday() < 5
    ]
    data = Dataset(seed=seed)
    data.events = [make_event(rng, i, "bench", rng.choice(weekdays)) for i in range(n)]
    return data


def extra_events(seed: int, run: int, count: int) -> list[Event]:
    """New events for PUT throughput runs, in EXTRA_YEAR (outside every query window)."""
    rng = random.Random(seed * 1000 + run)
    days = [dt.date(EXTRA_YEAR, 1, 6) + dt.timedelta(days=d) for d in range(300)]
    days = [d for d in days if d.weekday() < 5]
    return [make_event(rng, i, f"put{run:02d}", rng.choice(days)) for i in range(count)]


def utc_stamp(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def oracle_time_range(data: Dataset, window: tuple[dt.datetime, dt.datetime]) -> set[str]:
    """Names of the objects with an instance overlapping [start, end), by full expansion."""
    import icalendar
    import recurring_ical_events

    start, end = window
    margin = dt.timedelta(days=2)  # a cheap, generous prefilter; expansion decides
    expected = set()
    for event in data.events:
        if event.last_utc < start - margin or event.first_utc >= end + margin:
            continue
        calendar = icalendar.Calendar.from_ical(event.ics)
        if recurring_ical_events.of(calendar).between(start, end):
            expected.add(event.name)
    return expected
