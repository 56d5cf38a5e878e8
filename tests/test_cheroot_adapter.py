"""davserver/cheroot_adapter.py against the installed cheroot.

The adapter reads and replaces what cheroot does not document (the worker pool's queue, the
connection manager's selector loop, the connection reader's buffer). The first test fails on
any other cheroot release than the one it was checked against: re-run this file against the
new one, check the adapter, then move the pin. The others check that each internal exists and
behaves as the adapter assumes, without a running server.
"""

from __future__ import annotations

import inspect
import selectors
import socket
import threading

import cheroot
from cheroot import wsgi
from cheroot.connections import ConnectionManager
from cheroot.makefile import StreamReader
from cheroot.server import ChunkedRFile, HTTPConnection, HTTPRequest, KnownLengthRFile
from cheroot.workers.threadpool import ThreadPool, WorkerThread

from davserver import cheroot_adapter
from davserver.connections import RequestFirstConnections
from davserver.server import MostRecentlyIdleFirst

# The cheroot release (major.minor) whose internals davserver/cheroot_adapter.py was checked against.
CHEROOT_CHECKED = "11.1"


def test_cheroot_is_the_release_the_adapter_was_checked_against() -> None:
    installed = ".".join(cheroot.__version__.split(".")[:2])
    assert installed == CHEROOT_CHECKED, (
        f"cheroot {cheroot.__version__} is installed; davserver/cheroot_adapter.py reads cheroot "
        f"{CHEROOT_CHECKED}'s internals (ThreadPool._queue, ConnectionManager._run/_selector/..., "
        "the reader's _read_buf): run tests/test_cheroot_adapter.py, check them, then move the pin"
    )


def test_the_connection_manager_internals_exist() -> None:
    """A release that renames them fails here before a server silently stops accepting."""
    for name in ("_run", "_from_server_socket", "_expire", "_remove_invalid_sockets", "put", "run", "stop"):
        assert callable(getattr(ConnectionManager, name, None)), name
    assert list(inspect.signature(ConnectionManager._run).parameters) == ["self", "expiration_interval"]
    assert list(inspect.signature(ConnectionManager._expire).parameters) == ["self", "threshold"]
    # run() calls _run(): the loop the adapter hands to loop().
    assert "self._run(expiration_interval)" in inspect.getsource(ConnectionManager.run)
    # prepare() makes the manager the adapter replaces, under this name.
    assert "self._connections = connections.ConnectionManager(self)" in inspect.getsource(wsgi.Server.prepare)


def test_our_loop_shadows_nothing_of_cheroot_but_run() -> None:
    """The loop's own helpers must not override a cheroot method by accident."""
    ours = {n for n, v in vars(RequestFirstConnections).items() if callable(v)}
    adapter = vars(cheroot_adapter.SelectorLoop)
    ours |= {n for n, v in adapter.items() if callable(v) or isinstance(v, property)}
    assert ours & set(dir(ConnectionManager)) == {"_run", "put"}


def test_the_selector_loop_watches_accepts_and_expires() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = wsgi.Server(listener.getsockname(), lambda e, s: [])
    server.socket = listener
    server.timeout = 10
    loop = cheroot_adapter.SelectorLoop(server)
    client = socket.create_connection(listener.getsockname())
    try:
        assert not loop.stopping
        ready = loop.select(2)
        assert [data for _, data in ready] == [server]  # the listening socket, as cheroot registered it
        conn = loop.accept_plain()
        assert isinstance(conn, HTTPConnection) and isinstance(conn.rfile, StreamReader)
        conn.last_used = 0.0
        loop.watch(conn.socket.fileno(), conn)
        client.sendall(b"x")
        assert any(data is conn for _, data in loop.select(2))
        loop.expire(threshold=1.0)  # last used before it: closed and unwatched
        assert conn.socket is None or conn.socket.fileno() == -1
        assert all(data is server for _, data in loop.select(0))
        loop.stop()
        assert loop.stopping
    finally:
        client.close()
        listener.close()


def test_replace_connection_manager_closes_cheroots_selector() -> None:
    server = wsgi.Server(("127.0.0.1", 0), lambda e, s: [])
    server.prepare()
    try:
        plain = server._connections
        cheroot_adapter.replace_connection_manager(server, RequestFirstConnections)
        assert isinstance(server._connections, RequestFirstConnections)
        assert plain._selector._selector.get_map() is None  # closed: it watched only the listener
    finally:
        server.stop()


def test_the_reader_buffer_is_what_reads_hand_out() -> None:
    left, right = socket.socketpair()
    try:
        reader = StreamReader(left, "rb")
        right.sendall(b"GET / HTTP/1.1\r\n\r\nrest")
        assert reader.read(4) == b"GET "  # fills the buffer from the socket, hands out 4 bytes
        assert cheroot_adapter.unread(reader) == b"/ HTTP/1.1\r\n\r\nrest"
        assert cheroot_adapter.buffered_bytes(reader) == len(b"/ HTTP/1.1\r\n\r\nrest")
        cheroot_adapter.set_unread(reader, b"read ahead\r\n")
        assert reader.has_data()  # what ConnectionManager.put asks before watching again
        assert reader.readline() == b"read ahead\r\n"
        assert cheroot_adapter.buffered_bytes(reader) == 0 and not reader.has_data()
        right.sendall(b"more\r\n")
        assert reader.readline() == b"more\r\n"  # and the socket again once it is empty
    finally:
        left.close()
        right.close()


def test_the_worker_pool_uses_the_replaced_queue() -> None:
    server = wsgi.Server(("127.0.0.1", 0), lambda e, s: [])
    cheroot_adapter.replace_request_queue(server, MostRecentlyIdleFirst())
    pool = server.requests
    assert isinstance(pool, ThreadPool)
    pool.put("first")
    pool.put("second")
    assert pool.qsize == 2  # a property of the pool, read by cheroot's stats
    assert pool.get() == "first"  # what each WorkerThread calls: server.requests.get()
    taken: list = []
    worker = threading.Thread(target=lambda: taken.extend([pool.get(), pool.get()]))
    worker.start()
    pool.put("third")  # handed to the waiting worker
    worker.join(5)
    assert taken == ["second", "third"] and pool.qsize == 0
    assert "self.server.requests.get()" in inspect.getsource(WorkerThread)


def test_the_request_hooks_framing_overrides_exist() -> None:
    """framing.py subclasses these (no underscore, but not documented either)."""
    for name in ("header_reader", "respond", "send_headers", "read_request_headers"):
        assert callable(getattr(HTTPRequest, name, None)), name
    assert "self.header_reader(self.rfile" in inspect.getsource(HTTPRequest.read_request_headers)
    assert hasattr(HTTPConnection, "RequestHandlerClass")
    assert selectors.EVENT_READ  # watch() defaults to it


def test_the_body_readers_framing_asks_keep_their_state_where_it_looks() -> None:
    """framing.body_left_on_socket reads these with getattr and a default: a rename would
    not fail, it would silently keep connections open after an unread body."""
    left, right = socket.socketpair()
    try:
        right.sendall(b"hello3\r\nabc\r\n0\r\n\r\n")
        reader = StreamReader(left, "rb")
        known = KnownLengthRFile(reader, 5)
        assert known.remaining == 5
        assert known.read(5) == b"hello" and known.remaining == 0
        chunked = ChunkedRFile(reader, 1024)
        assert chunked.closed is False
        assert chunked.read() == b"abc" and chunked.closed is True
    finally:
        left.close()
        right.close()
