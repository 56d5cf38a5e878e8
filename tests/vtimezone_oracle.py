"""Does a VTIMEZONE give the offsets zoneinfo gives? Shared by tests/test_vtimezone.py and
scripts/compare_vtimezone.py.

Two clients that know nothing but the serialized VTIMEZONE (icalendar parsing it with the TZID
lookup switched off): its zoneinfo provider (dateutil's tzical underneath) and its pytz provider
(icalendar's own get_transitions). Probed in FIRST_YEAR..LAST_YEAR: local wall times around each
transition and twice a month (not those in a gap or overlap, where conventions differ), and UTC
instants around each transition and twice a month converted to local time.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import icalendar
from icalendar.timezone import TZP

FIRST_YEAR, LAST_YEAR = 2020, 2035
NEAR = [dt.timedelta(minutes=m) for m in (-1440, -180, -61, -60, -31, -1, 0, 1, 30, 31, 60, 61, 180, 1440)]
CLIENTS = ("dateutil", "pytz")


def zoneinfo_transitions(zone: zoneinfo.ZoneInfo) -> list[dt.datetime]:
    """UTC instants in FIRST_YEAR..LAST_YEAR where zone's offset changes, to the second."""
    out = []
    t = dt.datetime(FIRST_YEAR, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(LAST_YEAR + 1, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(hours=6)
    prev = t.astimezone(zone).utcoffset()
    while t < end:
        nxt = t + step
        off = nxt.astimezone(zone).utcoffset()
        if off != prev:
            lo, hi = t, nxt
            while hi - lo > dt.timedelta(seconds=1):
                mid = (lo + (hi - lo) / 2).replace(microsecond=0)
                lo, hi = (mid, hi) if mid.astimezone(zone).utcoffset() == prev else (lo, mid)
            out.append(hi)
            prev = off
        t = nxt
    return out


def client_zones(ical: bytes) -> dict[str, dt.tzinfo]:
    """The VTIMEZONE as each client understands it."""
    cal = icalendar.Calendar.from_ical(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + ical + b"END:VCALENDAR\r\n")
    comp = cal.walk("VTIMEZONE")[0]
    return {
        name: comp.to_tz(TZP(name.replace("dateutil", "zoneinfo")), lookup_tzid=False) for name in CLIENTS
    }


def _local_offset(tz: dt.tzinfo, local: dt.datetime) -> dt.timedelta | None:
    if hasattr(tz, "localize"):  # pytz
        return tz.localize(local).utcoffset()
    return local.replace(tzinfo=tz).utcoffset()


def probes(
    tzid: str,
) -> tuple[list[tuple[dt.datetime, dt.timedelta]], list[tuple[dt.datetime, dt.timedelta]]]:
    """(local wall time, expected offset) and (UTC instant, expected offset) pairs for tzid."""
    zone = zoneinfo.ZoneInfo(tzid)
    wall: set[dt.datetime] = set()
    instants: set[dt.datetime] = set()
    for t in zoneinfo_transitions(zone):
        before = (t - dt.timedelta(seconds=1)).astimezone(zone).utcoffset()
        after = t.astimezone(zone).utcoffset()
        for d in NEAR:
            instants.add(t + d)
            wall.add((t + before + d).replace(tzinfo=None))
            wall.add((t + after + d).replace(tzinfo=None))
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        for month in range(1, 13):
            for day, hour in ((1, 0), (15, 12)):
                wall.add(dt.datetime(year, month, day, hour))
                instants.add(dt.datetime(year, month, day, hour, tzinfo=dt.UTC))
    local_probes = []
    for local in sorted(wall):
        fold0 = local.replace(tzinfo=zone).utcoffset()
        if FIRST_YEAR <= local.year <= LAST_YEAR and fold0 == local.replace(tzinfo=zone, fold=1).utcoffset():
            local_probes.append((local, fold0))
    return local_probes, [(u, u.astimezone(zone).utcoffset()) for u in sorted(instants)]


def mismatches(tzid: str, ical: bytes) -> tuple[int, dict[str, list[str]]]:
    """(probes per client, and per client the probes whose offset differs from zoneinfo's)."""
    local_probes, utc_probes = probes(tzid)
    count = len(local_probes) + len(utc_probes)
    try:
        clients = client_zones(ical)
    except Exception as exc:  # noqa: BLE001 - a client that cannot read it fails every probe
        return count, dict.fromkeys(CLIENTS, [f"unparsable: {exc!r}"] * count)
    result: dict[str, list[str]] = {}
    for name, tz in clients.items():
        bad = []
        for local, expected in local_probes:
            got = _offset_or_error(_local_offset, tz, local)
            if got != expected:
                bad.append(f"local {local}: {got} != {expected}")
        for instant, expected in utc_probes:
            got = _offset_or_error(_instant_offset, tz, instant)
            if got != expected:
                bad.append(f"utc {instant}: {got} != {expected}")
        result[name] = bad
    return count, result


def _instant_offset(tz: dt.tzinfo, instant: dt.datetime) -> dt.timedelta | None:
    return instant.astimezone(tz).utcoffset()


def _offset_or_error(get, tz: dt.tzinfo, when: dt.datetime) -> object:
    try:
        return get(tz, when)
    except Exception as exc:  # noqa: BLE001 - an exception is a wrong answer, not a crash
        return repr(exc)
