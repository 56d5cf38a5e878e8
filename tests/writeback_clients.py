"""How each supported client writes back an event it received and the user edited.

Every client re-serialises the whole object with its own PRODID, DTSTAMP and VTIMEZONE and
adds or drops properties of its own; the server must map all of them onto the same row
change. Modelled on what the clients of tests/clients/ send:

* iOS / macOS (dataaccessd): keeps everything, adds SEQUENCE, TRANSP and an Apple property.
* DAVx5 (ical4j): keeps everything, its own PRODID and DTSTAMP.
* Thunderbird (libical): adds X-MOZ-GENERATION, SEQUENCE, a new LAST-MODIFIED.
* Outlook CalDAV Synchronizer: rebuilds the event from the Outlook item: unknown and
  server properties (CREATED, LAST-MODIFIED, X-*) dropped, CLASS, PRIORITY, TRANSP and
  X-MICROSOFT-CDO-* added, STATUS written from the busy status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import icalendar

from tests.clients.replay import VIENNA_TZ

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
_DEVICE_ZONE = icalendar.Calendar.from_ical(
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + VIENNA_TZ + "END:VCALENDAR\r\n"
).walk("VTIMEZONE")[0]


def _set(event: icalendar.Event, name: str, value) -> None:
    event.pop(name, None)
    event.add(name, value)


def _ios(event: icalendar.Event) -> str:
    _set(event, "SEQUENCE", 1)
    _set(event, "TRANSP", "OPAQUE")
    _set(event, "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR", "AUTOMATIC")
    return "-//Apple Inc.//iOS 17.4//EN"


def _davx5(event: icalendar.Event) -> str:
    return "-//bitfire web engineering//DAVx5 4.3.16-ose (ical4j 3.2.19)//EN"


def _thunderbird(event: icalendar.Event) -> str:
    _set(event, "X-MOZ-GENERATION", 2)
    _set(event, "SEQUENCE", 1)
    _set(event, "LAST-MODIFIED", NOW)
    return "-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN"


def _outlook(event: icalendar.Event) -> str:
    for name in list(event):
        if name.startswith("X-") or name in ("CREATED", "LAST-MODIFIED", "CATEGORIES"):
            event.pop(name)
    _set(event, "CLASS", "PUBLIC")
    _set(event, "PRIORITY", 5)
    _set(event, "TRANSP", "OPAQUE")
    _set(event, "X-MICROSOFT-CDO-BUSYSTATUS", "BUSY")
    _set(event, "X-MICROSOFT-CDO-IMPORTANCE", 1)
    if "STATUS" not in event:
        event.add("STATUS", "CONFIRMED")
    return "-//github.com/aluxnimm/outlookcaldavsynchronizer//EN"


CLIENTS: dict[str, Callable[[icalendar.Event], str]] = {
    "ios": _ios,
    "davx5": _davx5,
    "thunderbird": _thunderbird,
    "outlook": _outlook,
}


def write_back(client: str, served: bytes, edit: Callable[[icalendar.Event], None]) -> bytes:
    """The object `client` PUTs after the user applied `edit` to the event it was `served`."""
    received = icalendar.Calendar.from_ical(served)
    cal = icalendar.Calendar()
    cal.add("version", "2.0")
    cal.add_component(_DEVICE_ZONE)
    prodid = ""
    for event in received.walk("VEVENT"):
        edit(event)
        _set(event, "DTSTAMP", NOW)
        prodid = CLIENTS[client](event)
        cal.add_component(event)
    cal.add("prodid", prodid)
    return cal.to_ical()
