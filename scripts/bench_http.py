"""Benchmark HTTP side: a lean keep-alive client, the DAV request bodies and multistatus parsing.

The client is http.client (stdlib) so that the load generator costs little CPU next to the
server under test on the same machine.
"""

from __future__ import annotations

import base64
import http.client
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lxml import etree

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}
ICS_TYPE = "text/calendar; charset=utf-8"


class CheckFailed(Exception):
    """The server answered, but not correctly: the measurement is a FAILURE, not a figure."""


class Timeout(Exception):
    """The time budget of a target ran out."""


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes


class Client:
    """One keep-alive connection with Basic auth; reconnects when the server closed it."""

    def __init__(self, host: str, port: int, auth: tuple[str, str] | None, timeout: float = 300):
        self.host, self.port, self.timeout = host, port, timeout
        self.auth = None
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self.auth = f"Basic {token}"
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.conn

    def request(
        self, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None
    ) -> Response:
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = dict(headers or {})
        if self.auth:
            all_headers["Authorization"] = self.auth
        for attempt in (1, 2):
            conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server had closed: the request never ran.
                self.close()
                if attempt == 2:
                    raise
                continue
            if resp.will_close:
                self.close()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# Request bodies ---------------------------------------------------------------------------
PROPFIND_ETAG = (
    f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="{DAV}">'
    "<D:prop><D:getetag/></D:prop></D:propfind>"
)
PROPFIND_CALENDAR = (
    f'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="{DAV}" '
    'xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:displayname/><D:resourcetype/>'
    "<CS:getctag/><D:sync-token/></D:prop></D:propfind>"
)


def multiget_body(hrefs: list[str]) -> str:
    refs = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="{DAV}" '
        f'xmlns:C="{CALDAV}"><D:prop><D:getetag/><C:calendar-data/></D:prop>{refs}'
        "</C:calendar-multiget>"
    )


def query_body(start: str, end: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="{DAV}" '
        f'xmlns:C="{CALDAV}"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter>'
        "</C:filter></C:calendar-query>"
    )


def sync_body(token: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="{DAV}">'
        f"<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
        "<D:prop><D:getetag/></D:prop></D:sync-collection>"
    )


# Multistatus ------------------------------------------------------------------------------
@dataclass
class Member:
    href: str
    status: int  # the response's own status, or the status of the propstat with getetag
    etag: str | None = None
    data: str | None = None


@dataclass
class MultiStatus:
    members: list[Member] = field(default_factory=list)
    sync_token: str | None = None

    def by_href(self) -> dict[str, Member]:
        return {m.href: m for m in self.members}


def norm_href(href: str) -> str:
    return unquote(urlsplit(href.strip()).path)


def _status(text: str | None) -> int:
    parts = (text or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def parse_multistatus(resp: Response, expect: int = 207) -> MultiStatus:
    if resp.status != expect:
        raise CheckFailed(f"HTTP {resp.status} (expected {expect}): {resp.body[:160]!r}")
    try:
        root = etree.fromstring(resp.body)
    except etree.XMLSyntaxError as exc:
        raise CheckFailed(f"response is not XML: {exc}") from None
    if root.tag != f"{{{DAV}}}multistatus":
        raise CheckFailed(f"root element {root.tag}, not DAV:multistatus")
    out = MultiStatus(sync_token=root.findtext(f"{{{DAV}}}sync-token"))
    for r in root.iterfind(f"{{{DAV}}}response"):
        href = r.findtext(f"{{{DAV}}}href")
        if href is None:
            raise CheckFailed("response without href")
        member = Member(norm_href(href), _status(r.findtext(f"{{{DAV}}}status")))
        for ps in r.iterfind(f"{{{DAV}}}propstat"):
            code = _status(ps.findtext(f"{{{DAV}}}status"))
            prop = ps.find(f"{{{DAV}}}prop")
            if prop is None or code != 200:
                continue
            etag = prop.find(f"{{{DAV}}}getetag")
            data = prop.find(f"{{{CALDAV}}}calendar-data")
            if etag is not None:
                member.etag = etag.text
            if data is not None:
                member.data = data.text
            member.status = member.status or 200
        out.members.append(member)
    return out


def unfold(text: str) -> str:
    return text.replace("\r\n ", "").replace("\n ", "").replace("\r\n\t", "").replace("\n\t", "")


def check_same(got: set[str], expected: set[str], what: str) -> None:
    if got != expected:
        missing, extra = sorted(expected - got), sorted(got - expected)
        raise CheckFailed(
            f"{what}: {len(got)} hrefs, expected {len(expected)}; "
            f"missing {len(missing)} {missing[:2]}, unexpected {len(extra)} {extra[:2]}"
        )


def check_data(member: Member, uid: str) -> None:
    if member.status != 200:
        raise CheckFailed(f"{member.href}: status {member.status}")
    if not member.data or f"UID:{uid}" not in unfold(member.data):
        raise CheckFailed(f"{member.href}: calendar-data missing or without UID {uid}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed(fn):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result
