"""Helpers shared by the report tests (no tests here): a practitioner of one's own, raw
REPORT requests and multistatus parsing. Data is written through providers.practice.api
in the test process; the server thread reads the same database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from xml.sax.saxutils import escape

import requests
from lxml import etree

from providers.practice import api
from providers.practice.api import AppointmentFields, OverrideFields
from providers.practice.models import Appointment, Practitioner
from tests.conftest import LiveServer

DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
NS = {"D": DAV, "C": CALDAV}
PASSWORD = "report-tests"


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def time_range(start: dt.datetime | None = None, end: dt.datetime | None = None) -> str:
    attrs = "".join(f' {k}="{stamp(v)}"' for k, v in (("start", start), ("end", end)) if v)
    return f"<C:time-range{attrs}/>"


def vevent_filter(inner: str = "") -> str:
    return (
        '<C:filter><C:comp-filter name="VCALENDAR">'
        f'<C:comp-filter name="VEVENT">{inner}</C:comp-filter></C:comp-filter></C:filter>'
    )


def query_body(filter_xml: str, props: str = "<D:getetag/>") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
        f'xmlns:C="{CALDAV}"><D:prop>{props}</D:prop>{filter_xml}</C:calendar-query>'
    )


def multiget_body(hrefs: list[str], props: str = "<D:getetag/>") -> str:
    refs = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
    return (
        f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop>{props}</D:prop>'
        f"{refs}</C:calendar-multiget>"
    )


def sync_body(
    token: str = "", limit: int | None = None, props: str = "<D:getetag/><D:getcontenttype/>"
) -> str:
    lim = f"<D:limit><D:nresults>{limit}</D:nresults></D:limit>" if limit else ""
    return (
        f'<D:sync-collection xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:sync-token>{token}'
        f"</D:sync-token><D:sync-level>1</D:sync-level>{lim}<D:prop>{props}</D:prop>"
        "</D:sync-collection>"
    )


@dataclass
class Response:
    href: str
    status: str | None  # a bare <D:status> (404 in sync, multiget)
    props: dict[str, etree._Element]  # found (200) properties


def parse_multistatus(resp: requests.Response) -> tuple[list[Response], str | None]:
    """Responses in order and the <D:sync-token>, if any."""
    assert resp.status_code == 207, (resp.status_code, resp.text[:500])
    root = etree.fromstring(resp.content)
    out = []
    for r in root.findall("D:response", NS):
        props = {}
        for ps in r.findall("D:propstat", NS):
            if "200" in ps.findtext("D:status", "", NS):
                props.update({p.tag: p for p in ps.find("D:prop", NS)})
        out.append(Response(r.findtext("D:href", "", NS), r.findtext("D:status", None, NS), props))
    return out, root.findtext("D:sync-token", None, NS)


@dataclass
class Calendar:
    """A practitioner's own calendar on the live server, with helpers to fill and query it."""

    live: LiveServer
    practitioner: Practitioner

    @property
    def user(self) -> str:
        return self.practitioner.username

    @property
    def path(self) -> str:
        return f"/{api.url_segment(self.user)}/calendar/"

    def href(self, appt: Appointment) -> str:
        return self.path + appt.resource_name

    def request(
        self, method: str, body: str = "", path: str | None = None, headers: dict | None = None
    ) -> requests.Response:
        return self.live.request(
            method, path or self.path, body or None, user=self.user, password=PASSWORD, headers=headers
        )

    def report(
        self, body: str, depth: str | None = "1", path: str | None = None, headers: dict | None = None
    ) -> requests.Response:
        h = {"Content-Type": "application/xml; charset=utf-8", **(headers or {})}
        if depth is not None:
            h["Depth"] = depth
        return self.request("REPORT", body, path, h)

    def query(self, filter_xml: str, **kw) -> set[str]:
        """Resource names a calendar-query returns."""
        responses, _ = parse_multistatus(self.report(query_body(filter_xml), **kw))
        return {r.href.rsplit("/", 1)[1].removesuffix(".ics") for r in responses}

    def add(
        self,
        start: dt.datetime,
        end: dt.datetime,
        name: str | None = None,
        tzid: str | None = "Europe/Vienna",
        **kw,
    ) -> Appointment:
        overrides = [OverrideFields(**o) if isinstance(o, dict) else o for o in kw.pop("overrides", [])]
        fields = AppointmentFields(start_local=start, end_local=end, tzid=tzid, overrides=overrides, **kw)
        return api.create_appointment(
            self.practitioner, fields, resource_name=f"{name}.ics" if name else None
        )

    def ctag(self) -> str:
        body = (
            '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop>'
            "<CS:getctag/><D:sync-token/></D:prop></D:propfind>"
        )
        resp = self.request("PROPFIND", body, headers={"Depth": "0"})
        responses, _ = parse_multistatus(resp)
        props = responses[0].props
        ctag = props["{http://calendarserver.org/ns/}getctag"].text
        assert ctag == props["{DAV:}sync-token"].text
        return ctag


def new_calendar(live: LiveServer, username: str) -> Calendar:
    """A practitioner of the demo practice that no demo data touches."""
    practice = api.get_or_create_practice("Praxis am Park", "demo-practice")
    practitioner = api.find_practitioner(username) or api.create_practitioner(
        practice, username, PASSWORD, display_name=username.title()
    )
    return Calendar(live, practitioner)
