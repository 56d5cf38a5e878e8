"""The one module that reaches into cheroot's internals (issue 17: server internals behind an
adapter), so that a cheroot upgrade is checked in one place.

cheroot documents neither its request queue (`ThreadPool._queue`, and `get` bound to it),
its connection manager's selector loop (`_run`, `_selector`, `_from_server_socket`,
`_expire`, `_remove_invalid_sockets`, `_stop_requested`, `HTTPServer._connections`), nor
its connection reader's buffer (`_pyio.BufferedReader`'s `_read_buf`, `_read_pos`,
`_read_lock`). davserver/server.py, connections.py and framing.py use them only through
the names below; tests/test_cheroot_adapter.py pins the cheroot release they were checked
against and checks that each one still exists and behaves as assumed.
"""

from __future__ import annotations

import selectors
from collections.abc import Callable
from typing import Any, Protocol

from cheroot.connections import ConnectionManager
from cheroot.server import HTTPServer


class RequestQueue(Protocol):
    """What cheroot's worker pool calls on its queue (ThreadPool.put, .qsize, workers' get)."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None: ...

    def get(self, block: bool = True, timeout: float | None = None) -> Any: ...

    def qsize(self) -> int: ...


def replace_request_queue(server: HTTPServer, queue: RequestQueue) -> None:
    """Let cheroot's worker pool hand connections out through `queue`: the pool puts through
    `_queue.put` and its workers take with `pool.get`, bound to the old queue at creation."""
    pool = server.requests
    pool._queue = queue
    pool.get = queue.get


def replace_connection_manager(server: HTTPServer, make: Callable[[HTTPServer], ConnectionManager]) -> None:
    """Serve the server's connections with `make(server)` instead of cheroot's manager (after
    prepare(): cheroot made its own there, whose selector watched only the listening socket)."""
    plain = server._connections
    server._connections = make(server)
    plain._selector.close()


def unread(rfile: Any) -> bytes:
    """The bytes a connection's reader has received and not yet handed out."""
    return bytes(rfile._read_buf[rfile._read_pos :])


def buffered_bytes(rfile: Any) -> int:
    """How many received bytes a connection's reader holds, unread."""
    return len(rfile._read_buf) - rfile._read_pos


def set_unread(rfile: Any, data: bytes) -> None:
    """Make `data` what the connection's reader hands out next, before reading its socket."""
    with rfile._read_lock:
        rfile._read_buf = data
        rfile._read_pos = 0


class SelectorLoop(ConnectionManager):
    """cheroot's connection manager with its selector loop open to a subclass: `loop()` runs
    instead of cheroot's `_run`, and the methods below name the parts of it that loop uses."""

    def _run(self, expiration_interval: float) -> None:
        self.loop(expiration_interval)

    def loop(self, expiration_interval: float) -> None:
        """The selector loop, until `stopping`; cheroot's run() calls it in its own thread."""
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        """Whether stop() was called: the loop should return."""
        return self._stop_requested

    def select(self, timeout: float) -> list[tuple[int, Any]]:
        """(file descriptor, data) of every watched socket that is ready."""
        return self._selector.select(timeout=timeout)

    def watch(self, fd: int, data: Any, events: int = selectors.EVENT_READ) -> None:
        self._selector.register(fd, events, data=data)

    def unwatch(self, fd: int) -> None:
        self._selector.unregister(fd)

    def drop_invalid_sockets(self) -> None:
        """Unwatch and close connections whose sockets the selector cannot poll any more."""
        self._remove_invalid_sockets()

    def accept_plain(self) -> Any:
        """A new connection from the listening socket (cheroot's own accept), or None."""
        return self._from_server_socket(self.server.socket)

    def expire(self, threshold: float) -> None:
        """Close watched connections last used before `threshold` (a time.time() value)."""
        self._expire(threshold=threshold)
