"""Authentication before the body is read, through the real server: a request without valid
credentials is answered 401 before its body is sent, whatever its size, and the connection
is closed instead of the body being read; "100 Continue" is sent only after the login."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import pytest

from davserver.config import ServerConfig
from tests.conftest import DEMO_PASSWORD, DEMO_USER, start_server

TEN_MB = 10_000_000
GOOD = "Basic " + base64.b64encode(f"{DEMO_USER}:{DEMO_PASSWORD}".encode()).decode()
WRONG = "Basic " + base64.b64encode(f"{DEMO_USER}:not-the-password".encode()).decode()
EVENT = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:continue-1\r\n"
    b"DTSTAMP:20260301T000000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
    b"SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator:
    """A body limit above 10 MB: the body is one the server would accept after a login."""
    path = tmp_path_factory.mktemp("db") / "praxis.db"
    live = start_server(f"sqlite:///{path}", ServerConfig(max_body_size=20_000_000))
    yield live
    live.server.stop()


def head(method: str, path: str, authorization: str | None, *extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *extra]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One response (status, lower-case headers, body), read within `timeout` seconds."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    return int(lines[0].split(" ")[1]), headers, rest


def closed_by_server(sock: socket.socket, timeout: float = 5.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server.bind_addr[1]), timeout=10)


@pytest.mark.parametrize("size", [TEN_MB, 10_000], ids=["10MB", "10KB"])
@pytest.mark.parametrize("authorization", [WRONG, None], ids=["wrong-password", "no-credentials"])
def test_a_put_without_a_valid_login_gets_401_before_its_body_is_sent(server, authorization, size):
    with connect(server) as sock:
        sock.sendall(
            head(
                "PUT",
                "/anna_maier/calendar/big.ics",
                authorization,
                "Content-Type: text/calendar",
                f"Content-Length: {size}",
            )
        )
        started = time.monotonic()
        status, headers, _ = read_response(sock)  # not one byte of the body sent
        assert status == 401 and time.monotonic() - started < 5
        assert headers["connection"] == "close"
        assert closed_by_server(sock)


def test_a_chunked_put_without_a_valid_login_gets_401_before_its_body_is_sent(server):
    with connect(server) as sock:
        sock.sendall(
            head("PUT", "/anna_maier/calendar/big.ics", WRONG, "Transfer-Encoding: chunked")
            + b"400\r\n"
            + b"x" * 1024
            + b"\r\n"
        )
        status, headers, _ = read_response(sock)
        assert status == 401 and headers["connection"] == "close"
        assert closed_by_server(sock)


def test_100_continue_only_after_the_login(server):
    with connect(server) as sock:
        sock.sendall(
            head(
                "PUT",
                "/anna_maier/calendar/big.ics",
                WRONG,
                f"Content-Length: {TEN_MB}",
                "Expect: 100-continue",
            )
        )
        status, headers, _ = read_response(sock)
        assert status == 401 and headers["connection"] == "close"  # no "100 Continue" first
    with connect(server) as sock:
        sock.sendall(
            head(
                "PUT",
                "/anna_maier/calendar/continue-1.ics",
                GOOD,
                "Content-Type: text/calendar",
                f"Content-Length: {len(EVENT)}",
                "Expect: 100-continue",
            )
        )
        status, _, _ = read_response(sock)
        assert status == 100
        sock.sendall(EVENT)
        status, headers, _ = read_response(sock)
        assert status == 201 and headers.get("connection") != "close"


def test_a_small_body_already_received_keeps_the_connection(server):
    """A client's first request often goes without credentials: its 401 must not cost the
    connection when the whole (small) body has arrived with the head."""
    body = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>'
    with connect(server) as sock:
        request = head("PROPFIND", "/anna_maier/", None, "Depth: 0", f"Content-Length: {len(body)}")
        sock.sendall(request + body)
        status, headers, _ = read_response(sock)
        assert status == 401 and headers.get("connection") != "close"
        request = head("PROPFIND", "/anna_maier/", GOOD, "Depth: 0", f"Content-Length: {len(body)}")
        sock.sendall(request + body)
        status, _, _ = read_response(sock)
        assert status == 207


def test_a_valid_login_reads_the_whole_body(server):
    """The same path with credentials: the body is read (here refused as not iCalendar)."""
    body = b"x" * 200_000
    with connect(server) as sock:
        sock.sendall(
            head(
                "PUT",
                "/anna_maier/calendar/not-ical.ics",
                GOOD,
                "Content-Type: text/calendar",
                f"Content-Length: {len(body)}",
            )
        )
        sock.sendall(body)
        status, headers, _ = read_response(sock)
        assert status in (400, 403, 415) and headers.get("connection") != "close"


def test_slow_small_uploads_of_a_logged_in_device_hold_no_worker(server):
    """Credentials that passed the login moments ago: the connection thread waits for a
    small body itself, so 20 slow uploads (8 worker threads) do not stop other requests."""
    with connect(server) as sock:
        sock.sendall(head("PROPFIND", "/anna_maier/", GOOD, "Depth: 0", "Content-Length: 0"))
        assert read_response(sock)[0] == 207
    slow = []
    try:
        for i in range(20):
            sock = connect(server)
            sock.sendall(
                head(
                    "PUT",
                    f"/anna_maier/calendar/slow-{i}.ics",
                    GOOD,
                    "Content-Type: text/calendar",
                    f"Content-Length: {len(EVENT)}",
                )
                + EVENT[:20]
            )
            slow.append(sock)
        time.sleep(0.2)  # were they with workers, the workers would now wait for the rest
        with connect(server) as sock:
            started = time.monotonic()
            sock.sendall(head("PROPFIND", "/anna_maier/", GOOD, "Depth: 0", "Content-Length: 0"))
            assert read_response(sock)[0] == 207
            assert time.monotonic() - started < 2
    finally:
        for sock in slow:
            sock.close()
