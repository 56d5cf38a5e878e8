"""Device passwords and login protection through the real server, on SQLite and PostgreSQL.

Issue 18: a lost phone is revoked alone and at once (every process: no cache outlives it);
failures are counted in the database, so two servers on one database throttle together;
an attacker at many addresses cannot lock the practitioner's devices or own addresses out.
"""

from __future__ import annotations

import re

import pytest
import requests

import davserver.auth
from davserver.config import ServerConfig
from providers.practice import accounts, api, device_passwords, login_throttle
from providers.practice.models import DevicePassword, LoginCounter
from tests.conftest import DEMO_PASSWORD, DEMO_USER, start_server
from tests.test_cli import assert_one_line_error, cli

ANNA = "/anna_maier/calendar/"


def propfind(server, user: str, password: str, path: str = ANNA, **headers: str) -> requests.Response:
    return requests.request(
        "PROPFIND",
        server.url(path),
        headers={"Depth": "0", **headers},
        auth=(user.encode(), password.encode()),
        timeout=30,
        allow_redirects=False,
    )


def page(server, user: str, password: str) -> requests.Response:
    return requests.get(server.url("/settings/"), auth=(user.encode(), password.encode()), timeout=30)


def add_device(db_url: str, label: str, user: str = DEMO_USER) -> tuple[int, str]:
    result = cli("--database", db_url, "device", "add", user, "--label", label)
    assert result.returncode == 0, result.stderr
    device_id = int(re.search(r"^device (\d+) ", result.stdout).group(1))
    password = re.search(r"password \(shown once\): (\S+)", result.stdout).group(1)
    return device_id, password


@pytest.fixture(autouse=True)
def fresh_counters(live):
    LoginCounter.delete().execute()  # failures are shared through the database: start afresh
    yield


def test_a_device_password_syncs_and_revoking_it_cuts_only_that_device(live):
    phone_id, phone = add_device(live.db_url, "iPhone Anna")
    _, tablet = add_device(live.db_url, "Tablet Anna")
    assert re.fullmatch(r"([a-z2-9]{5}-){4}[a-z2-9]{5}", phone)
    stored = DevicePassword.get_by_id(phone_id)
    assert phone not in stored.password_hash and stored.password_hash.startswith("$argon2id$")
    assert propfind(live, DEMO_USER, phone, **{"User-Agent": "DAVx5/4.4.2-ose"}).status_code == 207
    # Typed on a phone: upper case and without dashes is the same password.
    assert propfind(live, "Anna_Maier", phone.replace("-", "").upper()).status_code == 207
    assert propfind(live, DEMO_USER, tablet).status_code == 207
    listing = cli("--database", live.db_url, "device", "list", DEMO_USER)
    line = next(li for li in listing.stdout.splitlines() if li.startswith(f"{phone_id}\t"))
    assert "iPhone Anna\tdavx5\t" in line and "127.0.0.1" in line and "active" in line
    assert phone not in listing.stdout

    revoked = cli("--database", live.db_url, "device", "revoke", DEMO_USER, str(phone_id))
    assert revoked.returncode == 0, revoked.stderr
    # The phone's credentials were verified and cached a moment ago: the cache must not outlive it.
    assert propfind(live, DEMO_USER, phone).status_code == 401
    assert propfind(live, DEMO_USER, tablet).status_code == 207
    assert propfind(live, DEMO_USER, DEMO_PASSWORD).status_code == 207
    assert "revoked" in cli("--database", live.db_url, "device", "list", DEMO_USER, "--all").stdout


def test_a_device_password_never_opens_the_settings_page(live):
    _, phone = add_device(live.db_url, "Handy")
    assert page(live, DEMO_USER, phone).status_code == 401
    assert page(live, DEMO_USER, DEMO_PASSWORD).status_code == 200


def test_a_device_password_belongs_to_one_practitioner(live):
    from tests.conftest import COLLEAGUE

    _, phone = add_device(live.db_url, "Annas Handy")
    assert propfind(live, COLLEAGUE, phone, path="/").status_code == 401


