"""Sync status per device: which client family of a practitioner last reached the DAV tree.

Only the family (never the raw User-Agent, the address or anything from the request body)
is stored. A sync makes dozens of requests; an in-process throttle keeps it to one
database statement per device and minute, and the statement itself leaves a row younger
than a minute alone, so several server processes together still write at most once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from providers import push_properties
from providers.practice import api, push_subscriptions
from providers.practice.records import DeviceSeen, Practitioner

log = logging.getLogger("praxis_caldav.settings_page")

MIN_INTERVAL = 60.0

# First match wins: Thunderbird's agent also says Mozilla/, so browsers come last.
_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("davx5", ("davx5", "davdroid")),
    ("ios", ("ios/", "dataaccessd")),
    ("macos", ("macos/", "mac os x/", "mac_os_x/", "calendaragent", "calendarstore")),
    ("thunderbird", ("thunderbird", "lightning")),
    ("outlook", ("caldavsynchronizer", "outlook")),
    ("evolution", ("evolution",)),
    ("vdirsyncer", ("vdirsyncer",)),
    ("python", ("python-caldav", "caldav-async", "python-requests")),
    ("browser", ("mozilla/",)),
)
FAMILIES = tuple(name for name, _ in _FAMILIES) + ("other",)


def user_agent_family(user_agent: str | None) -> str:
    """A coarse client family for the admin's sync status ("other" when unknown)."""
    agent = (user_agent or "").lower()
    for family, needles in _FAMILIES:
        if any(needle in agent for needle in needles):
            return family
    return "other"


class DeviceRecorder:
    """Remembers when each (practitioner, family) was last written in this process."""

    def __init__(self, min_interval: float = MIN_INTERVAL) -> None:
        self.min_interval = min_interval
        self._written: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()

    def seen(self, practitioner: Practitioner, user_agent: str | None) -> bool:
        """Record a DAV request of `practitioner`; True when it went to the database."""
        key = (practitioner.id, user_agent_family(user_agent))
        now = time.monotonic()
        with self._lock:
            last = self._written.get(key)
            if last is not None and now - last < self.min_interval:
                return False
            if len(self._written) > 10_000:
                self._written = {k: v for k, v in self._written.items() if now - v < self.min_interval}
            self._written[key] = now
        try:
            api.record_device_seen(key[0], key[1], min_interval=dt.timedelta(seconds=self.min_interval))
        except Exception:  # noqa: BLE001 - a status row must never fail a sync
            log.warning("could not record device status", exc_info=True)
            return False
        return True


def devices_by_practitioner(practitioner_ids: list[int]) -> dict[int, list[DeviceSeen]]:
    """Device rows per practitioner, newest first (one query)."""
    return api.devices_seen(practitioner_ids)


def push_logins(practitioner_id: int) -> set[int | None]:
    """The logins that hold a live WebDAV-Push registration ("Push active" on the page):
    device password ids, and None for the practice password. None at all while push is off
    (registrations made before stay until they expire, but no message is sent)."""
    if not push_properties.enabled():
        return set()
    return push_subscriptions.push_logins(practitioner_id)
