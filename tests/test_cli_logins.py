"""Issue 18's CLI commands at their edges, on SQLite and PostgreSQL: every login command
naming an unknown practitioner fails in one line naming it; `user passwd` applies the
password policy; `user disable|enable` and `audit --limit` answer as documented.
(The happy paths are in test_device_passwords.py, test_access_audit.py and test_cli.py.)"""

from __future__ import annotations

import pytest

from providers.practice import access_audit
from providers.practice.models import AccessAudit, LoginCounter
from tests.conftest import DEMO_PASSWORD, DEMO_USER, wait_until
from tests.test_cli import assert_one_line_error, cli
from tests.test_device_passwords import add_device, propfind

COMMANDS = [
    ("device", "add", "niemand da", "--label", "x"),
    ("device", "list", "niemand da"),
    ("device", "revoke", "niemand da", "1"),
    ("audit", "niemand da"),
    ("user", "disable", "niemand da"),
    ("user", "enable", "niemand da"),
    ("user", "delete", "niemand da"),
]


@pytest.fixture(autouse=True)
def fresh_counters(live):
    LoginCounter.delete().execute()


def test_every_login_command_refuses_an_unknown_name_in_one_line(live):
    for args in COMMANDS:
        assert_one_line_error(cli("--database", live.db_url, *args), "niemand da")


def test_user_passwd_applies_the_password_policy(live):
    db = live.db_url
    for weak, why in (("kurz-1", "at least 10 characters"), ("anna maier 1", "too easy to guess")):
        refused = cli("--database", db, "user", "passwd", DEMO_USER, "--password-stdin", stdin=weak + "\n")
        assert_one_line_error(refused, why)
    assert propfind(live, DEMO_USER, DEMO_PASSWORD).status_code == 207  # unchanged


def test_user_disable_enable_and_audit_limit_answer(live, monkeypatch):
    monkeypatch.setattr(access_audit, "FLUSH_SECONDS", -1.0)  # the server writes at every request
    device_id, phone = add_device(live.db_url, "Limit-Handy")
    for _ in range(2):
        assert propfind(live, DEMO_USER, phone).status_code == 207
    disabled = cli("--database", live.db_url, "user", "disable", DEMO_USER)
    try:
        assert disabled.returncode == 0 and "disabled" in disabled.stdout
        assert propfind(live, DEMO_USER, phone).status_code == 401
    finally:
        enabled = cli("--database", live.db_url, "user", "enable", DEMO_USER)
    assert enabled.returncode == 0 and "enabled" in enabled.stdout
    assert propfind(live, DEMO_USER, phone).status_code == 207
    wait_until(lambda: AccessAudit.select().where(AccessAudit.device_key == device_id).count() == 1)
    audit = cli("--database", live.db_url, "audit", DEMO_USER, "--limit", "1")
    lines = audit.stdout.splitlines()
    assert audit.returncode == 0 and lines[0].startswith("hour (UTC)\tdevice") and len(lines) == 2