def test_device_cli_errors_are_one_line(live):
    assert_one_line_error(
        cli("--database", live.db_url, "device", "add", "niemand", "--label", "x"), "niemand"
    )
    assert_one_line_error(
        cli("--database", live.db_url, "device", "add", DEMO_USER, "--label", "  "), "label"
    )
    assert_one_line_error(cli("--database", live.db_url, "device", "revoke", DEMO_USER, "999999"), "999999")


def test_device_passwords_only_keeps_the_practice_password_off_caldav(live):
    config = ServerConfig()
    config.auth.device_passwords_only = True
    strict = start_server(live.db_url, config, load_demo=False)
    try:
        _, phone = add_device(live.db_url, "Nur Gerät")
        assert propfind(strict, DEMO_USER, DEMO_PASSWORD).status_code == 401
        assert propfind(strict, DEMO_USER, phone).status_code == 207
        assert page(strict, DEMO_USER, DEMO_PASSWORD).status_code == 200
    finally:
        strict.server.stop()


def test_a_disabled_practitioner_logs_in_nowhere_until_enabled(live):
    _, phone = add_device(live.db_url, "Gesperrt")
    assert propfind(live, DEMO_USER, DEMO_PASSWORD).status_code == 207  # cached now
    assert cli("--database", live.db_url, "user", "disable", DEMO_USER).returncode == 0
    try:
        assert propfind(live, DEMO_USER, DEMO_PASSWORD).status_code == 401
        assert propfind(live, DEMO_USER, phone).status_code == 401
        assert page(live, DEMO_USER, DEMO_PASSWORD).status_code == 401
        assert "disabled" in cli("--database", live.db_url, "user", "list").stdout
    finally:
        assert cli("--database", live.db_url, "user", "enable", DEMO_USER).returncode == 0
    assert propfind(live, DEMO_USER, DEMO_PASSWORD).status_code == 207
    assert propfind(live, DEMO_USER, phone).status_code == 207


# ---------------------------------------------------------------- login protection


def guarded_server(live, **auth):
    config = ServerConfig()
    config.trusted_proxy = True
    for key, value in auth.items():
        setattr(config.auth, key, value)
    return start_server(live.db_url, config, load_demo=False)


def test_two_servers_throttle_200_rotating_guesses_together_while_devices_and_own_addresses_sync(live):
    """The issue's scenario: two processes on one database behind a trusted proxy; 200 guesses
    against one user from rotating forwarded addresses."""
    a = guarded_server(live, max_failures=3, lockout_seconds=120)
    b = guarded_server(live, max_failures=3, lockout_seconds=120)
    try:
        _, phone = add_device(live.db_url, "Während Angriff")
        home = {"X-Forwarded-For": "198.51.100.7"}  # the practice's own address, known before
        assert propfind(a, DEMO_USER, DEMO_PASSWORD, **home).status_code == 207
        statuses = []
        for i in range(200):
            server = (a, b)[i % 2]
            attacker = {"X-Forwarded-For": f"203.0.{i // 250}.{i % 250 + 1}"}
            statuses.append(propfind(server, "Anna_Maier", f"rate-{i}", **attacker).status_code)
            if i % 20 == 0:
                device_from = {"X-Forwarded-For": f"192.0.2.{i // 20 + 1}"}  # a phone on the move
                assert propfind((b, a)[i % 2], DEMO_USER, phone, **device_from).status_code == 207
        refused = statuses.count(429)
        checked = statuses.count(401)
        # The account-wide limit (5 x 3) and the hourly budget of fresh-address checks (3) hold
        # across both servers; never hundreds.
        assert checked <= 5 * 3 + 3 and refused >= 180, (checked, refused)
        # The rotating addresses were fresh too and spent this hour's budget of fresh-address
        # checks (max_failures): a new address with the practice password now waits
        # (documented); server b has not verified it yet (a cached one is no guess and passes).
        # tests/test_login_attack.py shows it getting in while the budget lasts.
        fresh = {"X-Forwarded-For": "192.0.2.200"}
        assert propfind(b, DEMO_USER, DEMO_PASSWORD, **fresh).status_code == 429
        assert propfind(b, DEMO_USER, DEMO_PASSWORD, **home).status_code == 207
        assert propfind(a, DEMO_USER, phone, **{"X-Forwarded-For": "192.0.2.99"}).status_code == 207
    finally:
        a.server.stop()
        b.server.stop()


