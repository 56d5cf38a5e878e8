"""A connection gets a worker thread only once its request has arrived.

cheroot hands a new connection to a worker at once, and a keep-alive connection as soon as
its first byte arrives; the worker then waits for the rest. Sixteen connections that send
nothing, or send their request one byte at a time (slowloris), held all sixteen workers and
every other client waited. Here the connection thread (cheroot's selector loop) reads what
a plain-HTTP connection sends without blocking, into the connection's own read buffer, and
hands it to a worker only when the request head is complete (and a small body with it).
A connection whose request is not complete within the server timeout is closed by
cheroot's idle expiry, which counts from the connection's last complete request. TLS
connections keep cheroot's behaviour (their bytes can only be read after decryption);
a TLS-terminating proxy in front is the documented production set-up.
"""

from __future__ import annotations

import re
import selectors
import socket
import time

from cheroot.connections import ConnectionManager

# Read ahead at most this much per connection before a worker takes over: a request head
# and a typical calendar object (larger bodies are read by the worker, as before).
READ_AHEAD = 64 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
# Only a plain number: anything else ("1e3", "-5", two headers) the worker refuses at once.
_EXPECT = re.compile(rb"\nexpect:", re.IGNORECASE)
_AUTHORIZATION = re.compile(rb"\nauthorization:", re.IGNORECASE)
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
    if not _AUTHORIZATION.search(head):
        return True  # answered 401 at once, without waiting for (or reading) the body
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        return True  # no body, a chunked or an invalid one: the worker reads or refuses it
    wanted = end.end() + int(length.group(1))
    return wanted > READ_AHEAD or len(data) >= wanted


class RequestFirstConnections(ConnectionManager):
    """cheroot's connection manager, dispatching plain-HTTP connections with their request."""

    def _run(self, expiration_interval):
        last_expiration_check = time.time()
        while not self._stop_requested:
            try:
                active = self._selector.select(timeout=expiration_interval)
            except OSError:
                self._remove_invalid_sockets()
                continue
            for sock_fd, conn in active:
                if conn is self.server:
                    new = self._from_server_socket(self.server.socket)
                    if new is None:
                        continue
                    if self.server.ssl_adapter is not None:
                        self.server.process_conn(new)
                    else:  # wait for its request without a worker
                        new.last_used = time.time()
                        self._selector.register(new.socket.fileno(), selectors.EVENT_READ, data=new)
                    continue
                if self.server.ssl_adapter is not None:
                    self._selector.unregister(sock_fd)
                    self.server.process_conn(conn)
                    continue
                self._read_ahead(sock_fd, conn)
            now = time.time()
            if now - last_expiration_check > expiration_interval:
                self._expire(threshold=now - self.server.timeout)
                last_expiration_check = now

    def _read_ahead(self, sock_fd: int, conn) -> None:
        rfile = conn.rfile
        buffered = rfile._read_buf[rfile._read_pos :]  # cheroot's reader is _pyio's BufferedReader
        try:
            # The selector said readable: Python's poll before recv returns at once.
            data = conn.socket.recv(READ_AHEAD - len(buffered) or 1, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # closed by the client (or reset): nothing left to answer
            self._selector.unregister(sock_fd)
            if buffered:
                self.server.process_conn(conn)
            else:
                conn.close()
            return
        with rfile._read_lock:
            rfile._read_buf = bytes(buffered) + data
            rfile._read_pos = 0
        if request_ready(rfile._read_buf):
            self._selector.unregister(sock_fd)
            self.server.process_conn(conn)
