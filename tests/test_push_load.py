"""Pushes under a write load on SQLite: the sender's claim UPDATEs share the database file
with the devices' PUTs and the practice software's imports, and must never make one of them
fail (5xx, an import error) or put an ERROR in the log.

SQLite lets one connection write at a time. A transaction that read first and then wants to
write after another connection committed cannot wait for the lock: it fails at once ("database
is locked"), whatever busy_timeout says. Every transaction therefore takes the write lock at
BEGIN (providers/sql/db.py); here devices PUT at once while every change is pushed to each of their
subscriptions (coalescing off, so the sender claims as often as it ever does) and an import,
which reads before it writes, runs again and again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest

from providers.practice import push_subscriptions as subs
from providers.practice.importer import import_data
from tests.conftest import wait_until
from tests.test_push import push_server, register_body
from tests.two_way import ICAL, PASSWORD, calendar_path, event, new_practitioner

DEVICES = 5
SECONDS = 5.0


class Problems(logging.Handler):
    """Every record at WARNING or above, from any logger of the server."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def loaded(tmp_path):
    problems = Problems()
    logging.getLogger().addHandler(problems)
    try:
        with push_server(f"sqlite:///{tmp_path / 'praxis.db'}") as (live, service):
            yield live, service, problems
    finally:
        logging.getLogger().removeHandler(problems)


def _import(n: int) -> None:
    """What the practice software sends: one practitioner, one appointment more each time."""
    import_data(
        {
            "practice": {"id": "practice-load", "name": "Praxis load"},
            "practitioners": [{"id": "load-p", "username": "load import", "password": PASSWORD}],
            "appointments": [
                {
                    "id": f"i{n}",
                    "practitioner": "load-p",
                    "start": "2031-06-01T09:00",
                    "end": "2031-06-01T10:00",
                }
            ],
        }
    )


def test_device_puts_and_imports_while_pushes_are_sent_neither_fail_nor_log(loaded):
    live, service, problems = loaded
    users = [new_practitioner(f"load{i}") for i in range(DEVICES)]
    for i, user in enumerate(users):
        body = register_body(f"{service.base}/device{i}", service)
        headers = {"Content-Type": "application/xml"}
        answer = live.request(
            "POST", calendar_path(user), body, user=user.username, password=PASSWORD, headers=headers
        )
        assert answer.status_code == 201

    statuses: list[int] = []
    imports: list[str] = []
    stop = time.monotonic() + SECONDS

    def device(i: int) -> None:
        user, n = users[i], 0
        while time.monotonic() < stop:
            answer = live.request(
                "PUT",
                f"{calendar_path(user)}load-{n % 20}.ics",  # creates, then updates
                event(f"load-{i}-{n % 20}", summary=f"Termin {n}"),
                user=user.username,
                password=PASSWORD,
                headers=ICAL,
            )
            statuses.append(answer.status_code)
            n += 1

    def practice_software() -> None:
        n = 0
        while time.monotonic() < stop:
            try:
                _import(n)
                imports.append("ok")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                imports.append(f"{type(exc).__name__}: {exc}")
            n += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=device, args=(i,)) for i in range(DEVICES)]
    threads.append(threading.Thread(target=practice_software))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1)

    assert len(statuses) > 10 * DEVICES and len(imports) > 10  # a real load, not a few requests
    failed = sorted({s for s in statuses if s not in (201, 204)})
    assert failed == [], f"{sum(s not in (201, 204) for s in statuses)} of {len(statuses)} PUTs: {failed}"
    assert sorted(set(imports)) == ["ok"], f"{len(imports) - imports.count('ok')} imports failed"
    assert [r.getMessage() for r in problems.records] == []
    for i in range(DEVICES):  # the pushes really went out meanwhile
        assert len(service.to(f"/device{i}")) >= 3


def test_a_locked_database_delays_pushes_without_a_warning(loaded, monkeypatch):
    """SQLite locked beyond busy_timeout (a long import holds the write lock): the sender
    says so once at INFO and sends when the database answers again."""
    live, service, problems = loaded
    user = new_practitioner("locked")
    body = register_body(f"{service.base}/locked", service)
    headers = {"Content-Type": "application/xml"}
    assert (
        live.request(
            "POST", calendar_path(user), body, user=user.username, password=PASSWORD, headers=headers
        ).status_code
        == 201
    )
    failures = iter(range(5))
    real = subs.newest_changes

    def locked(after: int) -> dict[int, int]:
        if next(failures, None) is not None:
            raise sqlite3.OperationalError("database is locked")  # as peewee's cause carries it
        return real(after)

    monkeypatch.setattr(subs, "newest_changes", locked)
    infos = Problems()
    infos.setLevel(logging.INFO)
    logging.getLogger("praxis_caldav.push").addHandler(infos)
    logging.getLogger("praxis_caldav.push").setLevel(logging.INFO)
    try:
        answer = live.request(
            "PUT",
            calendar_path(user) + "x.ics",
            event("x"),
            user=user.username,
            password=PASSWORD,
            headers=ICAL,
        )
        assert answer.status_code == 201
        wait_until(lambda: len(service.to("/locked")) == 1)
    finally:
        logging.getLogger("praxis_caldav.push").removeHandler(infos)
        logging.getLogger("praxis_caldav.push").setLevel(logging.NOTSET)
    assert next(failures, None) is None  # all five failures happened
    assert [r.getMessage() for r in infos.records] == [
        "push sender: database unavailable (sqlite locked); retrying"
    ]
    assert problems.records == []
