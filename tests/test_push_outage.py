"""The push sender outlives its database connection: PostgreSQL connections killed (a restart,
a failover) cost one INFO line, and the next change is pushed as before."""

from __future__ import annotations

import logging
import time

import pytest

from tests.conftest import _pg_admin, make_database_url, wait_until
from tests.test_push import push_server, register_body
from tests.test_push_load import Problems
from tests.two_way import ICAL, PASSWORD, calendar_path, event, new_practitioner


@pytest.fixture
def pg_pushed(tmp_path_factory, postgres_available):
    urls = make_database_url("postgresql", tmp_path_factory, postgres_available)
    db_url = next(urls)
    try:
        with push_server(db_url) as served:
            yield served, db_url.rsplit("/", 1)[1]
    finally:
        next(urls, None)


def _kill_connections(database: str) -> int:
    admin = _pg_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            return cur.fetchone()[0]
    finally:
        admin.close()


def test_the_sender_reconnects_after_its_connection_was_killed(pg_pushed):
    (live, service), database = pg_pushed
    user = new_practitioner("killed")
    body = register_body(f"{service.base}/killed", service)
    headers = {"Content-Type": "application/xml"}
    answer = live.request(
        "POST", calendar_path(user), body, user=user.username, password=PASSWORD, headers=headers
    )
    assert answer.status_code == 201
    push_log = logging.getLogger("praxis_caldav.push")
    seen = Problems()
    seen.setLevel(logging.INFO)
    push_log.addHandler(seen)
    push_log.setLevel(logging.INFO)
    try:

        def put(name: str) -> None:
            for _ in range(20):  # the request that meets the dead connection may answer 503
                answer = live.request(
                    "PUT",
                    calendar_path(user) + name,
                    event(name),
                    user=user.username,
                    password=PASSWORD,
                    headers=ICAL,
                )
                if answer.status_code != 503:
                    break
                time.sleep(0.1)
            assert answer.status_code == 201

        put("before.ics")
        wait_until(lambda: len(service.to("/killed")) == 1)
        assert _kill_connections(database) >= 1
        time.sleep(1)  # the sender's polls meet the dead connection
        put("after.ics")
        wait_until(lambda: len(service.to("/killed")) == 2, seconds=10)
    finally:
        push_log.removeHandler(seen)
        push_log.setLevel(logging.NOTSET)
    levels = {(r.levelname, r.getMessage()) for r in seen.records}
    assert levels <= {("INFO", "push sender: database unavailable (connection lost); retrying")}, levels
