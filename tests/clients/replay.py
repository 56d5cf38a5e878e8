"""Shared replay helpers: deployments (plain HTTP, TLS, behind a prefix proxy), a recording
device with a client's redirect policy, multistatus parsing and iCalendar bodies.

Every replay starts from what the practitioner's settings page shows (read over HTTP as the
practitioner's browser gets it), which must equal what `praxis-caldav urls NAME` prints for
the running deployment (`setup_info(practitioner, config.base_url()).lines()`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import http.client
import re
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlparse

import requests
from lxml import etree

from davserver.config import ServerConfig, TLSConfig
from davserver.setup_info import setup_info
from providers.practice import api
from tests.conftest import DEMO_PASSWORD, DEMO_USER, LiveServer, start_server

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"
ME = "http://me.com/_namespace/"

PREFIX = "/kalender"
LOGIN = DEMO_USER  # "anna maier": the login keeps the space, the URLs carry "_"
PASSWORD = DEMO_PASSWORD

# The labels `praxis-caldav urls` prints (davserver/setup_info.py).
USER_NAME = "User name (all clients)"
IOS_SERVER = "iPhone/iPad: Server"
DAVX5_BASE = "DAVx5 (also for the Google Calendar app): Base URL"
MAC_HOST = "macOS Advanced: Server address"
MAC_PATH = "macOS Advanced: Server path"
MAC_PORT = "macOS Advanced: Port"
MAC_SSL = "macOS Advanced: Use SSL"
THUNDERBIRD = "Thunderbird: Location"
OUTLOOK = "Outlook CalDAV Synchronizer: DAV URL"
# Where the settings page shows each of them (the id of its <code> element).
PAGE_FIELDS = {
    USER_NAME: "login",
    IOS_SERVER: "ios-server",
    DAVX5_BASE: "android-base-url",
    MAC_HOST: "macos-host",
    MAC_PATH: "macos-path",
    MAC_PORT: "macos-port",
    MAC_SSL: "macos-ssl",
    THUNDERBIRD: "thunderbird-location",
    OUTLOOK: "outlook-url",
}


def clark(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


# ---------------------------------------------------------------- the prefix proxy


class PrefixProxy:
    """A tiny threaded reverse proxy on loopback, like nginx `location /kalender/`.

    It strips `prefix` from the path, sends `X-Forwarded-Prefix: prefix` and relays
    everything else unchanged (Host, Authorization, Depth, bodies, status, headers).
    `/.well-known/...` at the host root goes to the server too (it answers with a 301 into
    the prefix, as the nginx example in docs/clients/admin.en.md does); any other path outside
    the prefix is a 404 from the proxy itself.
    """

    HOP = {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
    }

    def __init__(self, prefix: str, backend_port: int):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _relay(self):
                proxy.relay(self)

        for method in (
            "GET",
            "HEAD",
            "PUT",
            "DELETE",
            "OPTIONS",
            "PROPFIND",
            "PROPPATCH",
            "REPORT",
            "MKCOL",
            "MKCALENDAR",
            "COPY",
            "MOVE",
            "LOCK",
            "UNLOCK",
            "POST",
        ):
            setattr(Handler, f"do_{method}", Handler._relay)
        self.prefix = prefix
        self.backend_port = backend_port
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def relay(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        body = self._read_body(handler)  # always: the connection is kept alive
        if path.startswith("/.well-known/"):
            upstream_path = path  # `location /.well-known/caldav`: the server redirects into the prefix
        elif path == self.prefix or path.startswith(self.prefix + "/"):
            upstream_path = path[len(self.prefix) :] or "/"
        else:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in self.HOP}
        headers["X-Forwarded-Prefix"] = self.prefix
        headers["X-Forwarded-For"] = handler.client_address[0]
        headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=30)
        try:
            conn.request(handler.command, upstream_path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            handler.send_response(resp.status, resp.reason)
            for key, value in resp.getheaders():
                if key.lower() not in self.HOP and key.lower() != "content-length":
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
        finally:
            conn.close()

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
        if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- deployments


def make_certificate(out: Path) -> tuple[str, str]:
    """A self-signed pair from `praxis-caldav cert` (what an admin would try TLS with)."""
    result = subprocess.run(
        [sys.executable, "-m", "davserver.cli", "cert", "--host", "localhost", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return str(out / "praxis-caldav.crt"), str(out / "praxis-caldav.key")


@dataclass
class Deployment:
    """The running server as devices reach it, and what `praxis-caldav urls` prints for it."""

    kind: str  # "http", "tls" or "proxy"
    live: LiveServer
    base_url: str  # external, as configured in public_base_url
    verify: str | bool = True
    proxy: PrefixProxy | None = None

    def urls(self, username: str = LOGIN, password: str = PASSWORD) -> dict[str, str]:
        """What the practitioner's settings page shows, read off the page as a device's
        browser gets it (through TLS or the proxy), label -> value with the labels of
        `praxis-caldav urls`; it must be what that command prints, too."""
        practitioner = api.find_practitioner(username)
        assert practitioner is not None, username
        with requests.Session() as browser:
            browser.trust_env = False
            browser.verify = self.verify
            page = browser.get(
                self.base_url + "settings/?lang=en", auth=(username.encode(), password.encode()), timeout=30
            )
        assert page.status_code == 200, page.status_code
        shown = {
            label: html.unescape(match.group(1).replace("<wbr>", ""))
            for label, field_id in PAGE_FIELDS.items()
            if (match := re.search(rf'<code id="{field_id}"[^>]*>(.*?)</code>', page.text, re.S))
        }
        shown[MAC_SSL] = shown[MAC_SSL].lower()  # "Yes"/"No" on the page, "yes"/"no" printed
        printed = dict(setup_info(practitioner, self.live.config.base_url()).lines())
        assert shown == {label: printed[label] for label in PAGE_FIELDS}, (shown, printed)
        return shown

    def device(self, username: str = LOGIN, password: str = PASSWORD, **kw) -> Device:
        return Device(self, username, password, **kw)

    def device_password(self, label: str) -> str:
        """A device password for `label`, as the settings page's "Neues Gerät" makes it."""
        from providers.practice import device_passwords

        return device_passwords.create(api.find_practitioner(LOGIN), label)[1]


