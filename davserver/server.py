"""Serving the app with cheroot (plain HTTP or TLS)."""

from __future__ import annotations

import logging
import os
import signal

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from davserver.config import ServerConfig

log = logging.getLogger("praxis_caldav")


def make_server(app, config: ServerConfig, port: int | None = None) -> wsgi.Server:
    # SO_REUSEPORT lets several processes (serve --processes N) share the port.
    server = wsgi.Server((config.host, config.port if port is None else port), app,
                         numthreads=config.threads, server_name="praxis-caldav",
                         reuse_port=config.processes > 1)
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


def fork_workers(count: int) -> list[int]:
    """Fork `count` worker processes before any server or database connection exists.

    Returns the children's pids in the parent, [] in a child. Every process then opens its
    own database connection and its own SO_REUSEPORT socket; the kernel spreads connections.
    """
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            return []
        children.append(pid)
    return children


def stop_workers(children: list[int]) -> None:
    for pid in children:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
