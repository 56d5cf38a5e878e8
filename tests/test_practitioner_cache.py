"""The practitioner cache on PostgreSQL: one query per login while nothing changes, and every
change, from any connection, seen by the next request."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import psycopg2
import pytest

from providers.practice import api, directory
from providers.practice.models import Practitioner
from providers.sql import practitioner_cache
from providers.sql.db import open_database
from tests.conftest import make_database_url, wait_until


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory, postgres_available) -> Iterator[str]:
    yield from make_database_url("postgresql", tmp_path_factory, postgres_available)


@pytest.fixture
def cache(pg_url) -> Iterator[practitioner_cache.PractitionerCache]:
    db = open_database(pg_url)
    if api.find_practitioner("cache user") is None:
        api.create_practitioner(api.get_or_create_practice("Cache", "cache-practice"), "cache user", "pw-1")
    active = practitioner_cache.enable(db)
    wait_until(lambda: active.live)
    yield active
    active.stop()


class _CountingLookups:
    """Counts how often the login lookup reaches the database."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = directory._practitioner_by_login_key.rows

        def rows(*args):
            self.count += 1
            return original(*args)

        monkeypatch.setattr(directory._practitioner_by_login_key, "rows", rows)


@contextlib.contextmanager
def _other_connection(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def test_a_login_is_read_once_while_nothing_changes(cache, monkeypatch):
    counter = _CountingLookups(monkeypatch)
    first = directory.practitioner_by_login_key("cache user")
    again = [directory.practitioner_by_login_key("cache user") for _ in range(5)]
    assert counter.count == 1
    assert all(p.username == "cache user" and p.practice.name == "Cache" for p in again)
    assert all(p is not first for p in again)  # each request gets its own copy
    again[0].display_name = "changed by one request"
    assert directory.practitioner_by_login_key("cache user").display_name != "changed by one request"


def test_a_change_from_another_connection_is_seen(cache, pg_url, monkeypatch):
    """The practice software or the CLI changes a row: the trigger's NOTIFY empties the cache."""
    before = directory.practitioner_by_login_key("cache user")
    with _other_connection(pg_url) as conn:
        conn.cursor().execute(
            "UPDATE practitioner SET password_hash = 'changed-elsewhere' WHERE login_key = %s",
            ("cache user",),
        )
    wait_until(lambda: directory.practitioner_by_login_key("cache user").password_hash == "changed-elsewhere")
    assert before.password_hash != "changed-elsewhere"
    with _other_connection(pg_url) as conn:  # the practice row is joined: it notifies too
        conn.cursor().execute(
            "UPDATE practice SET name = 'Cache renamed' WHERE external_id = %s", ("cache-practice",)
        )
    wait_until(lambda: directory.practitioner_by_login_key("cache user").practice.name == "Cache renamed")
    api.set_password(api.find_practitioner("cache user"), "pw-1")


def test_a_writer_in_this_process_is_seen_at_once(cache, pg_url):
    """Without waiting for the notification (switched off here): the writer empties the cache."""
    user = directory.practitioner_by_login_key("cache user")
    with _other_connection(pg_url) as conn:
        conn.cursor().execute("ALTER TABLE practitioner DISABLE TRIGGER praxis_practitioner_changed")
        try:
            api.update_practitioner(api.find_practitioner("cache user"), display_name="Dr. Cache")
            assert directory.practitioner_by_login_key("cache user").display_name == "Dr. Cache"
            api.set_password(api.find_practitioner("cache user"), "pw-2")
            assert directory.practitioner_by_login_key("cache user").password_hash != user.password_hash
            api.set_password(api.find_practitioner("cache user"), "pw-1")
        finally:
            conn.cursor().execute("ALTER TABLE practitioner ENABLE TRIGGER praxis_practitioner_changed")


def test_without_its_listener_the_cache_serves_nothing(cache, pg_url, monkeypatch, caplog):
    """A lost notification connection: every lookup reads the table until it listens again,
    and a change made meanwhile is not hidden by a row cached before."""
    caplog.set_level(logging.WARNING, "praxis_caldav.practitioner_cache")
    directory.practitioner_by_login_key("cache user")
    counter = _CountingLookups(monkeypatch)
    old_pid = cache.listener_pid
    with _other_connection(pg_url) as conn:
        conn.cursor().execute("SELECT pg_terminate_backend(%s)", (old_pid,))
    wait_until(lambda: not cache.live)
    directory.practitioner_by_login_key("cache user")
    directory.practitioner_by_login_key("cache user")
    assert counter.count == 2
    assert "practitioner cache paused" in caplog.text
    wait_until(lambda: cache.live and cache.listener_pid != old_pid)
    directory.practitioner_by_login_key("cache user")
    directory.practitioner_by_login_key("cache user")
    assert counter.count == 3


def test_the_cache_of_another_database_is_not_used(cache, tmp_path):
    """Tests and tools reopen other databases in one process: rows never cross over."""
    open_database(f"sqlite:///{tmp_path / 'other.db'}")
    assert directory.practitioner_by_login_key("cache user") is None
    assert Practitioner.select().count() == 0


def test_the_triggers_are_installed_once_and_notify(pg_url):
    db = open_database(pg_url)
    open_database(pg_url)  # a second start changes nothing
    names = sorted(
        r[0]
        for r in db.execute_sql("SELECT tgname FROM pg_trigger WHERE starts_with(tgname, %s)", ("praxis_",))
    )
    assert names == ["praxis_practice_changed", "praxis_practitioner_changed"]
    with _other_connection(pg_url) as listener:
        listener.cursor().execute(f"LISTEN {practitioner_cache.CHANNEL}")
        api.update_practitioner(api.find_practitioner("cache user"), calendar_order=7)
        wait_until(lambda: listener.poll() or listener.notifies)
        assert listener.notifies[0].channel == practitioner_cache.CHANNEL


def test_a_row_is_read_again_after_its_maximum_age(cache, pg_url, monkeypatch):
    """Should a notification never arrive (switched off here), the change still shows."""
    counter = _CountingLookups(monkeypatch)
    directory.practitioner_by_login_key("cache user")
    directory.practitioner_by_login_key("cache user")
    assert counter.count == 1
    with _other_connection(pg_url) as conn:
        conn.cursor().execute("ALTER TABLE practitioner DISABLE TRIGGER praxis_practitioner_changed")
        try:
            conn.cursor().execute(
                "UPDATE practitioner SET display_name = 'Unheard' WHERE login_key = 'cache user'"
            )
            assert directory.practitioner_by_login_key("cache user").display_name != "Unheard"
            monkeypatch.setattr(practitioner_cache, "MAX_AGE_SECONDS", 0.0)  # time has passed
            assert directory.practitioner_by_login_key("cache user").display_name == "Unheard"
            assert counter.count == 2
        finally:
            conn.cursor().execute("ALTER TABLE practitioner ENABLE TRIGGER praxis_practitioner_changed")
