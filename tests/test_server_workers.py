"""The worker hand-off of our cheroot server: the most recently idle worker gets the next
connection, connections keep their arrival order, and the server still stops."""

from __future__ import annotations

import http.client
import threading
import time

from davserver.config import ServerConfig
from davserver.server import MostRecentlyIdleFirst, make_server
from tests.conftest import free_port, wait_until


def _workers(queue: MostRecentlyIdleFirst, names: list[str], got: list[tuple[str, object]]):
    """Start one waiting worker per name, in this order, each taking one item."""
    threads = []
    for index, name in enumerate(names):

        def work(name=name):
            got.append((name, queue.get()))

        thread = threading.Thread(target=work)
        thread.start()
        threads.append(thread)
        wait_until(lambda n=index + 1: len(queue._idle) == n)
    return threads


def test_the_worker_idle_last_gets_the_next_item():
    queue, got = MostRecentlyIdleFirst(), []
    threads = _workers(queue, ["first idle", "second idle", "last idle"], got)
    queue.put("a")
    wait_until(lambda: len(got) == 1)
    queue.put("b")
    wait_until(lambda: len(got) == 2)
    queue.put("c")
    for thread in threads:
        thread.join(5)
    assert got == [("last idle", "a"), ("second idle", "b"), ("first idle", "c")]


def test_items_nobody_waited_for_keep_their_order():
    queue, got = MostRecentlyIdleFirst(), []
    for item in ("1", "2", "3"):
        queue.put(item)
    assert queue.qsize() == 3
    assert [queue.get() for _ in range(3)] == ["1", "2", "3"]
    threads = _workers(queue, ["w"], got)
    queue.put("4")
    threads[0].join(5)
    assert got == [("w", "4")] and queue.qsize() == 0


def test_one_client_is_served_by_one_warm_thread_and_the_server_stops():
    """With queue.Queue a keep-alive client's requests rotate through every worker."""
    served_by = []

    def app(environ, start_response):
        served_by.append(threading.get_ident())
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    config = ServerConfig()
    config.host, config.port, config.threads = "127.0.0.1", free_port(), 8
    server = make_server(app, config)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        client = http.client.HTTPConnection("127.0.0.1", config.port, timeout=10)
        for _ in range(40):
            client.request("GET", "/")
            response = client.getresponse()
            assert response.read() == b"ok"
        client.close()
    finally:
        started = time.monotonic()
        server.stop()
        thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert len(served_by) == 40
    assert len(set(served_by[5:])) <= 2, f"{len(set(served_by))} threads served one client"
