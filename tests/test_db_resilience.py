"""The database going away under load: no 500, no acknowledged write lost, back within 5 s.

Through the real cheroot server. PostgreSQL is shared with other tests and never stopped
here: its connections are killed with pg_terminate_backend, and an outage is a TCP relay
between server and PostgreSQL that cuts every connection and refuses new ones.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid

import pytest
import requests

from providers.practice.models import database_proxy
from providers.sql import practitioner_cache
from tests.conftest import DEMO_PASSWORD, DEMO_USER, _pg_admin, make_database_url, start_server, wait_until
from tests.two_way import event

CALENDAR = "/anna_maier/calendar/"


class Relay:
    """A TCP relay to PostgreSQL that can be cut (every connection closed, new ones refused)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.close()
            except OSError:
                pass


@pytest.fixture
def pg_url(tmp_path_factory, postgres_available):
    yield from make_database_url("postgresql", tmp_path_factory, postgres_available)


def _session() -> requests.Session:
    s = requests.Session()
    s.auth = (DEMO_USER, DEMO_PASSWORD)
    return s


class Load:
    """Readers and writers against the server; records every status and acknowledged PUT."""

    def __init__(self, base: str, readers: int = 3, writers: int = 2):
        self.base = base.rstrip("/")
        self.statuses: list[int] = []
        self.bad: list[tuple[int, str]] = []  # 5xx answers other than a clean 503
        self.stored: dict[str, str] = {}  # path -> summary of every PUT answered 201
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._read, daemon=True) for _ in range(readers)]
        self.threads += [threading.Thread(target=self._write, daemon=True) for _ in range(writers)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _record(self, resp: requests.Response) -> None:
        self.statuses.append(resp.status_code)
        if resp.status_code >= 500:
            if resp.status_code != 503 or not resp.headers.get("Retry-After") or "psycopg" in resp.text:
                self.bad.append((resp.status_code, resp.text[:200]))

    def _read(self) -> None:
        s = _session()
        while not self.stop.is_set():
            try:
                resp = s.request("PROPFIND", self.base + CALENDAR, headers={"Depth": "1"}, timeout=20)
            except requests.ConnectionError:
                continue
            self._record(resp)

    def _write(self) -> None:
        s = _session()
        while not self.stop.is_set():
            uid = uuid.uuid4().hex
            path = f"{CALENDAR}{uid}.ics"
            body = event(uid, summary=f"Last {uid[:8]}")
            try:
                resp = s.put(
                    self.base + path,
                    data=body.encode(),
                    headers={"Content-Type": "text/calendar", "If-None-Match": "*"},
                    timeout=20,
                )
            except requests.ConnectionError:
                continue
            self._record(resp)
            if resp.status_code == 201:
                self.stored[path] = f"Last {uid[:8]}"


def _terminate_server_connections(db_url: str) -> int:
    name = db_url.rsplit("/", 1)[1]
    admin = _pg_admin()
    try:
        cur = admin.cursor()
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        return cur.fetchone()[0]
    finally:
        admin.close()


def _serves_within(base: str, seconds: float) -> float:
    """Seconds until a PROPFIND answers 207 again (fails the test after `seconds`)."""
    started = time.monotonic()
    s = _session()
    seen: list[object] = []
    while True:
        try:
            status = s.request(
                "PROPFIND", base.rstrip("/") + CALENDAR, headers={"Depth": "0"}, timeout=5
            ).status_code
            if status == 207:
                return time.monotonic() - started
            seen.append(status)
        except requests.ConnectionError as exc:
            seen.append(type(exc).__name__)
        assert time.monotonic() - started < seconds, f"not serving again in time: {seen[-5:]}"
        time.sleep(0.05)


def _check_every_acknowledged_write(base: str, stored: dict[str, str]) -> None:
    s = _session()
    assert stored, "the load wrote nothing"
    for path, summary in stored.items():
        resp = s.get(base.rstrip("/") + path, timeout=10)
        assert resp.status_code == 200 and summary in resp.text, (path, resp.status_code)


def _stop(live) -> None:
    live.server.stop()
    practitioner_cache.disable()


def test_every_connection_killed_under_load(pg_url):
    live = start_server(pg_url)
    try:
        with Load(live.base_url) as load:
            wait_until(lambda: len(load.stored) >= 5, 20)
            for _ in range(3):
                assert _terminate_server_connections(pg_url) > 0
                time.sleep(0.5)
            killed_at = len(load.statuses)
            time.sleep(1)
            assert len(load.statuses) > killed_at, "the server stopped answering"
        assert load.bad == [] and 500 not in load.statuses
        assert _serves_within(live.base_url, 5) < 5
        _check_every_acknowledged_write(live.base_url, load.stored)
        # The practitioner cache's LISTEN connection was killed too: it listens again.
        wait_until(lambda: practitioner_cache._active is not None and practitioner_cache._active.live, 5)
    finally:
        _stop(live)


def test_outage_answers_503_and_recovers_within_5_seconds(pg_url, caplog):
    host_port = pg_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    relay = Relay((host, int(port)))
    relayed = pg_url.replace(host_port, f"127.0.0.1:{relay.port}")
    live = start_server(relayed)
    try:
        caplog.set_level(logging.WARNING, logger="praxis_caldav")
        with Load(live.base_url) as load:
            wait_until(lambda: len(load.stored) >= 5, 20)
            relay.down()
            time.sleep(2)
            during = _session().request("PROPFIND", live.url(CALENDAR), headers={"Depth": "1"}, timeout=20)
            ready = requests.get(live.url("/readyz"), timeout=10)
            relay.up()
            back_after = _serves_within(live.base_url, 5)
        assert during.status_code == 503 and int(during.headers["Retry-After"]) > 0
        request_id = during.headers["X-Request-Id"]
        assert request_id in during.text and "psycopg" not in during.text
        assert ready.status_code == 503 and ready.text.strip() == "database unavailable"
        assert 503 in load.statuses and load.bad == [] and 500 not in load.statuses
        assert back_after < 5
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert any(request_id in r.getMessage() for r in errors)
        database_proxy.close()
        _check_every_acknowledged_write(live.base_url, load.stored)
        assert requests.get(live.url("/readyz"), timeout=10).status_code == 200
    finally:
        _stop(live)
        relay.down()
