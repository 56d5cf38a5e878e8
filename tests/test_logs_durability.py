"""The JSON log (every line an object with the request's context, no patient data even
when a request fails with patient data in the exception), SQLite durability settings, and
the write-ahead log folded into the database file on a clean shutdown."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest
import requests

from davserver.config import ServerConfig
from davserver.request_log import JSONFormatter, RequestContextFilter
from providers import provider
from providers.sql.db import open_database
from tests.conftest import DEMO_PASSWORD, DEMO_USER, free_port, start_server
from tests.leak_scanner import LeakScanner
from tests.test_cli import COMMAND, REPO, cli
from tests.test_pseudonymization import PASSWORD, SECRETS, USER, _populate

ICS = {"Content-Type": "text/calendar"}


def test_json_log_has_the_request_context_and_no_patient_data(tmp_path, monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    live = start_server(f"sqlite:///{tmp_path / 'p.db'}", ServerConfig(), load_demo=False)
    try:
        _populate()
        calendar = f"/{USER.replace(' ', '_')}/calendar/"
        listing = live.request("PROPFIND", calendar, headers={"Depth": "1"}, user=USER, password=PASSWORD)
        assert listing.status_code == 207
        for href in {h for h in listing.text.split("<D:href>")[1:] if ".ics" in h.split("<")[0]}:
            assert live.request("GET", href.split("<")[0], user=USER, password=PASSWORD).status_code == 200
        live.request("PROPFIND", calendar, user=USER, password="wrong")

        def broken(self, path, environ):
            raise ValueError("Kontrolle Maria Muster, Rückruf +43 664 1234567")

        monkeypatch.setattr(provider.PracticeProvider, "get_resource_inst", broken)
        failed = live.request("GET", calendar, user=USER, password=PASSWORD)
        assert failed.status_code == 500
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        live.server.stop()
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = [e for e in lines if e["logger"] == "praxis_caldav.access"]
    assert access and all(isinstance(e["status"], int) and e["pid"] == os.getpid() for e in access)
    assert any(e["status"] == 207 and e["user"] == USER and e["client"] == "127.0.0.1" for e in access)
    rid = failed.headers["X-Request-Id"]
    assert any(e["level"] == "ERROR" and e["request_id"] == rid for e in lines)
    scanner = LeakScanner(SECRETS)
    scanner.record(stream.getvalue(), "JSON log")
    scanner.assert_clean()


@pytest.mark.parametrize("durability,expected", [("full", 2), ("fast", 1)])
def test_sqlite_syncs_every_commit_unless_fast(tmp_path, durability, expected):
    db = open_database(f"sqlite:///{tmp_path / 'p.db'}", durability=durability)
    assert db.execute_sql("PRAGMA synchronous").fetchone()[0] == expected
    db.close()


def test_clean_shutdown_leaves_every_write_in_the_database_file(tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    assert cli("--database", db, "demo", "--no-serve", cwd=tmp_path).returncode == 0
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [*COMMAND, "serve", "--database", db, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/anna_maier/calendar/durable.ics"
        body = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:durable\r\n"
            "DTSTAMP:20260301T000000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
            "SUMMARY:Nach dem Herunterfahren\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = requests.put(url, data=body, auth=(DEMO_USER, DEMO_PASSWORD), headers=ICS, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
                time.sleep(0.02)
        assert resp.status_code == 201
        assert os.path.getsize(tmp_path / "p.db-wal") > 0  # the write is in the log so far
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "configuration" in out and "praxis-caldav 0." in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    wal = tmp_path / "p.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    shutil.copy(tmp_path / "p.db", tmp_path / "copy.db")  # the .db alone, as a naive backup
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("SELECT count(*) FROM appointment WHERE uid = 'durable'").fetchone() == (1,)
