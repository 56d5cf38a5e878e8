"""The issue's done-when: a DAVx5-shaped registration against `serve --processes 2` gets exactly
one decrypted message per change, within a second (median over 50 device PUTs), although both
processes run a sender on the same database."""

from __future__ import annotations

import statistics
import time

import pytest
import requests

from providers.sql.db import open_database
from tests.conftest import DEMO_PASSWORD, DEMO_USER, make_database_url
from tests.serve_processes import serving_processes
from tests.test_cli import cli
from tests.test_push import PushService, register_body
from tests.two_way import ICAL, event

CHANGES = 50
CALENDAR = "/anna_maier/calendar/"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory, postgres_available):
    urls = make_database_url(request.param, tmp_path_factory, postgres_available)
    db_url = next(urls)
    open_database(db_url)
    assert cli("--database", db_url, "demo", "--no-serve").returncode == 0
    try:
        with serving_processes(
            db_url,
            tmp_path_factory.mktemp("serve"),
            "threads: 4\npush:\n  enabled: true\n  allow_insecure_endpoints: true\n  coalesce_seconds: 0\n",
        ) as base:
            yield base
    finally:
        next(urls, None)


def test_two_processes_send_each_change_exactly_once_within_a_second(served):
    base = served
    service = PushService()
    auth = (DEMO_USER.encode(), DEMO_PASSWORD.encode())
    try:
        answer = requests.post(
            base + CALENDAR,
            data=register_body(service.base + "/davx5", service).encode(),
            headers={"Content-Type": "application/xml"},
            auth=auth,
            timeout=30,
        )
        assert answer.status_code == 201
        latencies = []
        for i in range(CHANGES):
            started = time.monotonic()
            with requests.Session() as fresh:  # a new connection: either process may take the PUT
                put = fresh.put(
                    f"{base}{CALENDAR}push-{i}.ics", data=event(f"push-{i}").encode(), headers=ICAL, auth=auth
                )
            assert put.status_code in (201, 204)
            while len(service.messages) <= i:
                assert time.monotonic() - started < 5, f"no message for change {i}"
                time.sleep(0.005)
            latencies.append(time.monotonic() - started)
        time.sleep(1)
        assert len(service.messages) == CHANGES  # not one per process
        assert statistics.median(latencies) < 1.0, latencies
    finally:
        service.close()
