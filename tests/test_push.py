"""WebDAV-Push through the real server: a DAVx5-shaped registration, then a change made by a
device's PUT, by the practice API and by an import each brings one encrypted, VAPID-signed
message with the calendar's topic (and nothing identifying) to a push service on loopback,
which decrypts it with the subscription's private key."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email.utils
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from py_vapid import Vapid02

from davserver import app as app_module
from davserver.config import ConfigError, ServerConfig, validate
from davserver.metrics import PUSH_MESSAGES
from davserver.push.sender import EndpointRefused, PushSender, check_endpoint
from providers import push_properties
from providers.practice import api
from providers.practice import push_subscriptions as subs
from providers.practice.importer import import_data
from providers.practice.models import PushSubscription, utcnow
from tests.conftest import LiveServer, start_server, wait_until
from tests.two_way import ICAL, PASSWORD, calendar_path, event, new_practitioner

NS = "https://bitfire.at/webdav-push"
PATIENT = "Zerlina Xaverhuber"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class PushService:
    """A push service on 127.0.0.1: records each message, decrypted with the subscription's
    private key; answers 201, or 410 for resources whose path ends in /gone."""

    def __init__(self):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = b64(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        self.auth = b"0123456789abcdef"
        self.messages: list[tuple[str, dict, bytes]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                plain = http_ece.decrypt(
                    body, private_key=service.private_key, auth_secret=service.auth, version="aes128gcm"
                )
                service.messages.append((self.path, {k.lower(): v for k, v in self.headers.items()}, plain))
                self.send_response(410 if self.path.endswith("/gone") else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def to(self, path: str) -> list[tuple[str, dict, bytes]]:
        return [m for m in self.messages if m[0] == path]

    def close(self):
        self.server.shutdown()


def register_body(resource: str, service: PushService, expires: dt.datetime | None = None) -> str:
    """As DAVx5 (PushRegistrationWorker with dav4jvm's names) sends it."""
    expires = expires or dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    return f"""<?xml version='1.0' encoding='UTF-8' ?>
<push-register xmlns="{NS}"><subscription><web-push-subscription>
<push-resource>{resource}</push-resource>
<subscription-public-key type="p256dh">{service.public_key}</subscription-public-key>
<auth-secret>{b64(service.auth)}</auth-secret>
</web-push-subscription></subscription>
<expires>{email.utils.format_datetime(expires, usegmt=True)}</expires></push-register>"""


@contextlib.contextmanager
def push_server(db_url: str) -> Iterator[tuple[LiveServer, PushService]]:
    """The real server with push on (coalescing off, quick retries) and a push service."""
    service = PushService()
    config = ServerConfig()
    config.push.enabled = True
    config.push.allow_insecure_endpoints = True
    config.push.coalesce_seconds = 0
    live = start_server(db_url, config)
    sender = app_module.SENDERS[-1]
    sender.retry_delays = (0.05,)
    try:
        yield live, service
    finally:
        live.server.stop()
        sender.stop()
        app_module.SENDERS.remove(sender)
        push_properties.disable()
        service.close()


@pytest.fixture(scope="module")
def pushed(db_url):
    with push_server(db_url) as served:
        yield served


def _post(live, user, calendar: str, body: str):
    """A POST as the device of `user` sends it."""
    return live.request(
        "POST",
        calendar,
        body,
        user=user.username,
        password=PASSWORD,
        headers={"Content-Type": "application/xml"},
    )


def _register(live, user, service, path: str, **kw):
    return _post(live, user, calendar_path(user), register_body(service.base + path, service, **kw))


def _properties(live, user) -> etree._Element:
    wanted = "<P:transports/><P:topic/><P:supported-triggers/>"
    body = f'<propfind xmlns="DAV:" xmlns:P="{NS}"><prop>{wanted}</prop></propfind>'
    answer = live.request(
        "PROPFIND", calendar_path(user), body, user=user.username, password=PASSWORD, headers={"Depth": "0"}
    )
    assert answer.status_code == 207
    return etree.fromstring(answer.content)


def _fields(start: dt.datetime, subject: str) -> api.AppointmentFields:
    return api.AppointmentFields(start_local=start, end_local=start + dt.timedelta(hours=1), subject=subject)


def test_register_then_every_kind_of_change_brings_one_encrypted_message(pushed):
    live, service = pushed
    user = new_practitioner("push")
    props = _properties(live, user)
    topic = props.findtext(f".//{{{NS}}}topic")
    vapid = props.find(f".//{{{NS}}}web-push/{{{NS}}}vapid-public-key")
    assert topic and len(topic) <= 32 and vapid is not None and vapid.get("type") == "p256dh"
    assert props.find(f".//{{{NS}}}supported-triggers/{{{NS}}}content-update") is not None

    answer = _register(live, user, service, "/anna")
    assert answer.status_code == 201
    location = urlsplit(answer.headers["Location"]).path
    assert answer.headers["Location"].startswith(live.url("/.push/")) and "Expires" in answer.headers
    assert urlsplit(_register(live, user, service, "/anna").headers["Location"]).path == location  # renewal
    time.sleep(0.5)
    assert service.to("/anna") == []  # registering is no change

    def one_more(action) -> tuple[dict, bytes]:
        before = len(service.to("/anna"))
        started = time.monotonic()
        action()
        wait_until(lambda: len(service.to("/anna")) > before, seconds=5)
        assert time.monotonic() - started < 3
        time.sleep(0.4)
        assert len(service.to("/anna")) == before + 1  # one message per change, not one per row
        return service.to("/anna")[-1][1:]

    put = lambda: live.request(  # noqa: E731
        "PUT",
        calendar_path(user) + "dev.ics",
        event("dev"),
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    practice = lambda: api.create_appointment(user, _fields(dt.datetime(2031, 5, 5, 9), PATIENT))  # noqa: E731
    imported = lambda: import_data(  # noqa: E731
        {
            "practice": {"id": "practice-push", "name": "Praxis push"},
            "practitioners": [{"id": "push-p", "username": user.username, "password": PASSWORD}],
            "appointments": [
                {"id": "i1", "practitioner": "push-p", "start": "2031-06-01T09:00", "end": "2031-06-01T10:00"}
            ],
        }
    )
    for action in (put, practice, imported):
        headers, plain = one_more(action)
        message = etree.fromstring(plain)
        assert message.tag == f"{{{NS}}}push-message"
        assert [el.tag for el in message] == [f"{{{NS}}}topic"] and message.findtext(
            f"{{{NS}}}topic"
        ) == topic
        assert PATIENT.encode() not in plain and user.username.encode() not in plain
        assert headers["topic"] == topic and headers["content-encoding"] == "aes128gcm"
        assert headers["ttl"] and headers["urgency"]
        assert Vapid02.verify(headers["authorization"])  # signed with the advertised VAPID key
        assert headers["authorization"].endswith("k=" + vapid.text)

    # Unregister: DELETE of the registration URL; then no more messages, and a second DELETE is 404.
    assert live.request("DELETE", location, user=user.username, password=PASSWORD).status_code == 204
    assert live.request("DELETE", location, user=user.username, password=PASSWORD).status_code == 404
    count = len(service.to("/anna"))
    practice()
    time.sleep(1)
    assert len(service.to("/anna")) == count


def test_a_gone_subscription_is_removed_and_an_expired_one_is_not_used(pushed):
    live, service = pushed
    user = new_practitioner("gone")
    assert _register(live, user, service, "/gone").status_code == 201
    assert _register(live, user, service, "/expired").status_code == 201
    PushSubscription.update(expires=dt.datetime(2020, 1, 1)).where(
        PushSubscription.push_resource == service.base + "/expired"
    ).execute()
    gone_before = PUSH_MESSAGES.labels("gone")._value.get()
    api.create_appointment(user, _fields(dt.datetime(2031, 5, 6, 9), "x"))
    wait_until(lambda: len(service.to("/gone")) == 1)
    wait_until(lambda: PUSH_MESSAGES.labels("gone")._value.get() == gone_before + 1)  # /metrics
    wait_until(
        lambda: PushSubscription.get_or_none(PushSubscription.push_resource == service.base + "/gone") is None
    )
    time.sleep(0.5)
    assert service.to("/expired") == []


def test_another_login_cannot_unregister_and_bad_registrations_are_refused(pushed):
    live, service = pushed
    owner, other = new_practitioner("own"), new_practitioner("other")
    location = urlsplit(_register(live, owner, service, "/own").headers["Location"]).path
    assert live.request("DELETE", location, user=other.username, password=PASSWORD).status_code == 404
    assert PushSubscription.get_or_none(PushSubscription.viewer == owner.id) is not None

    def post(body: str):
        return _post(live, owner, calendar_path(owner), body)

    good = register_body(service.base + "/x", service)
    assert post(good.replace(service.public_key, "AAAA")).status_code == 400
    assert post(good.replace(service.base + "/x", "ftp://example.org/x")).status_code == 403
    assert post("<nope/>").status_code == 400
    assert (
        post(good.replace("<auth-secret>", "<other>").replace("</auth-secret>", "</other>")).status_code
        == 403
    )
    # A foreign calendar is invisible: 404, not a registration.
    assert _post(live, owner, calendar_path(other), good).status_code == 404


def test_push_endpoints_must_be_public_https():
    for url in (
        "http://push.example.org/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://[::1]/x",
        "https://localhost/x",
    ):
        with pytest.raises(EndpointRefused):
            check_endpoint(url, allow_insecure=False)
    check_endpoint("https://1.1.1.1/x", allow_insecure=False)  # a public literal: no lookup
    check_endpoint("http://127.0.0.1:9/x", allow_insecure=True)


def _wait_for(service: PushService, path: str, count: int) -> None:
    wait_until(lambda: len(service.to(path)) >= count, seconds=5)
    time.sleep(0.4)  # and no more than that
    assert len(service.to(path)) == count


def test_a_revoked_grantee_gets_no_more_messages(pushed):
    live, service = pushed
    owner = new_practitioner("lender")
    grantee = api.create_practitioner(owner.practice, f"borrower {owner.id}", PASSWORD)
    api.grant_access(owner, grantee, can_write=False)
    assert _register(live, owner, service, "/lender").status_code == 201
    shared = f"/{api.url_segment(grantee.username)}/shared-{api.url_segment(owner.username)}/"
    answer = _post(live, grantee, shared, register_body(service.base + "/borrower", service))
    assert answer.status_code == 201
    api.create_appointment(owner, _fields(dt.datetime(2031, 5, 7, 9), "x"))
    _wait_for(service, "/lender", 1)
    _wait_for(service, "/borrower", 1)
    assert service.to("/lender")[0][1]["topic"] == service.to("/borrower")[0][1]["topic"]
    api.revoke_access(owner, grantee)
    api.create_appointment(owner, _fields(dt.datetime(2031, 5, 8, 9), "x"))
    _wait_for(service, "/lender", 2)
    assert len(service.to("/borrower")) == 1


def test_two_senders_on_one_database_send_each_change_once(pushed):
    """Two server processes share the database: each change is claimed by one of them."""
    live, service = pushed
    second = PushSender(live.config.push, retry_delays=(0.05,)).start()
    try:
        user = new_practitioner("twice")
        assert _register(live, user, service, "/twice").status_code == 201
        for day in range(1, 11):
            api.create_appointment(user, _fields(dt.datetime(2031, 7, day, 9), "x"))
            wait_until(lambda day=day: len(service.to("/twice")) >= day, seconds=5)
        time.sleep(0.5)
        assert len(service.to("/twice")) == 10
    finally:
        second.stop()


def test_a_burst_of_changes_is_coalesced(pushed):
    live, service = pushed
    sender = app_module.SENDERS[-1]
    sender.coalesce = dt.timedelta(seconds=1.5)
    try:
        user = new_practitioner("burst")
        assert _register(live, user, service, "/burst").status_code == 201
        for day in range(1, 6):
            api.create_appointment(user, _fields(dt.datetime(2031, 8, day, 9), "x"))
            time.sleep(0.05)
        _wait_for(service, "/burst", 1)  # the first at once ...
        wait_until(lambda: len(service.to("/burst")) >= 2, seconds=5)  # ... the rest in one more
        time.sleep(2)
        assert len(service.to("/burst")) == 2
    finally:
        sender.coalesce = dt.timedelta(0)


def test_of_two_claims_of_one_change_only_the_first_wins(pushed):
    """What two processes that both selected a subscription do next: only one may send."""
    live, service = pushed
    user = new_practitioner("claim")
    assert _register(live, user, service, "/claim").status_code == 201
    sub = PushSubscription.get(PushSubscription.viewer == user.id)
    now, newer = utcnow(), sub.notified_change + 1
    assert subs.claim(sub.id, newer, now, dt.timedelta(0))
    assert not subs.claim(sub.id, newer, now, dt.timedelta(0))
    assert not subs.claim(sub.id, newer + 1, now, dt.timedelta(seconds=5))  # coalesced


def test_push_configuration_is_checked():
    config = ServerConfig()
    config.push.contact = "admin@example.org"
    with pytest.raises(ConfigError, match="push.contact"):
        validate(config)
    config.push.contact, config.push.max_expiry_hours = "mailto:admin@example.org", 0
    with pytest.raises(ConfigError, match="push.max_expiry_hours"):
        validate(config)
