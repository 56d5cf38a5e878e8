"""HTTP edge cases: chunked bodies, size limits, hostile XML, malformed requests.

Runs against the real server on SQLite and PostgreSQL (`live`); the size-limit tests start
a second server over the same database with a small max_body_size.
"""

from __future__ import annotations

import base64
import http.client
import socket
import time

import pytest

from davserver.config import ServerConfig
from tests.conftest import DEMO_PASSWORD, DEMO_USER, start_server

AUTH = "Basic " + base64.b64encode(f"{DEMO_USER}:{DEMO_PASSWORD}".encode()).decode()
CAL = "/anna_maier/calendar/"
CTAG_ONLY = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
    b'xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/></D:prop></D:propfind>'
)


def port_of(live) -> int:
    return live.server.bind_addr[1]


def raw_exchange(port: int, head: bytes, body_parts: list[bytes] = (), timeout: float = 10) -> bytes:
    """Send a hand-written request and read the response until the server closes or it is complete."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
            header_end = data.find(b"\r\n\r\n")
            if header_end >= 0:
                length = [
                    line.split(b":", 1)[1]
                    for line in data[:header_end].split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(data) >= header_end + 4 + int(length[0]):
                    break
        return data


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:100]
    return int(response.split(b" ", 2)[1])


def chunked(body: bytes, size: int) -> list[bytes]:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)
    ]
    return [*parts, b"0\r\n\r\n"]


# ---------------------------------------------------------------- chunked bodies


def test_chunked_propfind_body_is_read_and_the_connection_stays_usable(live):
    conn = http.client.HTTPConnection("127.0.0.1", port_of(live), timeout=10)
    try:
        parts = [CTAG_ONLY[i : i + 17] for i in range(0, len(CTAG_ONLY), 17)]
        conn.request(
            "PROPFIND",
            CAL,
            body=iter(parts),
            encode_chunked=True,
            headers={"Authorization": AUTH, "Depth": "0", "Content-Type": "application/xml"},
        )
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 207
        assert "getctag" in text and "displayname" not in text  # the body was honoured
        # Same keep-alive connection: the next request is parsed cleanly (no stray body bytes).
        conn.request("PROPFIND", CAL, body=CTAG_ONLY, headers={"Authorization": AUTH, "Depth": "0"})
        again = conn.getresponse()
        assert again.status == 207 and "getctag" in again.read().decode()
    finally:
        conn.close()


def test_chunked_body_by_hand_with_small_chunks(live):
    head = (
        f"PROPFIND {CAL} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nDepth: 0\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    response = raw_exchange(port_of(live), head, chunked(CTAG_ONLY, 5))
    assert status_of(response) == 207
    assert b"getctag" in response and b"displayname" not in response


def test_chunked_report_body_is_read(live):
    body = (
        b'<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
        b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
        b'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/>'
        b"</C:comp-filter></C:filter></C:calendar-query>"
    )
    head = (
        f"REPORT {CAL} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nDepth: 1\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    response = raw_exchange(port_of(live), head, chunked(body, 40))
    assert status_of(response) == 207
    assert response.count(b"<D:getetag>") == 5


# ---------------------------------------------------------------- size limit


@pytest.fixture(scope="module")
def small_body(live):
    config = ServerConfig()
    config.max_body_size = 2048
    server = start_server(live.db_url, config, load_demo=False)
    yield server
    server.server.stop()


def padded_propfind(size: int) -> bytes:
    pad = size - len(CTAG_ONLY) - len(b"<!---->")
    return CTAG_ONLY.replace(b"<D:prop>", b"<!--" + b"x" * pad + b"--><D:prop>")


def test_body_at_the_limit_is_accepted(small_body):
    body = padded_propfind(2048)
    assert len(body) == 2048
    resp = small_body.request("PROPFIND", CAL, body, headers={"Depth": "0"})
    assert resp.status_code == 207


def test_declared_length_over_the_limit_is_413_without_reading_the_body(small_body):
    head = (
        f"PROPFIND {CAL} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nDepth: 0\r\n"
        "Content-Length: 50000000\r\n\r\n"
    ).encode()
    started = time.monotonic()
    response = raw_exchange(port_of(small_body), head)  # no body sent at all
    assert status_of(response) == 413
    assert time.monotonic() - started < 5


def test_chunked_body_over_the_limit_is_413(small_body):
    head = (
        f"PROPFIND {CAL} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nDepth: 0\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    response = raw_exchange(port_of(small_body), head, chunked(padded_propfind(2049), 512))
    assert status_of(response) == 413


def test_put_over_the_limit_is_the_caldav_precondition(small_body):
    """A calendar object over the limit is RFC 4791's max-resource-size (403), after login."""
    event = b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"y" * 3000 + b"\r\nEND:VCALENDAR\r\n"
    resp = small_body.request("PUT", CAL + "big.ics", event, headers={"Content-Type": "text/calendar"})
    assert resp.status_code == 403
    assert b"max-resource-size" in resp.content
    assert resp.headers.get("Connection", "").lower() == "close"
    anonymous = small_body.request(
        "PUT", CAL + "big.ics", event, user=None, headers={"Content-Type": "text/calendar"}
    )
    assert anonymous.status_code == 401


