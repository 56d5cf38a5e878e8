"""Failures as a client and an admin see them, through the real server: 503 + Retry-After
for a locked database, 500 with nothing but a request id, X-Request-Id on every answer,
every 5xx at ERROR in the log without the exception's text; and the probes."""

from __future__ import annotations

import logging
import sqlite3

import pytest
import requests

from providers import provider
from providers.practice.models import database_proxy
from providers.sql.db import sqlite_path
from tests.conftest import start_server

SECRET = "Maria Muster 0664 1234567"  # stands for patient data inside an exception message


@pytest.fixture
def server(tmp_path):
    live = start_server(f"sqlite:///{tmp_path / 'praxis.db'}")
    yield live
    live.server.stop()


def test_every_answer_carries_a_request_id(server):
    ids = {server.request("PROPFIND", "/anna_maier/", headers={"Depth": "0"}).headers["X-Request-Id"]}
    ids.add(server.request("PROPFIND", "/anna_maier/", user=None).headers["X-Request-Id"])
    assert len(ids) == 2 and all(len(i) == 16 for i in ids)


def test_a_bug_is_a_500_naming_only_the_request_id(server, monkeypatch, caplog):
    def broken(self, path, environ):
        raise ValueError(SECRET)

    monkeypatch.setattr(provider.PracticeProvider, "get_resource_inst", broken)
    caplog.set_level(logging.INFO)
    resp = server.request("PROPFIND", "/anna_maier/calendar/", headers={"Depth": "1"})
    assert resp.status_code == 500
    request_id = resp.headers["X-Request-Id"]
    assert request_id in resp.text and SECRET not in resp.text and "ValueError" not in resp.text
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(request_id in m and "ValueError" in m and "in broken" in m for m in errors)
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_a_locked_sqlite_database_is_a_503_with_retry_after(tmp_path, caplog):
    live = start_server(f"sqlite:///{tmp_path / 'praxis.db'}")
    db = database_proxy.obj
    # Waiting 10 s for the lock is the production default; the workers (which connect on
    # their first request) wait 0.2 s.
    db._pragmas = [(k, 200 if k == "busy_timeout" else v) for k, v in db._pragmas]
    holder = sqlite3.connect(sqlite_path(live.db_url), isolation_level=None)
    try:
        assert live.request("PROPFIND", "/anna_maier/", headers={"Depth": "0"}).status_code == 207
        holder.execute("BEGIN EXCLUSIVE")
        caplog.set_level(logging.INFO)
        resp = live.request(
            "PUT",
            "/anna_maier/calendar/locked.ics",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:locked\r\n"
            "DTSTAMP:20260301T000000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
            "SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            headers={"Content-Type": "text/calendar"},
        )
        assert resp.status_code == 503 and int(resp.headers["Retry-After"]) > 0
        assert "locked" not in resp.text and resp.headers["X-Request-Id"] in resp.text
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(resp.headers["X-Request-Id"] in m and "503" in m for m in errors)
        holder.execute("ROLLBACK")
        assert live.request("PROPFIND", "/anna_maier/", headers={"Depth": "0"}).status_code == 207
    finally:
        holder.close()
        live.server.stop()


def test_probes_answer_without_login_and_without_data(server):
    health = requests.get(server.url("/healthz"), timeout=10)
    ready = requests.get(server.url("/readyz"), timeout=10)
    assert (health.status_code, health.text) == (200, "ok\n")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert requests.post(server.url("/readyz"), timeout=10).status_code == 405
    # Only the exact paths: a principal URL below them still needs a login.
    assert requests.get(server.url("/healthz/x"), timeout=10).status_code == 401


def test_readyz_refuses_an_outdated_schema(server):
    from providers.practice.models import SchemaVersion

    SchemaVersion.update(version=0).execute()
    try:
        resp = requests.get(server.url("/readyz"), timeout=10)
        assert (resp.status_code, resp.text) == (503, "schema outdated\n")
    finally:
        SchemaVersion.update(version=1).execute()


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_requests_and_failed_logins(server):
    from tests.conftest import wait_until

    before = requests.get(server.url("/metrics"), timeout=10).text
    for _ in range(3):
        server.request(
            "PROPFIND", "/anna_maier/", headers={"Depth": "0", "User-Agent": "DAVx5/4.4 (Android)"}
        )
    server.request("PROPFIND", "/anna_maier/", password="wrong")
    name = "praxis_caldav_requests_total"
    labels = {"method": "PROPFIND", "status": "207", "client": "davx5"}
    failures = "praxis_caldav_login_failures_total"
    scraped = []

    def counted() -> bool:
        # A request is counted once its answer is sent: a moment after the client has it.
        resp = requests.get(server.url("/metrics"), timeout=10)
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
        scraped[:] = [resp.text]
        return (
            _metric(resp.text, name, **labels) - _metric(before, name, **labels) == 3
            and _metric(resp.text, failures) - _metric(before, failures) == 1
        )

    wait_until(counted, 5)
    after = scraped[0]
    assert "praxis_caldav_request_duration_seconds_bucket" in after
    assert "anna" not in after and "maier" not in after


