"""Outlook with CalDAV Synchronizer: a "Generic CalDAV/CardDAV" profile.

The practitioner pastes "Outlook CalDAV Synchronizer: DAV URL" (it already ends in a slash)
and types "User name (all clients)" from `praxis-caldav urls`, then presses "Test or discover
settings". The replay follows the synchronizer's CalDavDataAccess: resourcetype, OPTIONS,
supported-report-set, current-user-privilege-set and the owner's calendar-user-address-set
(the first href starting with lower-case "mailto:" becomes the Email field); sync is a
calendar-query with start and end, then calendar-multiget. Its HTTP client follows
301/302/303/307, not 308. Both "Outlook <-> Server (Two-Way)" and "Outlook <- Server
(Replicate)" are replayed.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlparse

import pytest

from tests.clients.replay import (
    CALDAV,
    DAV,
    OUTLOOK,
    PASSWORD,
    PREFIX,
    USER_NAME,
    Device,
    clark,
    dav_header,
    device_event,
    local,
    multistatus,
    new_uid,
    practice_cancels,
    practice_creates,
    privileges,
    reports,
    summary_of,
    uid_of,
)

NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
UA = "CalDavSynchronizer/4.4"
FOLLOWS = (301, 302, 303, 307)
PAST, FUTURE = 60, 365  # the profile's default synchronization time range


def propfind(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return f'<?xml version="1.0" encoding="utf-8"?><D:propfind {NS}><D:prop>{inner}</D:prop></D:propfind>'


def calendar_query(start: dt.datetime, end: dt.datetime) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query {NS}><D:prop><D:getetag/></D:prop>'
        f'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{start:%Y%m%dT%H%M%SZ}" end="{end:%Y%m%dT%H%M%SZ}"/>'
        f"</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def multiget(hrefs: list[str]) -> str:
    refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget {NS}><D:prop><D:getetag/>'
        f"<C:calendar-data/></D:prop>{refs}</C:calendar-multiget>"
    )


class Synchronizer:
    """One synchronization profile: its settings test, and its sync runs."""

    def __init__(self, device: Device, dav_url: str):
        self.device = device
        self.url = dav_url
        self.email = ""
        self.writable = False
        self.etags: dict[str, str] = {}
        self.data: dict[str, str] = {}

    def test_or_discover_settings(self) -> str:
        """What the button checks; returns the message the dialog would show."""
        d = self.device
        item = self.only(d.propfind(self.url, "0", propfind("D:resourcetype")))
        if clark(CALDAV, "calendar") not in item.children(clark(DAV, "resourcetype")):
            return "not a calendar"
        if "calendar-access" not in dav_header(d.options(self.url)):
            return "no calendar-access"
        item = self.only(d.propfind(self.url, "0", propfind("D:supported-report-set")))
        if "calendar-query" not in reports(item):
            return "no calendar-query"
        item = self.only(d.propfind(self.url, "0", propfind("D:current-user-privilege-set")))
        self.writable = bool({"write", "write-content"} & privileges(item))
        owner = self.only(d.propfind(self.url, "0", propfind("D:owner")))
        (principal,) = owner.hrefs(clark(DAV, "owner"))
        addresses = multistatus(d.propfind(principal, "0", propfind("C:calendar-user-address-set")))
        hrefs = addresses[principal].hrefs(clark(CALDAV, "calendar-user-address-set"))
        self.address_hrefs = hrefs
        first = next((h for h in hrefs if h.startswith("mailto:")), None)
        self.email = first[len("mailto:") :] if first else ""
        return "Connection test successful."

    @staticmethod
    def only(resp):
        """The synchronizer reads Depth-0 answers by XPath, whatever the href spelling."""
        (item,) = multistatus(resp).items.values()
        return item

    @property
    def path(self) -> str:
        return urlparse(self.url).path

    def sync(self) -> tuple[set[str], set[str]]:
        d = self.device
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        listed = multistatus(
            d.report(self.url, calendar_query(now - dt.timedelta(days=PAST), now + dt.timedelta(days=FUTURE)))
        )
        remote = {h: i.text(clark(DAV, "getetag")) for h, i in listed.members(self.path).items()}
        assert all(remote.values()), "every listed item needs getetag"
        removed = set(self.etags) - set(remote)
        for href in removed:
            self.etags.pop(href)
            self.data.pop(href, None)
        stale = sorted(h for h, e in remote.items() if self.etags.get(h) != e)
        if stale:
            got = multistatus(d.report(self.url, multiget(stale)))
            for href in stale:
                assert got[href].text(clark(DAV, "getetag")) == remote[href]
                self.data[href] = got[href].text(clark(CALDAV, "calendar-data"))
                self.etags[href] = remote[href]
        return set(stale), removed


def profile(deployment, username: str = "anna maier") -> Synchronizer:
    urls = deployment.urls(username)
    device = deployment.device(urls[USER_NAME], PASSWORD, follows=FOLLOWS, user_agent=UA)
    return Synchronizer(device, urls[OUTLOOK])


@pytest.fixture(scope="module")
def two_way(deployment):
    sync = profile(deployment)
    yield sync
    sync.device.close()


def test_anna_maier_sets_up_outlook_caldav_synchronizer_from_the_urls_output_alone(deployment, two_way):
    assert two_way.url.endswith("/calendar/"), "the printed DAV URL already ends with a slash"
    assert two_way.test_or_discover_settings() == "Connection test successful.", two_way.device.conversation()
    expected = (PREFIX if deployment.kind == "proxy" else "") + "/anna_maier/calendar/"
    assert two_way.path == expected
    assert two_way.writable, "without write/write-content the profile switches to Replicate"
    assert two_way.email == "anna.maier@example.org"
    assert not any(s in (308,) for _, _, s in two_way.device.log)
    changed, removed = two_way.sync()
    assert len(changed) == 5 and not removed
    assert two_way.sync() == (set(), set())


def test_outlook_two_way_creates_edits_and_deletes(two_way):
    d = two_way.device
    uid = new_uid()
    href = f"{two_way.path}{uid}.ics"
    outlook = "-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN"
    assert (
        d.put(href, device_event(uid, "Fallbesprechung", local(10, 14), prodid=outlook), new=True).status_code
        == 201
    )
    changed, _ = two_way.sync()
    assert changed == {href} and uid_of(two_way.data[href]) == uid
    edited = d.put(
        href,
        device_event(uid, "Fallbesprechung (online)", local(10, 14), prodid=outlook),
        etag=two_way.etags[href],
    )
    assert edited.status_code in (200, 204)
    changed, _ = two_way.sync()
    assert changed == {href} and summary_of(two_way.data[href]) == "Fallbesprechung (online)"
    assert d.delete(href, etag=two_way.etags[href]).status_code == 204
    assert two_way.sync() == (set(), {href})


def test_outlook_replicate_mode_only_reads_and_follows_the_practice(deployment):
    replicate = profile(deployment)
    try:
        assert replicate.test_or_discover_settings() == "Connection test successful."
        replicate.sync()
        booked = practice_creates("Nachkontrolle (Praxis)", days=11)
        changed, _ = replicate.sync()
        (href,) = changed
        assert summary_of(replicate.data[href]) == "Nachkontrolle (Praxis)"
        practice_cancels(booked)
        assert replicate.sync() == (set(), {href})
        methods = {m for m, _, _ in replicate.device.log}
        assert methods <= {"PROPFIND", "OPTIONS", "REPORT"}, methods
    finally:
        replicate.device.close()


def test_outlook_for_a_user_without_email_gets_no_mailto_and_never_null(deployment):
    bernd = profile(deployment, "bernd huber")
    try:
        assert bernd.url.endswith("/bernd_huber/calendar/")
        assert bernd.test_or_discover_settings() == "Connection test successful."
        assert bernd.email == ""
        assert not any(h.lower().startswith("mailto:") for h in bernd.address_hrefs), bernd.address_hrefs
        assert not any("null" in h.lower() for h in bernd.address_hrefs)
        assert bernd.address_hrefs == [bernd.path.removesuffix("calendar/")]
    finally:
        bernd.device.close()


def test_outlook_dav_url_without_the_trailing_slash_works_too(deployment):
    """The old help page told practitioners to add the slash by hand; not needed here."""
    sync = profile(deployment)
    sync.url = sync.url.rstrip("/")
    try:
        assert sync.test_or_discover_settings() == "Connection test successful."
        assert sync.writable and sync.email == "anna.maier@example.org"
        changed, _ = sync.sync()
        assert changed and all(h.startswith(sync.path + "/") for h in changed)
    finally:
        sync.device.close()
