"""Thunderbird: "New Calendar > On the Network", Location = the calendar URL.

The practitioner pastes "Thunderbird: Location" and types "User name (all clients)" from
`praxis-caldav urls`. The replay follows calendar/providers/caldav/: the location with a slash
appended, PROPFIND Depth 0 on the calendar (any 4xx disables it), OPTIONS on the parent, the
principal's scheduling properties, then WebDAV sync (sync-collection sent with Depth: 1) and
calendar-multiget for members whose getcontenttype is text/calendar and whose ETag string
differs from the stored one.
"""

from __future__ import annotations

import pytest

from tests.clients.replay import (
    CALDAV,
    CS,
    DAV,
    PREFIX,
    THUNDERBIRD,
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
)

NS = 'xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/" xmlns:C="urn:ietf:params:xml:ns:caldav"'
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
WRITE = {"write", "write-content", "write-properties", "all"}

RESOURCE_TYPE = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<D:propfind {NS}><D:prop><D:resourcetype/>'
    f"<D:owner/><D:current-user-principal/><D:current-user-privilege-set/>"
    f"<D:supported-report-set/><C:supported-calendar-component-set/><CS:getctag/>"
    f"</D:prop></D:propfind>"
)
PRINCIPAL_NS = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<D:propfind {NS}><D:prop>'
    f"<C:calendar-home-set/><C:calendar-user-address-set/><C:schedule-inbox-URL/>"
    f"<C:schedule-outbox-URL/></D:prop></D:propfind>"
)
CTAG = f'<?xml version="1.0" encoding="UTF-8"?>\n<D:propfind {NS}><D:prop><CS:getctag/></D:prop></D:propfind>'
ETAGS = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<D:propfind {NS}><D:prop><D:getcontenttype/>'
    f"<D:resourcetype/><D:getetag/></D:prop></D:propfind>"
)


def sync_collection(token: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<sync-collection xmlns="DAV:">'
        f"<sync-token>{token}</sync-token><sync-level>1</sync-level>"
        f"<prop><getcontenttype/><getetag/></prop></sync-collection>"
    )


def multiget(hrefs: list[str]) -> str:
    refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<C:calendar-multiget {NS}><D:prop><D:getetag/>'
        f"<C:calendar-data/></D:prop>{refs}</C:calendar-multiget>"
    )


def ensure_trailing_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


class Thunderbird:
    def __init__(self, device: Device, location: str):
        self.device = device
        self.uri = ensure_trailing_slash(location)
        self.calendar = ""
        self.read_only = True
        self.use_sync = False
        self.ctag = None
        self.token = ""
        self.etags: dict[str, str] = {}
        self.data: dict[str, str] = {}

    def check_dav_resource_type(self) -> str:
        d = self.device
        resp = d.propfind(self.uri, "0", RESOURCE_TYPE)
        assert resp.status_code < 400, f"Thunderbird would disable the calendar: {d.conversation()}"
        ms = multistatus(resp)
        ((self.calendar, item),) = ms.items.items()
        assert clark(CALDAV, "calendar") in item.children(clark(DAV, "resourcetype"))
        self.read_only = not (WRITE & privileges(item))
        self.use_sync = "sync-collection" in reports(item)
        (principal,) = item.hrefs(clark(DAV, "current-user-principal"))
        assert item.hrefs(clark(DAV, "owner")) == [principal]
        return principal

    def check_server_caps(self) -> list[str]:
        parent = self.uri.rstrip("/").rsplit("/", 1)[0] + "/"
        resp = self.device.options(parent)
        assert resp.status_code in (200, 404), self.device.conversation()
        return dav_header(resp)

    def find_principal_ns(self, principal: str) -> None:
        item = multistatus(self.device.propfind(principal, "0", PRINCIPAL_NS))[principal]
        assert item.hrefs(clark(CALDAV, "calendar-home-set"))
        assert item.props[clark(CALDAV, "schedule-inbox-URL")][0] == 404

    def refresh(self) -> tuple[set[str], set[str]]:
        """The periodic refresh: ctag check, then WebDAV sync and multiget."""
        d = self.device
        item = multistatus(d.propfind(self.calendar, "0", CTAG))[self.calendar]
        ctag = item.text(clark(CS, "getctag"))
        if ctag == self.ctag:
            return set(), set()
        ms = multistatus(d.report(self.calendar, sync_collection(self.token), depth="1"))
        changed, removed = set(), set()
        for href, member in ms.members(self.calendar).items():
            if member.status == 404:
                removed.add(href)
                continue
            ctype = member.text(clark(DAV, "getcontenttype")) or ""
            assert ctype.startswith("text/calendar"), f"Thunderbird would ignore {href} ({ctype})"
            etag = member.text(clark(DAV, "getetag"))
            if self.etags.get(href) != etag:
                changed.add(href)
                self.etags[href] = etag
        for href in removed:
            self.etags.pop(href, None)
            self.data.pop(href, None)
        if changed:
            got = multistatus(d.report(self.calendar, multiget(sorted(changed)), depth="1"))
            for href in changed:
                assert got[href].text(clark(DAV, "getetag")) == self.etags[href], "ETag differs"
                self.data[href] = got[href].text(clark(CALDAV, "calendar-data"))
        self.token, self.ctag = ms.sync_token, ctag
        return changed, removed

    def etag_everywhere(self, href: str) -> set[str]:
        """The ETag of `href` as GET, PROPFIND (Depth 1), sync-collection and multiget show it."""
        d = self.device
        seen = {d.get(href).headers["ETag"]}
        listing = multistatus(d.propfind(self.calendar, "1", ETAGS))
        seen.add(listing[href].text(clark(DAV, "getetag")))
        synced = multistatus(d.report(self.calendar, sync_collection(""), depth="1"))
        seen.add(synced[href].text(clark(DAV, "getetag")))
        seen.add(multistatus(d.report(self.calendar, multiget([href])))[href].text(clark(DAV, "getetag")))
        return seen