@contextlib.contextmanager
def deploy(kind: str, db_url: str, cert: tuple[str, str] | None = None):
    config = ServerConfig()
    if kind == "tls":
        assert cert is not None
        config.tls = TLSConfig(certificate=cert[0], private_key=cert[1])
    if kind == "proxy":
        config.trusted_proxy = True
    live = start_server(db_url, config)
    proxy = None
    try:
        port = live.config.port
        if kind == "tls":
            base, verify = f"https://localhost:{port}/", cert[0]
        elif kind == "proxy":
            proxy = PrefixProxy(PREFIX, port)
            base, verify = f"http://127.0.0.1:{proxy.port}{PREFIX}/", True
        else:
            base, verify = f"http://127.0.0.1:{port}/", True
        live.config.public_base_url = base
        yield Deployment(kind=kind, live=live, base_url=base, verify=verify, proxy=proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        live.server.stop()
        for s in live.sessions.values():
            s.close()


# ---------------------------------------------------------------- multistatus


@dataclass
class Item:
    """One <D:response>: its status (sync-collection removals) and props by Clark name."""

    href: str
    status: int | None
    props: dict[str, tuple[int, etree._Element]] = field(default_factory=dict)

    def ok(self, name: str) -> etree._Element | None:
        """The property's element if it came back with 200, else None."""
        status, el = self.props.get(name, (None, None))
        return el if status == 200 else None

    def text(self, name: str) -> str | None:
        el = self.ok(name)
        return None if el is None else (el.text or "")

    def hrefs(self, name: str) -> list[str]:
        el = self.ok(name)
        return [] if el is None else [h.text for h in el.iter(clark(DAV, "href"))]

    def children(self, name: str) -> set[str]:
        el = self.ok(name)
        return set() if el is None else {c.tag for c in el}


@dataclass
class Multistatus:
    items: dict[str, Item]
    sync_token: str | None

    def __getitem__(self, href: str) -> Item:
        return self.items[href]

    def members(self, collection: str) -> dict[str, Item]:
        return {h: i for h, i in self.items.items() if h != collection}


def _status(text: str | None) -> int | None:
    return int(text.split()[1]) if text else None


def multistatus(resp: requests.Response) -> Multistatus:
    assert resp.status_code == 207, (resp.status_code, resp.text[:800])
    assert resp.headers["Content-Type"].split(";")[0].strip() in ("application/xml", "text/xml")
    root = etree.fromstring(resp.content)
    assert root.tag == clark(DAV, "multistatus")
    items: dict[str, Item] = {}
    for r in root.findall(clark(DAV, "response")):
        href = r.findtext(clark(DAV, "href"))
        assert href not in items, f"href {href} listed twice"
        item = items[href] = Item(href, _status(r.findtext(clark(DAV, "status"))))
        for ps in r.findall(clark(DAV, "propstat")):
            status = _status(ps.findtext(clark(DAV, "status")))
            for el in ps.find(clark(DAV, "prop")):
                item.props[el.tag] = (status, el)
    return Multistatus(items, root.findtext(clark(DAV, "sync-token")))


# ---------------------------------------------------------------- the device


class Device:
    """One client on one device: a connection with that client's redirect policy.

    Like every client here it first asks without credentials and answers the 401 with
    Basic credentials in UTF-8. Each request is logged (method, path, status) so a failing
    assertion shows the conversation so far.
    """

    def __init__(
        self,
        dep: Deployment,
        login: str,
        password: str,
        *,
        follows: tuple[int, ...] = (301, 302, 307, 308),
        user_agent: str = "replay",
    ):
        self.dep = dep
        self.login = login
        self.password = password
        self.follows = follows
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or CA bundle from the environment: loopback only
        self.session.verify = dep.verify
        self.session.headers["User-Agent"] = user_agent
        self.authenticated = False
        self.log: list[tuple[str, str, int]] = []

    def close(self) -> None:
        self.session.close()

    def conversation(self) -> str:
        return "\n".join(f"{m} {p} -> {s}" for m, p, s in self.log)

    def url(self, href_or_url: str, base: str | None = None) -> str:
        return urljoin(base or self.dep.base_url, href_or_url)

    def request(
        self,
        method: str,
        url: str,
        body: str | bytes | None = None,
        headers: dict | None = None,
        *,
        redirects: int = 5,
    ) -> requests.Response:
        url = self.url(url)
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = dict(headers or {})
        if body is not None and "Content-Type" not in headers:
            headers["Content-Type"] = "application/xml; charset=utf-8"
        while True:
            auth = (self.login.encode("utf-8"), self.password.encode("utf-8")) if self.authenticated else None
            resp = self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                auth=auth,
                allow_redirects=False,
                timeout=30,
                verify=self.dep.verify,
            )
            self.log.append((method, urlparse(url).path, resp.status_code))
            if resp.status_code == 401 and not self.authenticated:
                challenge = resp.headers.get("WWW-Authenticate", "")
                assert challenge.startswith("Basic ") and 'charset="UTF-8"' in challenge, challenge
                self.authenticated = True
                continue
            if resp.status_code in self.follows and redirects > 0:
                url = urljoin(url, resp.headers["Location"])
                redirects -= 1
                continue
            return resp

    # -- the requests every client builds from

    def propfind(self, url: str, depth: str, body: str, **kw) -> requests.Response:
        return self.request("PROPFIND", url, body, {"Depth": depth, **kw.pop("headers", {})}, **kw)

    def report(self, url: str, body: str, depth: str | None = "1") -> requests.Response:
        headers = {"Depth": depth} if depth is not None else {}
        return self.request("REPORT", url, body, headers)

    def options(self, url: str) -> requests.Response:
        return self.request("OPTIONS", url)

    def put(self, url: str, ical: str, *, new: bool = False, etag: str | None = None) -> requests.Response:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if new:
            headers["If-None-Match"] = "*"
        if etag:
            headers["If-Match"] = etag
        return self.request("PUT", url, ical, headers)

    def delete(self, url: str, etag: str | None = None) -> requests.Response:
        return self.request("DELETE", url, None, {"If-Match": etag} if etag else {})

    def get(self, url: str) -> requests.Response:
        return self.request("GET", url)


