"""Shared fixtures: a fresh database per backend and the real cheroot server on a free port.

PostgreSQL tests create and drop their own database on 127.0.0.1:5432. Without a server
they are skipped, unless PRAXIS_REQUIRE_POSTGRES=1 (set by .ci/run) turns that into a failure.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from davserver.app import build_app
from davserver.config import ServerConfig
from providers.practice import demo
from providers.practice.models import database_proxy
from providers.sql import practitioner_cache
from providers.sql.db import open_database

PG_HOST = os.environ.get("PRAXIS_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PRAXIS_PG_PORT", "5432"))
PG_USER = os.environ.get("PRAXIS_PG_USER", "postgres")
REQUIRE_PG = os.environ.get("PRAXIS_REQUIRE_POSTGRES") == "1"

DEMO_USER = demo.DEMO_USER
DEMO_PASSWORD = demo.DEMO_PASSWORD
COLLEAGUE = demo.DEMO_COLLEAGUE


def _pg_admin():
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    try:
        _pg_admin().close()
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (PRAXIS_REQUIRE_POSTGRES=1) but unreachable: {exc}")
        return False


def make_database_url(backend: str, tmp_path_factory, postgres_available: bool) -> Iterator[str]:
    """A fresh, empty database of `backend`; dropped afterwards."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "praxis.db"
        yield f"sqlite:///{path}"
        return
    if not postgres_available:
        pytest.skip("PostgreSQL not reachable on 127.0.0.1:5432 (set PRAXIS_REQUIRE_POSTGRES=1 to fail)")
    name = f"praxis_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        practitioner_cache.disable()  # its listener would only log that the database is gone
        if not database_proxy.is_closed():
            database_proxy.close()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory, postgres_available) -> Iterator[str]:
    """Module-scoped fresh database, once per backend."""
    yield from make_database_url(request.param, tmp_path_factory, postgres_available)


def wait_until(condition, seconds: float = 5.0) -> None:
    """Poll `condition()` until it is true; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    db_url: str
    config: ServerConfig
    server: object = None
    sessions: dict = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def session(self, user: str = DEMO_USER, password: str = DEMO_PASSWORD) -> requests.Session:
        key = (user, password)
        if key not in self.sessions:
            s = requests.Session()
            s.auth = (user.encode("utf-8"), password.encode("utf-8"))
            self.sessions[key] = s
        return self.sessions[key]

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        user: str | None = DEMO_USER,
        password: str = DEMO_PASSWORD,
        headers: dict | None = None,
    ) -> requests.Response:
        s = self.session(user, password) if user else requests.Session()
        if isinstance(body, str):
            body = body.encode("utf-8")
        return s.request(
            method, self.url(path), data=body, headers=headers or {}, allow_redirects=False, timeout=30
        )


def quick_stop(server) -> None:
    """Make `server.stop()` return at once instead of after up to half a second.

    cheroot's stop() waits for its connection loop to notice, and the loop sleeps in select()
    for its expiration interval (0.5 s); the suite stops ~200 servers. Raising the stop flag
    first and touching the listening socket wakes the loop now; the server itself (and when
    it expires idle connections) is unchanged.
    """
    stop = server.stop

    def stop_now() -> None:
        if server.ready and server.socket is not None:
            server._connections._stop_requested = True
            try:
                socket.create_connection(server.bind_addr[:2], timeout=1).close()
            except OSError:
                pass  # stop() waits out the tick as before
        stop()

    server.stop = stop_now


def start_server(db_url: str, config: ServerConfig | None = None, load_demo: bool = True, wrap=None):
    """Open the database, load the demo practice and serve it with cheroot on a free port.

    `wrap(app) -> app` puts a WSGI middleware around the whole server (e.g. a leak scanner).
    """
    from davserver.server import make_server

    config = config or ServerConfig()
    config.database = db_url
    config.host = "127.0.0.1"
    config.port = free_port()
    config.threads = 8
    open_database(db_url)
    if load_demo:
        demo.load_demo()
    app = build_app(config, open_db=False)
    if wrap is not None:
        app = wrap(app)
    server = make_server(app, config)
    server.prepare()
    quick_stop(server)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    return LiveServer(
        base_url=f"http://127.0.0.1:{config.port}/", db_url=db_url, config=config, server=server
    )


@pytest.fixture(scope="module")
def live(db_url) -> Iterator[LiveServer]:
    """The real server over the demo practice, on SQLite and on PostgreSQL."""
    server = start_server(db_url)
    try:
        yield server
    finally:
        server.server.stop()
        for s in server.sessions.values():
            s.close()


@pytest.fixture(scope="module")
def sqlite_live(tmp_path_factory) -> Iterator[LiveServer]:
    """The real server on SQLite only, for tests where the backend does not matter."""
    path = tmp_path_factory.mktemp("db") / "praxis.db"
    server = start_server(f"sqlite:///{path}")
    try:
        yield server
    finally:
        server.server.stop()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Stop the CLI fork server, if a test started one."""
    import sys

    forks = sys.modules.get("tests.cli_forks")
    if forks is not None:
        forks.close()