@pytest.fixture(scope="module")
def thunderbird(deployment):
    urls = deployment.urls()
    device = deployment.device(urls[USER_NAME], deployment.device_password("Thunderbird"), user_agent=UA)
    yield Thunderbird(device, urls[THUNDERBIRD])
    device.close()


def test_anna_maier_sets_up_thunderbird_from_the_urls_output_alone(deployment, thunderbird):
    tb = thunderbird
    principal = tb.check_dav_resource_type()
    expected = (PREFIX if deployment.kind == "proxy" else "") + "/anna_maier/"
    assert principal == expected and tb.calendar == expected + "calendar/"
    assert not tb.read_only, "privileges must include write"
    assert tb.use_sync, "sync-collection must be advertised"
    caps = tb.check_server_caps()
    assert "calendar-access" in caps and "calendar-auto-schedule" not in caps
    tb.find_principal_ns(principal)
    changed, removed = tb.refresh()
    assert len(changed) == 5 and not removed
    assert all(tb.data[h].startswith("BEGIN:VCALENDAR") for h in changed)
    assert tb.refresh() == (set(), set())


def test_thunderbird_location_without_slash_gets_one_appended(thunderbird):
    location = thunderbird.uri.rstrip("/")
    other = Thunderbird(thunderbird.device, location)
    other.check_dav_resource_type()
    assert other.uri == thunderbird.uri and other.calendar == thunderbird.calendar


def test_thunderbird_writes_and_every_etag_is_byte_identical(thunderbird):
    tb = thunderbird
    d = tb.device
    uid = new_uid()
    href = f"{tb.calendar}{uid}.ics"
    body = device_event(uid, "Balintgruppe", local(8, 18), prodid="-//Mozilla.org/NONSGML Thunderbird//EN")
    created = d.put(href, body, new=True)
    assert created.status_code == 201
    (etag,) = tb.etag_everywhere(href)
    if "ETag" in created.headers:  # only when the stored object is exactly what was PUT
        assert created.headers["ETag"] == etag
    assert etag.startswith('"') and etag.endswith('"')
    changed, _ = tb.refresh()
    assert changed == {href} and tb.etags[href] == etag

    edited = d.put(href, device_event(uid, "Balintgruppe (Raum 2)", local(8, 18)), etag=etag)
    assert edited.status_code in (200, 204)
    (new_etag,) = tb.etag_everywhere(href)
    assert new_etag != etag
    if "ETag" in edited.headers:
        assert edited.headers["ETag"] == new_etag
    changed, _ = tb.refresh()
    assert changed == {href} and summary_of(tb.data[href]) == "Balintgruppe (Raum 2)"

    assert d.delete(href, etag=new_etag).status_code == 204
    assert tb.refresh() == (set(), {href})


def test_thunderbird_refresh_sees_practice_side_changes(thunderbird):
    booked = practice_creates("Erstgespräch (Praxis)", days=9)
    changed, removed = thunderbird.refresh()
    (href,) = changed
    assert not removed and summary_of(thunderbird.data[href]) == "Erstgespräch (Praxis)"
    practice_cancels(booked)
    assert thunderbird.refresh() == (set(), {href})
