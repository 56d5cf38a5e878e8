"""Issue 18, "what to build" 2: an attacker guessing one account from many addresses must
neither lock the practitioner out nor gain guesses with every address it adds.

During an account-wide lock a fresh address (no failure of its own for the account) gets its
attempt checked while the account's hourly budget of such checks lasts: a correct practice
password from a new address gets in; a wrong one spends a ticket and makes that address wait.
Through the real server on SQLite and PostgreSQL, and the budget's bound by a simulated clock.
"""

from __future__ import annotations

import datetime as dt

import pytest

from davserver.config import ServerConfig
from providers.practice import login_throttle
from providers.practice.models import LoginCounter
from tests.conftest import DEMO_PASSWORD, DEMO_USER, start_server
from tests.test_device_passwords import add_device, propfind

MAX_FAILURES = 3
ACCOUNT_LIMIT = MAX_FAILURES * login_throttle.ACCOUNT_FACTOR
FRESH_BUDGET = MAX_FAILURES * login_throttle.FRESH_FACTOR


@pytest.fixture
def guarded(live):
    LoginCounter.delete().execute()  # failures are shared through the database: start afresh
    config = ServerConfig()
    config.trusted_proxy = True
    config.auth.max_failures = MAX_FAILURES
    config.auth.lockout_seconds = 120
    servers = [start_server(live.db_url, config, load_demo=False) for _ in range(2)]
    yield servers
    for server in servers:
        server.server.stop()
    LoginCounter.delete().execute()


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def lock_the_account(server) -> None:
    """Rotating addresses, one guess each, until the account-wide lock holds."""
    for i in range(ACCOUNT_LIMIT):
        assert (
            propfind(server, "anna_maier", f"rate-{i}", **from_address(f"203.0.113.{i + 1}")).status_code
            == 401
        )
    locked = propfind(server, "anna_maier", "rate-x", **from_address("203.0.113.1"))  # failed before
    assert locked.status_code == 429


def test_a_correct_password_from_a_fresh_address_gets_in_during_an_attack(guarded):
    a, b = guarded
    lock_the_account(a)
    # Server b never verified the practice password: this is a real check, not a cached one.
    assert propfind(b, DEMO_USER, DEMO_PASSWORD, **from_address("198.51.100.20")).status_code == 207
    # That address is the practitioner's own from now on, on both servers.
    assert propfind(a, "Anna_Maier", DEMO_PASSWORD, **from_address("198.51.100.20")).status_code == 207
    # A success gives its ticket back: the budget is still whole.
    assert LoginCounter.get(LoginCounter.key.startswith("x:#")).failures == 0


def test_a_failed_fresh_address_waits_and_the_budget_is_bounded(guarded, live):
    a, b = guarded
    _, phone = add_device(live.db_url, "Telefon im Angriff")
    lock_the_account(a)
    # The first fresh guess is checked (401) and makes its address wait, even with the right password.
    assert propfind(a, DEMO_USER, "falsch", **from_address("198.51.100.30")).status_code == 401
    assert propfind(b, DEMO_USER, DEMO_PASSWORD, **from_address("198.51.100.30")).status_code == 429
    # Fresh addresses spend the rest of the hourly budget, on either server ...
    for i in range(1, FRESH_BUDGET):
        server = guarded[i % 2]
        assert (
            propfind(server, DEMO_USER, f"falsch-{i}", **from_address(f"198.51.100.{30 + i}")).status_code
            == 401
        )
    # ... then every further fresh address waits, the practitioner's too (documented), however
    # many addresses the attacker brings ...
    statuses = [
        propfind(guarded[i % 2], DEMO_USER, f"noch-{i}", **from_address(f"192.0.2.{i + 1}")).status_code
        for i in range(20)
    ]
    assert statuses == [429] * 20
    fresh = propfind(b, DEMO_USER, DEMO_PASSWORD, **from_address("192.0.2.222"))
    # Retry-After: when the (doubled) lock ends or the budget comes back, whichever is first.
    retry_after = int(fresh.headers["Retry-After"])
    assert fresh.status_code == 429 and 1 <= retry_after <= login_throttle.FRESH_WINDOW + 1
    # ... while a device password keeps working from anywhere.
    assert propfind(b, DEMO_USER, phone, **from_address("192.0.2.223")).status_code == 207


def simulated_attack(addresses: int, hours: int, pause: int = 0, every: int = 5) -> list[int]:
    """Guesses that got checked per hour: one guess every `every` seconds, rotating over
    `addresses` addresses, against one account with max_failures 3, a 60 s window and a 60 s
    lockout; a patient attacker waits `pause` seconds after each refusal (so that counters
    which forget after window and lock would have forgotten)."""
    LoginCounter.delete().execute()
    throttle = login_throttle.LoginThrottle(max_failures=MAX_FAILURES, window=60, lockout=60)
    start = dt.datetime(2031, 1, 1)
    checked = [0] * hours
    elapsed, step = 0, 0
    while elapsed < hours * 3600:
        now = start + dt.timedelta(seconds=elapsed)
        address = f"10.{step % addresses // 250}.{step % addresses % 250}.1"
        step += 1
        if throttle.admit("#7", address, now=now).wait == 0:
            checked[elapsed // 3600] += 1
            throttle.failed("#7", address, now=now)
            elapsed += every
        else:
            elapsed += pause or every
    LoginCounter.delete().execute()
    return checked


@pytest.mark.parametrize("pause", [0, 60 + 60 + 1], ids=["steady", "patient"])
def test_the_attackers_hourly_budget_does_not_grow_with_its_addresses(live, pause):
    few = simulated_attack(addresses=20, hours=3, pause=pause)
    many = simulated_attack(addresses=2000, hours=3, pause=pause)
    # Any hour: the account limit, the fresh budget (twice where two budget hours meet), one
    # guess per end of the doubling lock (60 s .. 64 x 60 s). A steady attacker keeps the lock
    # doubled: later hours give it the budget and a lock end or so.
    any_hour = ACCOUNT_LIMIT + 2 * FRESH_BUDGET + login_throttle.MAX_DOUBLINGS + 1
    max_lock = 60 * 2**login_throttle.MAX_DOUBLINGS
    later_hour = FRESH_BUDGET + 3600 // max_lock + 1
    for checked in (few, many):
        assert all(c <= any_hour for c in checked), checked
        if not pause:
            assert all(c <= later_hour for c in checked[1:]), checked
    # With a hundred times the addresses, not one more guess.
    assert sum(many) <= sum(few), (few, many)
