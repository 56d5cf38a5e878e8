"""A connection gets a worker thread only once its request has arrived.

cheroot hands a new connection to a worker at once, and a keep-alive connection as soon as
its first byte arrives; the worker then waits for the rest. Sixteen connections that send
nothing, or send their request one byte at a time (slowloris), held all sixteen workers and
every other client waited. Here the connection thread (cheroot's selector loop) reads what
a connection sends without blocking, into the connection's own read buffer, and hands it
to a worker only when the request head is complete (and a small body with it when the
request's credentials passed the login moments ago, davserver.recent_logins: any other
request is answered 401 or has its login checked before its body is read).
A connection whose request is not complete within the server timeout is closed by
cheroot's idle expiry, which counts from the connection's last complete request. TLS
connections get the same: their handshake runs here without blocking (cheroot did it in
this thread, blocking: one client that never finished its handshake stopped every accept
for the server timeout), then their decrypted bytes are read ahead like plain ones.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import socket
import ssl
import time

from davserver.cheroot_adapter import SelectorLoop, set_unread, unread
from davserver.recent_logins import RECENT_LOGINS

# Read ahead at most this much per connection before a worker takes over: a request head
# and a typical calendar object (larger bodies are read by the worker, as before).
READ_AHEAD = 64 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# Only a plain number: anything else ("1e3", "-5", two headers) the worker refuses at once.
_EXPECT = re.compile(rb"\nexpect:", re.IGNORECASE)
_AUTHORIZATION = re.compile(rb"\nauthorization:([^\r\n]*)", re.IGNORECASE)
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d{1,12})[ \t]*\r?(?=\n)", re.IGNORECASE)


def request_ready(buffer: bytes) -> bool:
    """Whether `buffer` holds a whole request head, and its body if small enough to wait for."""
    data = buffer.lstrip(b"\r\n")  # blank lines between keep-alive requests are allowed
    if len(data) >= READ_AHEAD:
        return True
    end = _HEAD_END.search(data)
    if end is None:
        return False
    head = data[: end.end()]
    if _EXPECT.search(head):
        return True  # the client sends its body only after the login, with "100 Continue"
    authorization = _AUTHORIZATION.search(head)
    if authorization is None or not RECENT_LOGINS.knows(authorization.group(1)):
        return True  # the login first (a worker), the body only after it
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        return True  # no body, a chunked or an invalid one: the worker reads or refuses it
    wanted = end.end() + int(length.group(1))
    return wanted > READ_AHEAD or len(data) >= wanted


class _TLSHandshake:
    """A TLS connection whose handshake is under way; the connection thread drives it."""

    __slots__ = ("addr", "events", "last_used", "sock")

    def __init__(self, sock: ssl.SSLSocket, addr) -> None:
        self.sock, self.addr = sock, addr
        self.events = selectors.EVENT_READ  # what the handshake waits for
        self.last_used = time.time()  # the whole handshake and request head share one deadline

    def close(self) -> None:
        self.sock.close()


_NOT_TLS = b"This server only speaks HTTPS on this port.\n"
_PLAIN_HTTP_ON_TLS = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_NOT_TLS), _NOT_TLS)
)


class RequestFirstConnections(SelectorLoop):
    """cheroot's connection manager, dispatching connections with their request; TLS
    handshakes run here too, without blocking (cheroot's blocked its accept loop)."""

    def loop(self, expiration_interval: float) -> None:
        last_expiration_check = time.time()
        tls = self.server.ssl_adapter is not None
        while not self.stopping:
            try:
                active = self.select(expiration_interval)
            except OSError:
                self.drop_invalid_sockets()
                continue
            for sock_fd, conn in active:
                if conn is self.server:
                    if tls:
                        self._start_handshake()
                        continue
                    new = self.accept_plain()
                    if new is not None:  # wait for its request without a worker
                        new.last_used = time.time()
                        self.watch(new.socket.fileno(), new)
                elif isinstance(conn, _TLSHandshake):
                    self._continue_handshake(sock_fd, conn)
                else:
                    self._read_ahead(sock_fd, conn)
            now = time.time()
            if now - last_expiration_check > expiration_interval:
                self.expire(now - self.server.timeout)
                last_expiration_check = now

    def put(self, conn) -> None:
        """A kept-alive connection back from its worker; decrypted TLS bytes the selector
        cannot see (a pipelined request) go straight back to a worker."""
        if isinstance(conn.socket, ssl.SSLSocket) and conn.socket.pending():
            conn.last_used = time.time()
            self.server.process_conn(conn)
            return
        super().put(conn)

    def _start_handshake(self) -> None:
        try:
            sock, addr = self.server.socket.accept()
        except OSError:  # nothing to accept after all, or the listener closed
            return
        try:
            sock.setblocking(False)
            context = self.server.ssl_adapter.context
            tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError:
            sock.close()
            return
        pending = _TLSHandshake(tls, addr)
        self.watch(tls.fileno(), pending)
        self._continue_handshake(tls.fileno(), pending)  # the ClientHello may be here already

    def _continue_handshake(self, sock_fd: int, pending: _TLSHandshake) -> None:
        tls = pending.sock
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._wait_for(sock_fd, pending, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:  # rare: the server's flight did not fit the send buffer
            self._wait_for(sock_fd, pending, selectors.EVENT_WRITE)
            return
        except (ssl.SSLError, OSError) as exc:
            self.unwatch(sock_fd)
            if "http request" in str(exc).lower():  # answered below TLS: the client speaks none
                with contextlib.suppress(OSError):
                    while os.read(sock_fd, 65536):  # unread bytes would make close() a reset
                        pass
                with contextlib.suppress(OSError):
                    os.write(sock_fd, _PLAIN_HTTP_ON_TLS)
            tls.close()
            return
        self.unwatch(sock_fd)
        tls.settimeout(self.server.timeout)
        adapter = self.server.ssl_adapter
        conn = self.server.ConnectionClass(self.server, tls, adapter.makefile)
        if isinstance(pending.addr, tuple):
            conn.remote_addr, conn.remote_port = pending.addr[:2]
        conn.ssl_env = adapter.get_environ(tls)
        conn.last_used = pending.last_used
        self.watch(sock_fd, conn)
        self._read_ahead(sock_fd, conn)  # the request may have come with the handshake's end

    def _wait_for(self, sock_fd: int, pending: _TLSHandshake, events: int) -> None:
        if pending.events != events:
            pending.events = events
            self.unwatch(sock_fd)
            self.watch(sock_fd, pending, events)

    def _receive(self, sock, size: int) -> bytes | None:
        """Up to `size` received bytes without waiting; None: nothing yet; b"": closed."""
        if not isinstance(sock, ssl.SSLSocket):
            try:
                # The selector said readable: Python's poll before recv returns at once.
                return sock.recv(size, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError:
                return b""
        sock.setblocking(False)
        try:
            data = sock.recv(size)
            while data and sock.pending() and len(data) < size:  # decrypted, unseen by select
                data += sock.recv(size - len(data))
            return data
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None  # a partial record, or a renegotiation: wait for more
        except OSError:
            return b""
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(self.server.timeout)

    def _read_ahead(self, sock_fd: int, conn) -> None:
        rfile = conn.rfile
        buffered = unread(rfile)
        data = self._receive(conn.socket, READ_AHEAD - len(buffered) or 1)
        if data is None:
            return
        if not data:  # closed by the client (or reset): answer only a request it completed
            self.unwatch(sock_fd)
            if buffered and request_ready(buffered):
                self.server.process_conn(conn)
            else:
                conn.close()
            return
        buffered += data
        set_unread(rfile, buffered)
        if request_ready(buffered):
            self.unwatch(sock_fd)
            self.server.process_conn(conn)