def dav_header(resp: requests.Response) -> list[str]:
    return [t.strip() for t in resp.headers.get("DAV", "").split(",") if t.strip()]


def privileges(item: Item) -> set[str]:
    """Local names of the privileges in current-user-privilege-set."""
    el = item.ok(clark(DAV, "current-user-privilege-set"))
    assert el is not None, "no current-user-privilege-set"
    return {etree.QName(p).localname for priv in el for p in priv}


def reports(item: Item) -> set[str]:
    el = item.ok(clark(DAV, "supported-report-set"))
    assert el is not None, "no supported-report-set"
    return {etree.QName(r).localname for sr in el for rep in sr for r in rep}


# ---------------------------------------------------------------- iCalendar


VIENNA_TZ = """BEGIN:VTIMEZONE\r
TZID:Europe/Vienna\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
"""


def new_uid() -> str:
    return str(uuid.uuid4()).upper()


def local(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """A wall-clock time `days` from today (device-side appointments are in the future)."""
    return dt.datetime.combine(dt.date.today() + dt.timedelta(days=days), dt.time(hour, minute))


def device_event(
    uid: str,
    summary: str,
    start: dt.datetime,
    minutes: int = 50,
    prodid: str = "-//Apple Inc.//iOS 17.4//EN",
    extra: str = "",
) -> str:
    """A VCALENDAR as a device writes it: VTIMEZONE, TZID times, DTSTAMP, a reminder."""
    end = start + dt.timedelta(minutes=minutes)
    fmt = "%Y%m%dT%H%M%S"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{prodid}",
        "CALSCALE:GREGORIAN",
    ]
    body = "\r\n".join(lines) + "\r\n" + VIENNA_TZ
    event = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T120000Z",
        "SEQUENCE:0",
        f"DTSTART;TZID=Europe/Vienna:{start.strftime(fmt)}",
        f"DTEND;TZID=Europe/Vienna:{end.strftime(fmt)}",
        f"SUMMARY:{summary}",
        *[line for line in extra.strip().splitlines() if line.strip()],
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:Reminder",
        "TRIGGER:-PT15M",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return body + "\r\n".join(event) + "\r\n"


def summary_of(ical: str) -> str | None:
    for line in ical.replace("\r\n ", "").splitlines():
        if line.startswith("SUMMARY"):
            return line.split(":", 1)[1]
    return None


def uid_of(ical: str) -> str | None:
    for line in ical.replace("\r\n ", "").splitlines():
        if line.startswith("UID:"):
            return line[4:].strip()
    return None


# ---------------------------------------------------------------- practice-side changes


def practice_creates(subject: str, days: int = 3, hour: int = 15):
    """The practice books an appointment for anna maier (a change no device made)."""
    anna = api.find_practitioner(LOGIN)
    fields = api.AppointmentFields(
        start_local=local(days, hour), end_local=local(days, hour, 50), subject=subject
    )
    return api.create_appointment(anna, fields)


def practice_cancels(appointment) -> None:
    api.delete_appointment(appointment, cancel=True)
