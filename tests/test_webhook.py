"""The change feed's webhook: a device's change POSTs a signed "changes-available" (no
appointment data), a practice import does not, failures are retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from davserver.config import ConfigError, ServerConfig, validate
from davserver.webhook import Webhook
from providers.practice.importer import import_data
from tests.conftest import start_server, wait_until
from tests.two_way import ICAL, PASSWORD, event

SECRET = "hook-secret"


class Receiver:
    """A practice software's endpoint: records each POST, answers `statuses` in turn (then 204)."""

    def __init__(self, statuses=()):
        self.posts: list[tuple[dict, bytes]] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


def _signed(headers: dict, body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Praxis-Signature"], expected)


def test_failed_delivery_is_retried_and_signed():
    receiver = Receiver(statuses=[500, 503])
    try:
        assert Webhook(receiver.url, SECRET, retry_delays=(0.05, 0.05, 0.05)).deliver()
        assert len(receiver.posts) == 3
        assert all(_signed(h, b) for h, b in receiver.posts)
        assert json.loads(receiver.posts[0][1])["event"] == "changes-available"
    finally:
        receiver.close()
    assert not Webhook(receiver.url, SECRET, retry_delays=(0.01,), timeout=1).deliver()  # gone


@pytest.fixture
def hooked(db_url):
    receiver = Receiver()
    config = ServerConfig()
    config.integration.webhook_url, config.integration.webhook_secret = receiver.url, SECRET
    live = start_server(db_url, config)
    yield live, receiver
    live.server.stop()
    receiver.close()


def test_a_device_change_pokes_the_webhook_and_an_import_does_not(hooked):
    live, receiver = hooked
    import_data(
        {
            "practice": {"id": "hook-practice", "name": "Hook-Praxis"},
            "practitioners": [{"id": "hook-p1", "username": "hook user", "password": PASSWORD}],
            "appointments": [
                {
                    "id": "h1",
                    "practitioner": "hook-p1",
                    "start": "2031-08-01T09:00",
                    "end": "2031-08-01T10:00",
                }
            ],
        }
    )
    time.sleep(0.3)
    assert receiver.posts == []
    put = live.request(
        "PUT",
        "/hook_user/calendar/h-dev.ics",
        event("h-dev"),
        user="hook user",
        password=PASSWORD,
        headers=ICAL,
    )
    assert put.status_code in (201, 204)
    wait_until(lambda: len(receiver.posts) >= 1)
    headers, body = receiver.posts[0]
    assert _signed(headers, body) and set(json.loads(body)) == {"event", "time"}  # no appointment data


def test_webhook_configuration_is_checked():
    config = ServerConfig()
    config.integration.webhook_url = "http://127.0.0.1:9/hook"
    with pytest.raises(ConfigError, match="webhook_secret"):
        validate(config)
    config.integration.webhook_url = "ftp://example.org/"
    config.integration.webhook_secret = SECRET
    with pytest.raises(ConfigError, match="webhook_url"):
        validate(config)