def test_metrics_show_the_render_cache_by_kind(server):
    """RenderCache.stats() reaches /metrics: the second GET of an object is a hit."""
    from lxml import etree

    from tests.conftest import wait_until

    listing = server.request("PROPFIND", "/anna_maier/calendar/", headers={"Depth": "1"})
    hrefs = [h.text for h in etree.fromstring(listing.content).iter("{DAV:}href") if h.text.endswith(".ics")]
    before = requests.get(server.url("/metrics"), timeout=10).text
    lookups = "praxis_caldav_render_cache_lookups_total"
    for _ in range(2):
        assert server.request("GET", hrefs[0]).status_code == 200
    scraped = []

    def counted() -> bool:
        scraped[:] = [requests.get(server.url("/metrics"), timeout=10).text]
        hits = _metric(scraped[0], lookups, outcome="hit") - _metric(before, lookups, outcome="hit")
        return hits >= 1

    wait_until(counted, 5)
    after = scraped[0]
    assert _metric(after, lookups, kind="RenderKey") > _metric(before, lookups, kind="RenderKey")
    assert _metric(after, "praxis_caldav_render_cache_entries", kind="RenderKey") >= 1
    assert _metric(after, "praxis_caldav_render_cache_bytes", kind="RenderKey") > 0


def test_metrics_only_for_allowed_addresses(tmp_path):
    from davserver.config import ServerConfig

    live = start_server(f"sqlite:///{tmp_path / 'p.db'}", ServerConfig(metrics_allow="10.0.0.0/8"))
    try:
        assert requests.get(live.url("/metrics"), timeout=10).status_code == 404
    finally:
        live.server.stop()


def test_slow_and_silent_clients_hold_no_worker(server):
    """200 slowloris connections and 200 that send nothing; 8 worker threads."""
    import socket
    import time

    port = server.server.bind_addr[1]
    idle, slow = [], []
    try:
        for _ in range(200):
            idle.append(socket.create_connection(("127.0.0.1", port)))
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"PROPFIND /anna_maier/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        timings = []
        for _ in range(5):
            for sock in slow:  # still trickling in (or closed: its head took too long)
                try:
                    sock.sendall(b"a")
                except OSError:
                    pass
            started = time.perf_counter()
            resp = server.request("PROPFIND", "/anna_maier/", headers={"Depth": "0"})
            timings.append(time.perf_counter() - started)
            assert resp.status_code == 207
        assert sorted(timings)[2] < 0.1, timings
    finally:
        for sock in idle + slow:
            sock.close()


@pytest.mark.parametrize(
    "data,ready",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"PUT / HTTP/1.1\r\nAuthorization: Basic eDp5\r\nContent-Length: 5\r\n\r\nab", False),
        (b"PUT / HTTP/1.1\r\nAuthorization: Basic eDp5\r\nContent-Length: 5\r\n\r\nabcde", True),
        (b"PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", True),  # no login: 401 without the body
        (b"PUT / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", True),
        (b"PUT / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", True),  # invalid: refused at once
        (b"PUT / HTTP/1.1\r\nContent-Length: 999999\r\n\r\n", True),  # large: the worker reads it
        (b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", True),
    ],
)
def test_when_a_connection_goes_to_a_worker(data, ready):
    from davserver.connections import request_ready
    from davserver.recent_logins import RECENT_LOGINS

    RECENT_LOGINS.note("Basic eDp5", 60)  # "x:y" passed the login moments ago
    assert request_ready(data) is ready


def test_a_body_is_waited_for_only_with_credentials_that_passed_the_login():
    from davserver.connections import request_ready
    from davserver.recent_logins import RECENT_LOGINS

    head = b"PUT / HTTP/1.1\r\nAuthorization: Basic %s\r\nContent-Length: 5\r\n\r\nab"
    RECENT_LOGINS.note("Basic a25vd246eQ==", 60)
    RECENT_LOGINS.note("Basic ZXhwaXJlZDp5", 0)
    assert request_ready(head % b"a25vd246eQ==") is False  # known: the body arrives first
    assert request_ready(head % b"bmV3Onk=") is True  # not yet logged in: the login first
    assert request_ready(head % b"ZXhwaXJlZDp5") is True  # known too long ago
