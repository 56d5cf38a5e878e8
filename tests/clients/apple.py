"""What Apple's CalDAV account (iOS/iPadOS `dataaccessd`, macOS Calendar) sends, in its order.

Request bodies follow the published traces of Apple clients (namespace prefixes A: DAV,
B: CalDAV, C: calendarserver.org, D: Apple iCal, E: me.com): discovery via
current-user-principal, OPTIONS and a principal PROPFIND, the home listed with about thirty
properties at Depth 1, getctag/sync-token polling, sync-collection and calendar-multiget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from tests.clients.replay import (
    CALDAV,
    CS,
    DAV,
    ICAL,
    Device,
    Multistatus,
    clark,
    dav_header,
    multistatus,
    privileges,
    reports,
)

NS = (
    'xmlns:A="DAV:" xmlns:B="urn:ietf:params:xml:ns:caldav" '
    'xmlns:C="http://calendarserver.org/ns/" xmlns:D="http://apple.com/ns/ical/" '
    'xmlns:E="http://me.com/_namespace/"'
)


def propfind(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<A:propfind {NS}><A:prop>{inner}</A:prop></A:propfind>'


DISCOVERY = propfind("A:current-user-principal", "A:principal-URL", "A:resourcetype")

PRINCIPAL = propfind(
    "B:calendar-home-set",
    "B:calendar-user-address-set",
    "A:current-user-principal",
    "A:displayname",
    "C:dropbox-home-URL",
    "C:email-address-set",
    "C:notification-URL",
    "A:principal-collection-set",
    "A:principal-URL",
    "A:resource-id",
    "B:schedule-inbox-URL",
    "B:schedule-outbox-URL",
    "A:supported-report-set",
)

HOME = propfind(
    "A:add-member",
    "C:allowed-sharing-modes",
    "C:autoprovisioned",
    "E:bulk-requests",
    "D:calendar-color",
    "B:calendar-description",
    "B:calendar-free-busy-set",
    "D:calendar-order",
    "B:calendar-timezone",
    "A:current-user-privilege-set",
    "B:default-alarm-vevent-date",
    "B:default-alarm-vevent-datetime",
    "A:displayname",
    "C:getctag",
    "C:invite",
    "D:language-code",
    "D:location-code",
    "A:owner",
    "C:pre-publish-url",
    "C:publish-url",
    "C:push-transports",
    "C:pushkey",
    "A:quota-available-bytes",
    "A:quota-used-bytes",
    "D:refreshrate",
    "A:resource-id",
    "A:resourcetype",
    "B:schedule-calendar-transp",
    "B:schedule-default-calendar-URL",
    "C:source",
    "C:subscribed-strip-alarms",
    "C:subscribed-strip-attachments",
    "C:subscribed-strip-todos",
    "B:supported-calendar-component-set",
    "B:supported-calendar-component-sets",
    "A:supported-report-set",
    "A:sync-token",
)

POLL = propfind("C:getctag", "A:sync-token")


def sync_collection(token: str | None) -> str:
    token_el = f"<A:sync-token>{token}</A:sync-token>" if token else "<A:sync-token/>"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<A:sync-collection {NS}>{token_el}'
        f"<A:sync-level>1</A:sync-level><A:prop><A:getcontenttype/><A:getetag/></A:prop>"
        f"</A:sync-collection>"
    )


def multiget(hrefs: list[str]) -> str:
    refs = "".join(f"<A:href>{h}</A:href>" for h in hrefs)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<B:calendar-multiget {NS}><A:prop>'
        f"<A:getetag/><B:calendar-data/></A:prop>{refs}</B:calendar-multiget>"
    )


def proppatch(color: str, order: int) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<A:propertyupdate {NS}><A:set><A:prop>'
        f'<D:calendar-color symbolic-color="custom">{color}</D:calendar-color>'
        f"<D:calendar-order>{order}</D:calendar-order></A:prop></A:set></A:propertyupdate>"
    )


@dataclass
class AppleAccount:
    """State an Apple device keeps for the account: principal, calendar, ctag, token, ETags."""

    device: Device
    principal: str = ""
    home: str = ""
    calendar: str = ""
    ctag: str = ""
    token: str = ""
    etags: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    def find_principal(self, url: str) -> str:
        """PROPFIND Depth 0 on `url` for current-user-principal; the principal's path."""
        resp = self.device.propfind(url, "0", DISCOVERY)
        ms = multistatus(resp)
        (item,) = ms.items.values()
        (principal,) = item.hrefs(clark(DAV, "current-user-principal"))
        return principal

    def load_principal(self) -> None:
        d = self.device
        opts = d.options(self.principal)
        assert opts.status_code == 200, d.conversation()
        assert "calendar-access" in dav_header(opts)
        assert "calendar-auto-schedule" not in dav_header(opts)
        ms = multistatus(d.propfind(self.principal, "0", PRINCIPAL))
        item = ms[self.principal]
        homes = item.hrefs(clark(CALDAV, "calendar-home-set"))
        assert len(homes) == 1, homes
        self.home = homes[0]
        assert item.hrefs(clark(DAV, "principal-URL")) == [self.principal]
        assert item.hrefs(clark(DAV, "current-user-principal")) == [self.principal]
        assert item.text(clark(DAV, "displayname"))
        # Properties we do not have come back in a 404 propstat, never fail the PROPFIND.
        assert item.props[clark(CS, "dropbox-home-URL")][0] == 404

    def list_home(self) -> Multistatus:
        d = self.device
        # Apple asks for the minimal answer (RFC 7240); a server may ignore that.
        ms = multistatus(d.propfind(self.home, "1", HOME, headers={"Prefer": "return=minimal", "Brief": "t"}))
        calendars = [
            h
            for h, i in ms.items.items()
            if clark(CALDAV, "calendar") in i.children(clark(DAV, "resourcetype"))
        ]
        assert len(calendars) == 1, calendars
        self.calendar = calendars[0]
        cal = ms[self.calendar]
        assert self.calendar.endswith("/")
        assert cal.text(clark(DAV, "displayname"))
        comps = cal.ok(clark(CALDAV, "supported-calendar-component-set"))
        assert [c.get("name") for c in comps] == ["VEVENT"]
        # Writable: otherwise Apple sends MKCALENDAR to make itself one.
        assert {"write", "write-content"} & privileges(cal), privileges(cal)
        assert {"sync-collection", "calendar-multiget", "calendar-query"} <= reports(cal)
        assert cal.hrefs(clark(DAV, "owner")) == [self.principal]
        assert cal.text(clark(CS, "getctag")) and cal.text(clark(DAV, "sync-token"))
        return ms

    def set_colour_and_order(self, color: str = "#FF2968FF", order: int = 3) -> None:
        """What Apple sends when the calendar is first shown (or recoloured)."""
        resp = self.device.request("PROPPATCH", self.calendar, proppatch(color, order))
        ms = multistatus(resp)
        item = ms[self.calendar]
        assert item.props[clark(ICAL, "calendar-color")][0] == 200, resp.text
        assert item.props[clark(ICAL, "calendar-order")][0] == 200, resp.text
        again = multistatus(
            self.device.propfind(self.calendar, "0", propfind("D:calendar-color", "D:calendar-order"))
        )[self.calendar]
        assert again.text(clark(ICAL, "calendar-color")).upper().startswith(color[:7].upper())
        assert again.text(clark(ICAL, "calendar-order")) == str(order)

    def poll(self) -> bool:
        """PROPFIND getctag/sync-token; True if the calendar changed since the last poll."""
        item = multistatus(self.device.propfind(self.calendar, "0", POLL))[self.calendar]
        ctag, token = item.text(clark(CS, "getctag")), item.text(clark(DAV, "sync-token"))
        changed = (ctag, token) != (self.ctag, self.token)
        self.ctag = ctag
        return changed

    def sync(self) -> tuple[set[str], set[str]]:
        """sync-collection from the stored token, then multiget of what changed.

        Returns (changed hrefs, removed hrefs).
        """
        d = self.device
        ms = multistatus(d.report(self.calendar, sync_collection(self.token), depth="0"))
        assert ms.sync_token and urlparse(ms.sync_token).scheme, ms.sync_token
        changed, removed = set(), set()
        for href, item in ms.members(self.calendar).items():
            if item.status == 404:
                assert not item.props, "a removed member has no propstat"
                removed.add(href)
                continue
            assert item.text(clark(DAV, "getcontenttype")).startswith("text/calendar")
            etag = item.text(clark(DAV, "getetag"))
            assert etag and etag.startswith('"'), etag
            if self.etags.get(href) != etag:
                changed.add(href)
                self.etags[href] = etag
        for href in removed:
            self.etags.pop(href, None)
            self.data.pop(href, None)
        if changed:
            self.fetch(sorted(changed))
        self.token = ms.sync_token
        return changed, removed

    def fetch(self, hrefs: list[str]) -> None:
        ms = multistatus(self.device.report(self.calendar, multiget(hrefs), depth="1"))
        assert set(ms.items) == set(hrefs), set(ms.items) ^ set(hrefs)
        for href in hrefs:
            item = ms[href]
            data = item.text(clark(CALDAV, "calendar-data"))
            assert data and "BEGIN:VEVENT" in data, href
            # ETags byte-identical between sync-collection and multiget.
            assert item.text(clark(DAV, "getetag")) == self.etags[href], href
            self.data[href] = data
