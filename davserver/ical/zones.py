"""Device time zones -> IANA zones the practice database can store.

Devices name zones in many ways: IANA ("Europe/Vienna"), Windows ("W. Europe Standard
Time", Outlook), vendor-prefixed ("/freeassociation.sourceforge.net/Europe/Berlin") or a
made-up name with its own VTIMEZONE. We store an IANA name whenever we can tell which one is
meant, so series expand correctly across DST; otherwise the instant in UTC. Never a reject:
a time a device sent always lands at the right instant.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

UTC_ID = "UTC"


def iana(name: str) -> ZoneInfo | None:
    """The IANA zone of exactly this name, or None."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def known_name(tzid: str) -> str | None:
    """IANA name for an IANA, Windows or vendor-prefixed TZID, without looking at a VTIMEZONE."""
    cleaned = tzid.strip().strip("/")
    candidates = [cleaned, WINDOWS_TO_OLSON.get(cleaned, "")]
    if tzid.strip().startswith("/"):
        parts = cleaned.split("/")
        candidates += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for name in candidates:
        if name and iana(name) is not None:
            return name
    return None


def _samples(year: int) -> list[dt.datetime]:
    """Instants twice a month: enough to tell zones with different DST rules apart."""
    return [dt.datetime(year, month, day, 12, tzinfo=dt.UTC) for month in range(1, 13) for day in (1, 16)]


@lru_cache(maxsize=1)
def _candidate_order() -> tuple[str, ...]:
    """Representative zones first (one per Windows zone), then every other IANA zone."""
    primary = list(dict.fromkeys(v for v in WINDOWS_TO_OLSON.values() if iana(v) is not None))
    rest = sorted(available_timezones() - set(primary))
    return tuple(primary + [z for z in rest if not z.startswith(("Etc/", "posix/", "right/"))])


@lru_cache(maxsize=256)
def _match(definition: bytes, year: int, preferred: str) -> str | None:
    component = icalendar.Timezone.from_ical(definition)
    custom = component.to_tz(lookup_tzid=False)
    samples = _samples(year)
    wanted = [s.astimezone(custom).utcoffset() for s in samples]
    for name in (preferred, *_candidate_order()):
        zone = iana(name)
        if zone is not None and [s.astimezone(zone).utcoffset() for s in samples] == wanted:
            return name
    return None


class ZoneResolver:
    """Resolves the TZIDs of one uploaded object, using its VTIMEZONEs for unknown names."""

    def __init__(self, timezones: dict[str, icalendar.Timezone], preferred: str):
        self.timezones = timezones
        self.preferred = preferred
        self._cache: dict[tuple[str, int], tuple[str | None, dt.tzinfo | None]] = {}

    def resolve(self, tzid: str, year: int) -> tuple[str | None, dt.tzinfo | None]:
        """(stored tzid, zone to convert through).

        (name, None): store the wall clock with the IANA `name`.
        ("UTC", tz): convert the wall clock through `tz` (the device's own VTIMEZONE) to UTC.
        (None, None): unknown name without a VTIMEZONE: keep the wall clock as floating time.
        """
        key = (tzid, year)
        if key not in self._cache:
            self._cache[key] = self._resolve(tzid, year)
        return self._cache[key]

    def _resolve(self, tzid: str, year: int) -> tuple[str | None, dt.tzinfo | None]:
        name = known_name(tzid)
        if name is not None:
            return name, None
        component = self.timezones.get(tzid)
        if component is None:
            return None, None
        try:
            definition = component.to_ical()
            name = _match(definition, year, self.preferred)
            if name is not None:
                return name, None
            return UTC_ID, component.to_tz(lookup_tzid=False)
        except (ValueError, TypeError, KeyError, IndexError):
            return None, None  # a VTIMEZONE we cannot read: the wall clock is all we have

    def local(self, value: dt.datetime, tzid: str | None) -> tuple[dt.datetime, str | None]:
        """Stored (wall clock, tzid) of a DATE-TIME value as parsed by icalendar."""
        if value.tzinfo is None:
            return value, None
        if tzid is None:  # "Z" form
            return value.astimezone(dt.UTC).replace(tzinfo=None), UTC_ID
        wall = value.replace(tzinfo=None)
        name, through = self.resolve(tzid, wall.year)
        if through is not None:
            return wall.replace(tzinfo=through).astimezone(dt.UTC).replace(tzinfo=None), UTC_ID
        return wall, name


def zone(tzid: str) -> dt.tzinfo:
    return dt.UTC if tzid == UTC_ID else ZoneInfo(tzid)


def convert(local: dt.datetime, from_tzid: str | None, to_tzid: str | None) -> dt.datetime:
    """A stored wall clock re-expressed in another stored zone (floating stays as it is)."""
    if from_tzid is None or to_tzid is None or from_tzid == to_tzid:
        return local
    aware = local.replace(tzinfo=zone(from_tzid))
    return aware.astimezone(zone(to_tzid)).replace(tzinfo=None)
