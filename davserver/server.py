"""Serving the app with cheroot (plain HTTP or TLS)."""

from __future__ import annotations

import collections
import logging
import signal
import threading

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from davserver import cheroot_adapter, framing
from davserver.config import ServerConfig
from davserver.connections import RequestFirstConnections

log = logging.getLogger("praxis_caldav")


class MostRecentlyIdleFirst:
    """cheroot's request queue, handing each connection to the worker that went idle last.

    queue.Queue wakes the worker that has waited longest, so one device's requests rotate
    through all worker threads and, on PostgreSQL, all their database sessions, each cold
    in the CPU caches. Handing work to the most recently idle worker keeps a light load on
    few warm threads (less server CPU: docs/benchmarks/code-decisions.md). Connections are still
    served in arrival order; only the choice among idle workers changes.
    """

    def __init__(self) -> None:
        self._waiting: collections.deque = collections.deque()  # connections nobody took yet
        self._idle: list[list] = []  # [lock held until handed an item, item]: a stack
        self._lock = threading.Lock()

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            if not self._idle:
                self._waiting.append(item)
                return
            worker = self._idle.pop()
        worker[1] = item
        worker[0].release()

    def get(self, block: bool = True, timeout: float | None = None):
        with self._lock:
            if self._waiting:
                return self._waiting.popleft()
            worker = [threading.Lock(), None]
            worker[0].acquire()
            self._idle.append(worker)
        worker[0].acquire()
        return worker[1]

    def qsize(self) -> int:
        return len(self._waiting)


class Server(wsgi.Server):
    """cheroot's WSGI server whose connections reach a worker only with their request
    (davserver.connections): idle and slow clients cannot hold the worker threads, and
    with `tls.certificate` set the TLS handshakes do not block the accept loop either."""

    def prepare(self) -> None:
        super().prepare()
        cheroot_adapter.replace_connection_manager(self, RequestFirstConnections)


def make_server(app, config: ServerConfig, port: int | None = None) -> wsgi.Server:
    # SO_REUSEPORT lets several processes (serve --processes N) share the port.
    server = Server(
        (config.host, config.port if port is None else port),
        framing.guard(app),
        numthreads=config.threads,
        server_name="praxis-caldav",
        reuse_port=config.processes > 1,
        # Connections wait in the kernel's queue until the connection thread accepts them
        # (cheroot's default of 5 made a burst of clients retry their SYN a second later).
        request_queue_size=128,
    )
    cheroot_adapter.replace_request_queue(server, MostRecentlyIdleFirst())
    framing.harden(server)
    if config.tls.certificate:
        server.ssl_adapter = BuiltinSSLAdapter(config.tls.certificate, config.tls.private_key)
    return server


def serve_forever(server: wsgi.Server) -> None:
    """Run until SIGTERM/SIGINT; stop() in finally shuts cheroot down without hanging."""

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        if not server.ready:
            server.prepare()
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
