"""`praxis-caldav serve`: checks before listening (TLS key, port), one process or a
supervised set of workers, logging set up for either, a clean shutdown."""

from __future__ import annotations

import errno
import logging
import os
import signal
from collections.abc import Callable

from davserver.cli.main import CLIError
from davserver.config import ConfigError, ServerConfig
from providers.database import DatabaseURLError, close_connection, close_database, shown_url


def serve(config: ServerConfig, reload_config: Callable[[], ServerConfig], version: str) -> int:
    """`serve`: one process, or a supervising parent of `processes` workers."""
    from davserver.request_log import configure_logging

    configure_logging(config.log_level, config.log_format, config.access_log)
    _check_tls(config)
    if config.processes > 1:
        return _serve_supervised(config, reload_config, version)
    from davserver.app import build_app
    from davserver.server import make_server, serve_forever

    app = build_app(config, open_db=False)
    server = make_server(app, config)
    try:
        server.prepare()
    except OSError as exc:
        raise CLIError(f"cannot listen on {config.host}:{config.port}: {_listen_error(exc)}") from None
    _announce(config, version)
    # One process cannot swap its configuration under running requests: SIGHUP (which
    # used to end the server) is logged and ignored; `--processes 2` or more reloads.
    signal.signal(
        signal.SIGHUP,
        lambda *_: logging.getLogger("praxis_caldav").warning(
            "SIGHUP ignored: reloading needs processes: 2 or more; restart to apply changes"
        ),
    )
    try:
        serve_forever(server)
    finally:
        close_database()  # SQLite: checkpoint, so the .db file alone holds every write
    return 0


def _serve_supervised(config: ServerConfig, reload_config: Callable[[], ServerConfig], version: str) -> int:
    """`--processes N`: a parent that keeps N workers serving (davserver.supervisor)."""
    from davserver.supervisor import Supervisor

    _check_port_free(config)
    close_connection()  # no connection may cross a fork
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import tempfile

        # Each worker writes its counters here; /metrics on any worker sums them up.
        metrics_dir = tempfile.mkdtemp(prefix="praxis-caldav-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    log = logging.getLogger("praxis_caldav")
    current = [config]

    def work() -> int:
        from davserver.app import build_app
        from davserver.server import make_server, serve_forever

        worker_config = current[0]
        server = make_server(build_app(worker_config), worker_config)
        try:
            server.prepare()
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", config.host, config.port, _listen_error(exc))
            return 1
        try:
            serve_forever(server)
        finally:
            close_database()
        return 0

    def reload() -> bool:
        try:
            fresh = reload_config()
            _check_tls(fresh)
        except (CLIError, ConfigError, DatabaseURLError) as exc:
            log.error("reload refused, the running configuration stays: %s", exc)
            return False
        for key in ("host", "port", "processes", "database"):
            if getattr(fresh, key) != getattr(config, key):
                log.warning("reload: %s changes only with a restart", key)
                setattr(fresh, key, getattr(config, key))
        current[0] = fresh
        return True

    _announce(config, version)
    try:
        return Supervisor(config.processes, work, reload).run()
    finally:
        if metrics_dir:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_port_free(config: ServerConfig) -> None:
    """The parent binds once before forking: a port in use is one line, not N dying workers."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            probe.bind(address)
    except OSError as exc:
        raise CLIError(f"cannot listen on {config.host}:{config.port}: {_listen_error(exc)}") from None


def _announce(config: ServerConfig, version: str) -> None:
    source = getattr(config, "source", None)
    print(
        f"praxis-caldav {version} serving {config.base_url()} with {config.processes} process(es) "
        f"(configuration {source or 'none: defaults'}; database {shown_url(config.database)})",
        flush=True,
    )


def _listen_error(exc: OSError) -> str:
    """cheroot's OSError has no strerror; say what the admin can act on."""
    text = str(exc).lower()
    if exc.errno == errno.EADDRINUSE or "in use" in text:
        return "the port is in use (is another server running?)"
    if exc.errno == errno.EACCES or "permission denied" in text:
        return "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"
    if exc.strerror:
        return exc.strerror
    return "address not available" if "assign" in text else text.splitlines()[0][:200]


def _check_tls(config: ServerConfig) -> None:
    """Load certificate and key once before serving: a wrong or protected key is one line,
    not a traceback or an OpenSSL passphrase prompt."""
    import ssl

    cert, key = config.tls.certificate, config.tls.private_key
    if not cert:
        return

    def no_passphrase():
        raise CLIError(f"tls.private_key: {key} is protected by a passphrase; use a key without one")

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as exc:
        reason = exc.reason or "not a PEM certificate and key"
        raise CLIError(
            f"tls: cannot use certificate {cert} with private key {key} ({reason}): "
            f"private_key must be the certificate's unencrypted PEM key"
        ) from None
    except OSError as exc:
        raise CLIError(f"tls: cannot read {exc.filename or cert}: {exc.strerror}") from None
