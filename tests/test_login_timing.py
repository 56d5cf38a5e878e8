"""Issue 18: "timing of unknown and known user names is indistinguishable". Failed logins
for a known and an unknown name, measured through the real server, take the same time:
both pay one hash of the current format, and nothing else of note."""

from __future__ import annotations

import statistics
import time

import pytest
import requests

import davserver.auth
from davserver.config import ServerConfig
from providers.practice.models import LoginCounter
from providers.practice.passwords import hash_password
from tests.conftest import DEMO_USER, start_server

ROUNDS = 31


@pytest.fixture
def unthrottled(live):
    LoginCounter.delete().execute()
    config = ServerConfig()
    config.auth.max_failures = 1_000_000  # every attempt is checked, none refused early
    server = start_server(live.db_url, config, load_demo=False)
    yield server
    server.server.stop()
    LoginCounter.delete().execute()


def failed_login_seconds(session: requests.Session, server, name: str) -> float:
    start = time.perf_counter()
    resp = session.request(
        "PROPFIND", server.url("/"), headers={"Depth": "0"}, auth=(name, "falsch-123"), timeout=30
    )
    elapsed = time.perf_counter() - start
    assert resp.status_code == 401
    return elapsed


def test_the_dummy_hash_is_the_same_work_as_a_users_hash():
    prefix = hash_password("x").rsplit("$", 2)[0]  # format and parameters, without salt and digest
    assert davserver.auth._DUMMY_HASH.rsplit("$", 2)[0] == prefix


def test_failed_logins_of_known_and_unknown_names_take_the_same_time(unthrottled):
    known, unknown = [], []
    with requests.Session() as session:  # one kept-alive connection: no connect time in either
        failed_login_seconds(session, unthrottled, DEMO_USER)  # warm-up
        for i in range(ROUNDS):  # interleaved, so load from elsewhere hits both alike
            known.append(failed_login_seconds(session, unthrottled, DEMO_USER))
            unknown.append(failed_login_seconds(session, unthrottled, f"niemand {i}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    print(
        f"failed login medians: known {statistics.median(known) * 1000:.1f} ms, unknown "
        f"{statistics.median(unknown) * 1000:.1f} ms, ratio {ratio:.2f}"
    )
    assert 0.7 <= ratio <= 1.4, (ratio, statistics.median(known), statistics.median(unknown))
