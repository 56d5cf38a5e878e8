"""Serving the app with cheroot (plain HTTP or TLS)."""

from __future__ import annotations

import logging
import signal

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from davserver.config import ServerConfig

log = logging.getLogger("praxis_caldav")


def make_server(app, config: ServerConfig, port: int | None = None) -> wsgi.Server:
    server = wsgi.Server((config.host, config.port if port is None else port), app,
                         numthreads=config.threads, server_name="praxis-caldav")
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