def test_every_spelling_of_a_login_shares_one_counter(live):
    server = guarded_server(live, max_failures=3, lockout_seconds=120)
    try:
        for name in ("anna maier", "ANNA_MAIER", "anna@example.org"):
            api.update_practitioner(api.find_practitioner(DEMO_USER), email="anna@example.org")
            assert propfind(server, name, "falsch").status_code == 401
        assert propfind(server, "Anna Maier", DEMO_PASSWORD).status_code == 429
        # Another address is not locked out by this one's failures.
        other = {"X-Forwarded-For": "198.51.100.50"}
        assert propfind(server, DEMO_USER, DEMO_PASSWORD, **other).status_code == 207
    finally:
        server.server.stop()


def test_forged_forwarded_entries_left_of_the_proxys_do_not_buy_attempts(live):
    server = guarded_server(live, max_failures=3, lockout_seconds=120)
    try:
        for i in range(3):
            forged = {"X-Forwarded-For": f"10.9.9.{i}, 203.0.113.9"}  # the proxy appended the last
            assert propfind(server, DEMO_USER, "falsch", **forged).status_code == 401
        forged = {"X-Forwarded-For": "10.9.9.77, 203.0.113.9"}
        assert propfind(server, DEMO_USER, DEMO_PASSWORD, **forged).status_code == 429
    finally:
        server.server.stop()


def test_unknown_and_known_names_cost_one_hash_each(live, monkeypatch):
    """Timing: every failed login, known name or not, device-shaped password or not, pays
    exactly one hash, and both are counted the same way."""
    calls = []
    real = davserver.auth.verify_password
    monkeypatch.setattr(davserver.auth, "verify_password", lambda p, s: calls.append(p) or real(p, s))
    shaped = device_passwords.new_password()
    for name, password in (
        (DEMO_USER, "falsch"),
        ("niemand hier", "falsch"),
        (DEMO_USER, shaped),
        ("niemand hier", shaped),
    ):
        calls.clear()
        assert propfind(live, name, password).status_code == 401
        assert len(calls) == 1, (name, password)
    keys = [row.key for row in LoginCounter.select()]
    assert any(k.startswith("u:#") for k in keys) and any(k.startswith("u:?niemand_hier") for k in keys)


def test_failure_rows_are_pruned_and_capped():
    import datetime as dt

    now = dt.datetime(2030, 1, 1)
    throttle = login_throttle.LoginThrottle(max_failures=2, window=60, lockout=10)
    for i in range(30):
        throttle.failed(f"#{i}", f"203.0.113.{i}", now=now)
    assert LoginCounter.select().count() == 90
    assert login_throttle.prune(now, max_rows=40) == 50
    assert LoginCounter.select().count() == 40
    # An address's rows are forgotten after the window, an account's failures after an hour.
    after_window = login_throttle.prune(now + dt.timedelta(seconds=61))
    assert all(row.key.startswith("u:") for row in LoginCounter.select())
    after_hour = login_throttle.prune(now + dt.timedelta(seconds=login_throttle.ACCOUNT_WINDOW + 1))
    assert after_window + after_hour == 40 and LoginCounter.select().count() == 0
    # The cap never takes a practitioner's fresh-address budget (`x:#` rows).
    throttle.admit("#1", "x", now=now)  # no lock: no ticket taken
    LoginCounter.create(
        key="x:#1", failures=2, last_at=now - dt.timedelta(days=1), forget_at=now + dt.timedelta(hours=1)
    )
    for i in range(5):
        throttle.failed(f"#{i}", "203.0.113.99", now=now)
    assert login_throttle.prune(now, max_rows=1) == 5 + 1 + 5  # a:, i:, u:
    assert [row.key for row in LoginCounter.select()] == ["x:#1"]


