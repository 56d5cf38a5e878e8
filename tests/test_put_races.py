"""Concurrency against the live server (threads, SQLite and PostgreSQL): of writers holding
the same ETag exactly one wins and the others get 412; create races on one URL or one UID
have one winner; every successful change has exactly one change-log row, and the losers
leave nothing behind."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests

from providers.practice.models import Appointment, Change
from tests.two_way import ICAL, PASSWORD, calendar_path, event, new_practitioner, row

WRITERS = 6


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("races")


def race(live, user, requests_to_send: list[tuple[str, str, str | None, dict]]):
    """Send all requests at once (one session and thread each); return the responses."""
    barrier = threading.Barrier(len(requests_to_send))
    results: list = [None] * len(requests_to_send)

    def worker(i, method, name, body, headers):
        with requests.Session() as s:
            s.auth = (user.username, PASSWORD)
            barrier.wait()
            results[i] = s.request(
                method,
                live.url(calendar_path(user) + name),
                data=body.encode() if body else None,
                headers={**ICAL, **headers},
                timeout=30,
            )

    threads = [threading.Thread(target=worker, args=(i, *req)) for i, req in enumerate(requests_to_send)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def changes(user, name: str) -> int:
    return Change.select().where((Change.practitioner == user.id) & (Change.resource_name == name)).count()


def etag_of(live, user, name):
    return live.request("GET", calendar_path(user) + name, user=user.username, password=PASSWORD).headers[
        "ETag"
    ]


def test_same_if_match_exactly_one_update_wins(live, user):
    live.request(
        "PUT",
        calendar_path(user) + "cas.ics",
        event("cas"),
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    etag = etag_of(live, user, "cas.ics")
    before = changes(user, "cas.ics")
    results = race(
        live,
        user,
        [("PUT", "cas.ics", event("cas", summary=f"Writer {i}"), {"If-Match": etag}) for i in range(WRITERS)],
    )
    statuses = Counter(r.status_code for r in results)
    assert statuses == {204: 1, 412: WRITERS - 1}
    winner = next(i for i, r in enumerate(results) if r.status_code == 204)
    assert row(user, "cas").subject == f"Writer {winner}"  # no lost update
    assert changes(user, "cas.ics") == before + 1


def test_create_race_on_one_url(live, user):
    results = race(
        live,
        user,
        [
            ("PUT", "new.ics", event("new", summary=f"Creator {i}"), {"If-None-Match": "*"})
            for i in range(WRITERS)
        ],
    )
    assert Counter(r.status_code for r in results) == {201: 1, 412: WRITERS - 1}
    assert (
        Appointment.select()
        .where((Appointment.practitioner == user.id) & (Appointment.resource_name == "new.ics"))
        .count()
        == 1
    )
    assert changes(user, "new.ics") == 1


def test_create_race_on_one_uid(live, user):
    results = race(
        live,
        user,
        [("PUT", f"uid-{i}.ics", event("one-uid"), {"If-None-Match": "*"}) for i in range(WRITERS)],
    )
    assert Counter(r.status_code for r in results) == {201: 1, 403: WRITERS - 1}
    winner = next(i for i, r in enumerate(results) if r.status_code == 201)
    for r in results:
        if r.status_code == 403:
            assert b"no-uid-conflict" in r.content and f"uid-{winner}.ics".encode() in r.content
    assert row(user, "one-uid").resource_name == f"uid-{winner}.ics"
    for i in range(WRITERS):
        assert changes(user, f"uid-{i}.ics") == (1 if i == winner else 0)


def test_delete_and_update_with_the_same_etag(live, user):
    live.request(
        "PUT",
        calendar_path(user) + "both.ics",
        event("both"),
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    etag = etag_of(live, user, "both.ics")
    before = changes(user, "both.ics")
    requests_ = [("DELETE", "both.ics", None, {"If-Match": etag})] * (WRITERS // 2)
    requests_ += [("PUT", "both.ics", event("both", summary="Update"), {"If-Match": etag})] * (WRITERS // 2)
    results = race(live, user, requests_)
    statuses = Counter(r.status_code for r in results)
    assert statuses[412] == WRITERS - 1 and statuses[204] == 1
    assert changes(user, "both.ics") == before + 1


def test_unconditional_writers_all_apply(live, user):
    live.request(
        "PUT",
        calendar_path(user) + "free.ics",
        event("free"),
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    before = changes(user, "free.ics")
    results = race(
        live, user, [("PUT", "free.ics", event("free", summary=f"Free {i}"), {}) for i in range(WRITERS)]
    )
    assert {r.status_code for r in results} == {204}
    assert row(user, "free").subject in {f"Free {i}" for i in range(WRITERS)}
    assert changes(user, "free.ics") == before + WRITERS
