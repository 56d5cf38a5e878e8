"""`praxis-caldav backup` while devices write, then `restore`: every write acknowledged
before the backup began is back, and devices sync again without loss: a token from
before the backup still works, a token from after it is refused (403 valid-sync-token)
so that device starts over with a full sync. SQLite and PostgreSQL, through the CLI."""

from __future__ import annotations

import re

from lxml import etree

from providers.practice.models import database_proxy
from providers.sql import practitioner_cache
from tests.conftest import start_server, wait_until
from tests.test_cli import cli
from tests.test_db_resilience import CALENDAR, Load
from tests.two_way import event as _event

SYNC = (
    '<?xml version="1.0" encoding="UTF-8"?><sync-collection xmlns="DAV:"><sync-token>{}</sync-token>'
    "<sync-level>1</sync-level><prop><getetag/></prop></sync-collection>"
)


def _sync(live, token: str = ""):
    resp = live.request("REPORT", CALENDAR, SYNC.format(token), headers={"Content-Type": "application/xml"})
    if resp.status_code != 207:
        return resp.status_code, None, set()
    root = etree.fromstring(resp.content)
    hrefs = {el.text for el in root.iter("{DAV:}href")}
    return 207, root.findtext("{DAV:}sync-token"), hrefs


def _number(token: str) -> int:
    return int(re.search(r"(\d+)$", token).group(1))


def _stop(live) -> None:
    live.server.stop()
    practitioner_cache.disable()
    database_proxy.close()


def test_backup_under_writes_then_restore(db_url, tmp_path):
    backup_file = tmp_path / "praxis.backup"
    live = start_server(db_url)
    try:
        _, token_before, _ = _sync(live)
        with Load(live.base_url, readers=1, writers=2) as load:
            wait_until(lambda: len(load.stored) >= 5, 20)
            acknowledged_before = set(load.stored)
            result = cli("--database", db_url, "backup", str(backup_file), timeout=60)
            assert result.returncode == 0, result.stderr
            count = len(load.stored)
            wait_until(lambda: len(load.stored) >= count + 3, 20)  # writes go on after it
        assert load.bad == []
        _, token_after, listed_after = _sync(live)
        assert acknowledged_before <= listed_after
        again = cli("--database", db_url, "backup", str(backup_file))
        assert "exists" in again.stderr and again.returncode != 0  # never overwrites
    finally:
        _stop(live)

    result = cli("--database", db_url, "restore", str(backup_file), timeout=60)
    assert result.returncode == 0, result.stderr
    live = start_server(db_url, load_demo=False)
    try:
        status, token, restored = _sync(live)
        assert status == 207 and acknowledged_before <= restored
        assert restored < listed_after  # the writes after the backup are gone, as expected
        for href in acknowledged_before:
            assert live.request("GET", href).status_code == 200
        # A device that synced before the backup: its token is valid and its changes come.
        status, _, changed = _sync(live, token_before)
        assert status == 207 and acknowledged_before <= changed
        # A device that synced after the backup knows changes the database no longer has:
        # refused, also once the restored database has made as many changes again.
        assert _sync(live, token_after)[0] == 403
        gap = _number(token_after) - _number(token_before)
        for n in range(gap + 2):
            headers = {"Content-Type": "text/calendar"}
            put = live.request(
                "PUT", f"{CALENDAR}after-restore-{n}.ics", _event(f"after-{n}"), headers=headers
            )
            assert put.status_code == 201
        assert _sync(live, token_after)[0] == 403
        status, _, changed = _sync(live, token_before)
        assert status == 207 and acknowledged_before <= changed
    finally:
        _stop(live)


def test_backup_errors_are_one_line(tmp_path):
    from tests.test_cli import assert_one_line_error

    db = f"sqlite:///{tmp_path}/p.db"
    assert_one_line_error(
        cli("--database", db, "backup", str(tmp_path / "x.bak"), cwd=tmp_path), "does not exist"
    )
    cli("--database", db, "user", "list", cwd=tmp_path)
    missing_dir = tmp_path / "nope" / "x.bak"
    assert_one_line_error(cli("--database", db, "backup", str(missing_dir), cwd=tmp_path), "does not exist")
    (tmp_path / "text.bak").write_text("not a database")
    assert_one_line_error(
        cli("--database", db, "restore", str(tmp_path / "text.bak"), cwd=tmp_path), "not a SQLite"
    )


def test_copy_database_from_sqlite_to_postgresql(tmp_path, tmp_path_factory, postgres_available):
    from tests.conftest import make_database_url

    sqlite_url = f"sqlite:///{tmp_path / 'p.db'}"
    live = start_server(sqlite_url)
    try:
        put = live.request(
            "PUT", f"{CALENDAR}moved.ics", _event("moved"), headers={"Content-Type": "text/calendar"}
        )
        assert put.status_code == 201
        _, token, listed = _sync(live)
    finally:
        _stop(live)
    pg = make_database_url("postgresql", tmp_path_factory, postgres_available)
    pg_url = next(pg)
    try:
        result = cli("copy-database", sqlite_url, pg_url, timeout=60)
        assert result.returncode == 0, result.stderr
        again = cli("copy-database", sqlite_url, pg_url, timeout=60)
        assert "not empty" in again.stderr and again.returncode != 0
        live = start_server(pg_url, load_demo=False)
        try:
            status, token_pg, listed_pg = _sync(live)
            assert (status, token_pg, listed_pg) == (207, token, listed)
            assert _sync(live, token)[2] == set()  # the device's token: valid, nothing new
            new = live.request(
                "PUT", f"{CALENDAR}new.ics", _event("new"), headers={"Content-Type": "text/calendar"}
            )
            assert new.status_code == 201
            assert _sync(live, token)[2] == {f"{CALENDAR}new.ics"}
        finally:
            _stop(live)
    finally:
        next(pg, None)
