"""The issue's done-when, literally: `serve --processes 2` behind a trusted proxy, on SQLite and
PostgreSQL. A revoked device gets 401 from every process at once although both had its
credentials cached; 200 guesses from rotating forwarded addresses are throttled across both
processes while a device with a valid device password gets 207 throughout."""

from __future__ import annotations

import pytest
import requests

from providers.sql.db import open_database
from tests.conftest import DEMO_PASSWORD, DEMO_USER, make_database_url
from tests.serve_processes import serving_processes
from tests.test_cli import cli
from tests.test_device_passwords import add_device

# Connections are spread over the processes by the kernel (SO_REUSEPORT): with 40 fresh
# connections, the chance that one process saw none is 2**-39.
ROUNDS = 40


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory, postgres_available):
    urls = make_database_url(request.param, tmp_path_factory, postgres_available)
    db_url = next(urls)
    open_database(db_url)  # this process's models too (the fixture's clean-up closes them)
    assert cli("--database", db_url, "demo", "--no-serve").returncode == 0
    try:
        with serving_processes(
            db_url,
            tmp_path_factory.mktemp("serve"),
            "threads: 4\ntrusted_proxy: true\nauth:\n  max_failures: 3\n  lockout_seconds: 120\n",
        ) as base:
            yield base, db_url
    finally:
        next(urls, None)


def status(base: str, user: str, password: str, address: str) -> int:
    with requests.Session() as fresh:  # a new connection each time: any process may answer
        return fresh.request(
            "PROPFIND",
            base + "/anna_maier/calendar/",
            headers={"Depth": "0", "X-Forwarded-For": address, "Connection": "close"},
            auth=(user.encode(), password.encode()),
            timeout=30,
        ).status_code


def test_revoking_a_device_cuts_it_in_every_process_at_once(served):
    base, db_url = served
    phone_id, phone = add_device(db_url, "iPhone Anna")
    _, laptop = add_device(db_url, "Mac Anna")
    assert [status(base, DEMO_USER, phone, "192.0.2.10") for _ in range(ROUNDS)] == [207] * ROUNDS
    assert cli("--database", db_url, "device", "revoke", DEMO_USER, str(phone_id)).returncode == 0
    after = [status(base, DEMO_USER, phone, "192.0.2.10") for _ in range(ROUNDS)]
    # 401 at once; a lost phone that keeps trying is a guesser like any other (429 after 3).
    assert after[0] == 401 and set(after) <= {401, 429} and after.count(401) >= 3, after
    assert [status(base, DEMO_USER, laptop, "192.0.2.11") for _ in range(10)] == [207] * 10


def test_rotating_guesses_are_throttled_across_processes_while_a_device_syncs(served):
    base, db_url = served
    _, phone = add_device(db_url, "Handy während Angriff")
    assert status(base, DEMO_USER, DEMO_PASSWORD, "198.51.100.7") == 207  # the practice's address
    guesses = []
    for i in range(200):
        guesses.append(status(base, "anna_maier", f"rate-{i}", f"203.0.113.{i % 250 + 1}"))
        if i % 10 == 0:
            assert status(base, DEMO_USER, phone, f"192.0.2.{100 + i // 10}") == 207
    # The account-wide limit is 5 x 3 failures; requests in flight together may add a few.
    assert guesses.count(401) <= 20 and guesses.count(429) >= 180, guesses.count(401)
    assert status(base, DEMO_USER, DEMO_PASSWORD, "198.51.100.7") == 207
