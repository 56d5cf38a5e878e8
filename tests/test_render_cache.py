"""The render cache: typed kinds with a budget and a hit counter each, and its single
flight (the same cold answer asked for together is computed once).

A device (or eight benchmark connections) asking the same week at once used to render the
same objects in every thread: memory times the threads, CPU times the threads, one answer.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import davserver.reports.calendar_query as calendar_query
from providers.practice import api
from providers.practice.models import Appointment
from providers.render_cache import (
    Budget,
    InRangeKey,
    QueryKey,
    RenderCache,
    RenderKey,
    ResponseKey,
    SkeletonKey,
)
from tests.conftest import DEMO_PASSWORD, DEMO_USER
from tests.test_reports_support import query_body, time_range, utc, vevent_filter

CALENDAR = "/anna_maier/calendar/"


def test_a_second_thread_waits_for_the_first_computation_of_a_key():
    cache, order, key = RenderCache(), [], SkeletonKey(1, 1)
    inside = threading.Event()

    def first():
        with cache.computing(key):
            inside.set()
            time.sleep(0.2)
            cache.put(key, b"answer")
            order.append("first done")

    def second():
        inside.wait(5)
        with cache.computing(key):
            order.append(("second sees", cache.get(key)))

    with ThreadPoolExecutor(2) as pool:
        for f in [pool.submit(first), pool.submit(second)]:
            f.result(10)
    assert order == ["first done", ("second sees", b"answer")]
    assert not cache._flights


def test_other_keys_do_not_wait_and_an_error_releases_the_key():
    cache = RenderCache()
    a, b, c = SkeletonKey(1, 1), SkeletonKey(2, 1), SkeletonKey(3, 1)
    with cache.computing(a):
        done = threading.Event()

        def take_b():
            with cache.computing(b):
                done.set()

        threading.Thread(target=take_b).start()
        assert done.wait(5)  # b is not held up by a
    with pytest.raises(RuntimeError), cache.computing(c):
        raise RuntimeError("render failed")
    got = threading.Event()

    def take_c():
        with cache.computing(c):
            got.set()

    threading.Thread(target=take_c).start()
    assert got.wait(5)


def test_each_kind_has_its_key_type_budget_and_hit_counter():
    budgets = {
        RenderKey: Budget(3, 10_000),
        ResponseKey: Budget(3, 10_000),
        SkeletonKey: Budget(100, 10_000),
        InRangeKey: Budget(100, 10_000),
        QueryKey: Budget(100, 10_000),
    }
    cache = RenderCache(budgets)
    for i in range(5):
        cache.put(RenderKey(i, 1, "clear"), b"x")
    cache.put(ResponseKey(0, 1, "clear", 0), b"tail")
    # A plain tuple, or another kind's key with the same fields, is no key of a kind.
    with pytest.raises(TypeError):
        cache.get((4, 1, "clear"))
    assert cache.get(ResponseKey(4, 1, "clear", 0)) is None
    # The render kind kept its newest 3; the response kind was not pushed out by it.
    assert [cache.get(RenderKey(i, 1, "clear")) for i in range(5)] == [None, None, b"x", b"x", b"x"]
    assert cache.get_many([ResponseKey(0, 1, "clear", 0), ResponseKey(1, 1, "clear", 0)]) == [b"tail", None]
    stats = cache.stats()
    assert stats["RenderKey"][:3] == (3, 2, 3)  # hits, misses, entries
    assert stats["ResponseKey"][:3] == (1, 2, 1)
    assert stats["SkeletonKey"] == (0, 0, 0, 0)
    # One kind's byte budget: an entry over a quarter of it is not kept; the rest evict by bytes.
    cache.put(SkeletonKey(1, 1), b"y" * 3_000)
    assert cache.get(SkeletonKey(1, 1)) is None
    for i in range(6):
        cache.put(SkeletonKey(i, 2), b"y" * 2_000)
    assert cache.stats()["SkeletonKey"][3] <= 10_000
    assert cache.get(SkeletonKey(0, 2)) is None and cache.get(SkeletonKey(5, 2)) == b"y" * 2_000
    assert len(cache) == 3 + 1 + cache.stats()["SkeletonKey"][2]


def test_the_same_cold_calendar_query_from_six_connections_is_computed_once(sqlite_live, monkeypatch):
    anna = api.find_practitioner(DEMO_USER)
    # New revisions for every row: no answer or rendering of this calendar is cached.
    api.republish(Appointment.practitioner == anna.id)
    calls, real = [], calendar_query.matching

    def slow_matching(*args):
        calls.append(threading.get_ident())
        time.sleep(0.3)  # the other five requests arrive meanwhile
        return real(*args)

    monkeypatch.setattr(calendar_query, "matching", slow_matching)
    body = query_body(
        vevent_filter(time_range(utc(2000, 1, 1), utc(2100, 1, 1))), "<D:getetag/><C:calendar-data/>"
    ).encode()

    def ask():
        return requests.request(
            "REPORT",
            sqlite_live.url(CALENDAR),
            data=body,
            timeout=30,
            auth=(DEMO_USER, DEMO_PASSWORD),
            headers={"Depth": "1"},
        )

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: ask(), range(6)))
    assert [a.status_code for a in answers] == [207] * 6
    assert len({a.content for a in answers}) == 1
    assert answers[0].content.count(b"<D:response>") > 1
    assert len(calls) == 1