def test_backoff_doubles_and_success_clears_the_address(live):
    import datetime as dt

    now = dt.datetime(2030, 1, 1)
    throttle = login_throttle.LoginThrottle(max_failures=2, window=60, lockout=10)
    throttle.failed("#1", "a", now=now)
    assert throttle.retry_after("#1", "a", now=now) == 0
    throttle.failed("#1", "a", now=now)
    assert throttle.retry_after("#1", "a", now=now) == 11  # rounded up past the lock's end
    assert throttle.retry_after("#1", "b", now=now) == 0
    later = now + dt.timedelta(seconds=11)
    assert throttle.retry_after("#1", "a", now=later) == 0
    throttle.failed("#1", "a", now=later)  # one more after the lock: twice as long
    assert throttle.retry_after("#1", "a", now=later) == 21
    throttle.succeeded("#1", "a", now=later)
    assert throttle.retry_after("#1", "a", now=later) == 0
    quiet = later + dt.timedelta(seconds=20 + 61)
    throttle.failed("#1", "c", now=quiet)
    assert throttle.retry_after("#1", "c", now=quiet) == 0  # forgotten after a quiet window


def test_user_delete_refuses_owners_and_archives_with_keep_appointments(live):
    from providers.practice.models import Appointment, Practitioner

    owner = api.create_practitioner(
        api.find_practitioner(DEMO_USER).practice, "loeschen test", "Pw-lang-genug-1"
    )
    result = cli("--database", live.db_url, "user", "delete", "loeschen test")
    assert result.returncode == 0, result.stderr
    assert api.find_practitioner("loeschen test") is None
    # Anna owns the demo appointments: refused, then archived with --keep-appointments.
    anna = api.find_practitioner(DEMO_USER)
    owned = Appointment.select().where(Appointment.practitioner == anna.id).count()
    assert owned > 0
    assert_one_line_error(cli("--database", live.db_url, "user", "delete", DEMO_USER), "appointment")
    assert owner.id not in [p.id for p in Practitioner.select()]
    assert accounts.delete(anna, keep_appointments=True) == "archived"
    try:
        assert Appointment.select().where(Appointment.practitioner == anna.id).count() == owned
        assert propfind(live, DEMO_USER, DEMO_PASSWORD).status_code == 401
        assert DEMO_USER not in cli("--database", live.db_url, "user", "list").stdout
    finally:
        # Give the module's other tests their Anna back.
        Practitioner.update(
            username=DEMO_USER,
            login_key=api.login_key(DEMO_USER),
            url_key=api.url_key(DEMO_USER),
            disabled=False,
        ).where(Practitioner.id == anna.id).execute()
        api.set_password(Practitioner.get_by_id(anna.id), DEMO_PASSWORD)


def test_user_add_refuses_weak_passwords_and_ambiguous_practices(live):
    db = live.db_url
    short = cli("--database", db, "user", "add", "schwach test", "--password-stdin", stdin="kurz-1\n")
    assert_one_line_error(short, "at least 10 characters")
    own_name = cli(
        "--database", db, "user", "add", "schwach test", "--password-stdin", stdin="schwach test 1\n"
    )
    assert_one_line_error(own_name, "too easy to guess")
    second = api.get_or_create_practice("Zweitpraxis")
    try:
        strong = "Kiefer-Lampe-47\n"
        ambiguous = cli("--database", db, "user", "add", "praxis wahl", "--password-stdin", stdin=strong)
        assert_one_line_error(ambiguous, "several practices", "Zweitpraxis", "--practice")

        def add_to(practice: str):
            args = (
                "--database",
                db,
                "user",
                "add",
                "praxis wahl",
                "--practice",
                practice,
                "--password-stdin",
            )
            return cli(*args, stdin=strong)

        assert_one_line_error(add_to("Nirgends"), "no practice 'Nirgends'")
        chosen = add_to(str(second.id))
        assert chosen.returncode == 0, chosen.stderr
        assert api.find_practitioner("praxis wahl").practice_id == second.id
    finally:
        if api.find_practitioner("praxis wahl"):
            accounts.delete(api.find_practitioner("praxis wahl"))
        second.delete_instance()


def test_profile_command_embeds_a_new_device_password(live):
    import plistlib
    import subprocess

    from tests.test_cli import COMMAND, REPO

    result = subprocess.run(
        [*COMMAND, "--database", live.db_url, "profile", DEMO_USER, "--device", "iPad Praxis"],
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    account = plistlib.loads(result.stdout)["PayloadContent"][0]
    assert propfind(live, account["CalDAVUsername"], account["CalDAVPassword"]).status_code == 207
    assert "iPad Praxis" in cli("--database", live.db_url, "device", "list", DEMO_USER).stdout