# ---------------------------------------------------------------- hostile XML

XXE_FILE = """<?xml version="1.0" encoding="{enc}"?>
<!DOCTYPE D:propfind [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>"""

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop></D:propfind>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE D:propfind [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"""

PLAIN_DOCTYPE = """<?xml version="1.0"?>
<!DOCTYPE D:propfind>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"""

HOSTILE = {
    "xxe-utf8": XXE_FILE.format(enc="utf-8").encode("utf-8"),
    "xxe-utf16": XXE_FILE.format(enc="UTF-16").encode("utf-16"),
    "xxe-utf16-be-no-bom": XXE_FILE.format(enc="UTF-16BE").encode("utf-16-be"),
    "billion-laughs": LAUGHS.encode(),
    "billion-laughs-utf16": LAUGHS.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode(
        "utf-16"
    ),
    "parameter-entity": PARAMETER_ENTITY.encode(),
    "plain-doctype": PLAIN_DOCTYPE.encode(),
}


@pytest.mark.parametrize("method,path", [("PROPFIND", "/anna_maier/"), ("PROPPATCH", CAL), ("REPORT", CAL)])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_xml_with_a_doctype_is_refused_without_reading_anything(live, name, method, path):
    started = time.monotonic()
    resp = live.request(
        method, path, HOSTILE[name], headers={"Depth": "0", "Content-Type": "application/xml"}
    )
    assert resp.status_code == 400, (resp.status_code, resp.text[:300])
    assert b"root:" not in resp.content and b"lollol" not in resp.content
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("method,path", [("PROPFIND", "/anna_maier/"), ("PROPPATCH", CAL), ("REPORT", CAL)])
@pytest.mark.parametrize("body", [b"<not-closed", b"plain text", b"<a><b></a>", b"\xff\xfe\x00garbage"])
def test_malformed_xml_is_400(live, method, path, body):
    resp = live.request(method, path, body, headers={"Depth": "0"})
    assert resp.status_code == 400


def test_invalid_content_length_is_400(live):
    for value in ("abc", "-5", "1e3"):
        head = (
            f"PROPFIND {CAL} HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\nDepth: 0\r\n"
            f"Content-Length: {value}\r\nConnection: close\r\n\r\n"
        ).encode()
        assert status_of(raw_exchange(port_of(live), head)) == 400, value


# ---------------------------------------------------------------- methods a calendar does not offer


@pytest.mark.parametrize(
    "method,expected",
    [
        ("COPY", 403),
        ("MOVE", 403),
        ("MKCOL", 403),
        ("MKCALENDAR", 403),
        ("LOCK", 405),
        ("UNLOCK", 405),
        ("POST", 405),
        ("ACL", 403),
        ("BREW", 405),
    ],
)
def test_unsupported_methods_are_refused_not_500(live, method, expected):
    resp = live.request(method, CAL, headers={"Destination": live.url("/anna_maier/calendar2/")})
    assert resp.status_code == expected
