"""Strict HTTP/1.1 framing in front of cheroot: no request is read two ways.

Behind a proxy, a request whose end two parsers see differently smuggles a second request
onto the connection. cheroot takes the last of two Content-Length headers, reads a
negative chunk size as the last chunk and lets NUL and bare CR through in header values;
here every such request is refused with 400 and the connection closed (RFC 9112 §6.3,
§7.1, RFC 9110 §5.5). An answer given before the body was read (a failed login) closes
the connection rather than reading the body, and "100 Continue" waits until the
application reads the body. `harden(server)` installs the checks on a cheroot server and
`guard(app)` the WSGI side: a path that is not UTF-8 or holds control characters is 400
before anything (login included) looks at it, and a HEAD answer never carries a body.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
from collections.abc import Callable, Iterable
from contextvars import ContextVar

from cheroot import server as cheroot_server

from davserver.cheroot_adapter import buffered_bytes

_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}[ \t]*(;[^\r\n\x00]*)?\r\n")
_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # HTAB is the only control allowed
_PATH_CONTROL = re.compile("[\x00-\x1f\x7f]")


class _Recorder:
    """A connection file that keeps the header lines cheroot reads through it."""

    def __init__(self, rfile) -> None:
        self._rfile = rfile
        self.lines: list[bytes] = []

    def readline(self, *args) -> bytes:
        line = self._rfile.readline(*args)
        self.lines.append(line)
        return line

    def __getattr__(self, name: str):
        return getattr(self._rfile, name)


def check_header_lines(lines: list[bytes]) -> None:
    """ValueError (cheroot answers 400 and closes) for any ambiguous header block."""
    lengths: set[bytes] = set()
    chunked = False
    for raw in lines:
        if raw == b"\r\n":
            break
        line = raw[:-2]
        if line[:1] in (b" ", b"\t"):
            raise ValueError("folded header lines are not accepted")
        name, _, value = line.partition(b":")
        if not _NAME.fullmatch(name):
            raise ValueError("invalid header name")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise ValueError("control character in a header value")
        key = name.lower()
        if key == b"content-length":
            for part in value.split(b","):
                if not part.strip().isdigit():
                    raise ValueError("invalid Content-Length")
                lengths.add(part.strip().lstrip(b"0") or b"0")
        elif key == b"transfer-encoding":
            chunked = True
    if len(lengths) > 1:
        raise ValueError("conflicting Content-Length headers")
    if lengths and chunked:
        raise ValueError("Content-Length together with Transfer-Encoding")


class StrictHeaderReader(cheroot_server.HeaderReader):
    def __call__(self, rfile, hdict=None):
        recorder = _Recorder(rfile)
        hdict = super().__call__(recorder, hdict)
        check_header_lines(recorder.lines)
        return hdict


class _ChunkSizeGuard:
    """The connection file as a chunked body reader sees it: every chunk-size line must be
    hexadecimal (cheroot would read "-5" as the last chunk and the rest as a new request)."""

    def __init__(self, rfile) -> None:
        self._rfile = rfile
        self._trailer = False

    def readline(self, *args) -> bytes:
        line = self._rfile.readline(*args)
        if self._trailer:
            if _BAD_VALUE.search(line[:-2]) or not line.endswith(b"\r\n"):
                raise ValueError("control character in a chunk trailer")
            return line
        if not _CHUNK_SIZE.fullmatch(line):
            raise ValueError("invalid chunk size line")
        self._trailer = int(line.split(b";")[0].strip(), 16) == 0
        return line

    def __getattr__(self, name: str):
        return getattr(self._rfile, name)


# The socket of the request this thread answers (for client_gone).
_CLIENT: ContextVar[socket.socket | None] = ContextVar("client_socket", default=None)


def client_gone() -> bool:
    """Whether the client of the current request has closed its connection (long work
    for it may stop). False when unknown: TLS, no request, or data waiting to be read."""
    sock = _CLIENT.get()
    if sock is None or isinstance(sock, ssl.SSLSocket) or not isinstance(sock, socket.socket):
        return False
    try:
        # select first: recv on a socket with a timeout waits for data before it peeks.
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, ValueError):
        return False
    except OSError:
        return True


class _ContinueOnFirstRead:
    """The connection file for a request with "Expect: 100-continue": the interim answer goes
    out only when the application reads the body, that is after the login (cheroot sent it
    as soon as the head arrived, and the client sent its body to anyone)."""

    def __init__(self, rfile, request: StrictRequest) -> None:
        self._rfile = rfile
        self._request = request

    def _continue(self) -> None:
        request = self._request
        if not request.continue_sent and not request.sent_headers:
            request.continue_sent = True
            request.conn.wfile.write(request.server.protocol.encode("ascii") + b" 100 Continue\r\n\r\n")

    def read(self, *args) -> bytes:
        self._continue()
        return self._rfile.read(*args)

    def readline(self, *args) -> bytes:
        self._continue()
        return self._rfile.readline(*args)

    def __getattr__(self, name: str):
        return getattr(self._rfile, name)


class StrictRequest(cheroot_server.HTTPRequest):
    strict_header_reader = StrictHeaderReader()
    continue_deferred = False  # the client waits for "100 Continue" before its body
    continue_sent = False
    _socket_file = None  # the connection's own file while the application answers

    def header_reader(self, rfile, hdict):
        """cheroot's header reading, strict; "Expect: 100-continue" kept from cheroot, which
        would answer it before the application has checked the login."""
        hdict = self.strict_header_reader(rfile, hdict)
        if hdict.get(b"Expect", b"").strip().lower() == b"100-continue":
            del hdict[b"Expect"]
            self.continue_deferred = True
        return hdict

    def respond(self) -> None:
        token = _CLIENT.set(self.conn.socket)
        plain = self._socket_file = self.conn.rfile
        body_file = _ContinueOnFirstRead(plain, self) if self.continue_deferred else plain
        if self.chunked_read:
            body_file = _ChunkSizeGuard(body_file)  # only the body reader made here sees it
        self.conn.rfile = body_file
        try:
            return super().respond()
        finally:
            self.conn.rfile = plain
            _CLIENT.reset(token)

    def body_left_on_socket(self) -> bool:
        """Whether answering now leaves body bytes the server would have to wait for: the
        rest of a chunked body, a body the client holds back until "100 Continue", or more
        of a body than the connection has received. A request answered without its body
        being read (401 before the body) then closes the connection instead."""
        if self._socket_file is None:  # an error answer before the request was handed over
            return False
        if self.chunked_read:
            return not getattr(self.rfile, "closed", True)
        remaining = getattr(self.rfile, "remaining", 0)
        if remaining <= 0:
            return False
        if self.continue_deferred and not self.continue_sent:
            return True
        return remaining > buffered_bytes(self._socket_file)

    def send_headers(self) -> None:
        # An answer that says "Connection: close" (a body we could not read) really closes:
        # cheroot would otherwise read what is left of the body as the next request. An
        # answer given before the body was read closes too, unless the body is in memory
        # already: cheroot would read it all (a 10 MB upload) before answering.
        if any(k.lower() == b"connection" and v.lower() == b"close" for k, v in self.outheaders):
            self.close_connection = True
        elif not self.close_connection and self.body_left_on_socket():
            self.close_connection = True
        super().send_headers()


class StrictConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = StrictRequest


def harden(server: cheroot_server.HTTPServer) -> None:
    """Refuse ambiguous framing on every connection of this cheroot server."""
    server.ConnectionClass = StrictConnection


class Guarded:
    """The WSGI application behind the path check and HEAD without a body (its other
    attributes, e.g. wsgidav's provider_map, stay reachable)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __getattr__(self, name: str):
        return getattr(self.app, name)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        try:
            decoded = path.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            decoded = None
        head = environ.get("REQUEST_METHOD") == "HEAD"
        if decoded is None or _PATH_CONTROL.search(decoded):
            body = b"invalid characters in the request path\n"
            start_response(
                "400 Bad Request",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("Connection", "close")],
            )
            return [] if head else [body]
        result = self.app(environ, start_response)
        return _without_body(result) if head else result


def guard(app: Callable) -> Guarded:
    return Guarded(app)


def _without_body(result: Iterable[bytes]) -> Iterable[bytes]:
    """Run the answer to its end (headers, logging) but send none of its bytes."""
    try:
        for _ in result:
            pass
    finally:
        if hasattr(result, "close"):
            result.close()
    return []
