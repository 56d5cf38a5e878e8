"""The background sender: watch the change log, send each subscribed device one Web Push
message per change burst of a calendar.

Every server process runs one sender thread that polls the change log (a grouped query on
its primary key), so a change made by any process, the CLI import or the practice API is
seen within a poll interval. A subscription is claimed in the database before a message goes
out (providers.practice.push_subscriptions.claim_due), so with several processes on one PostgreSQL
exactly one of them sends it. Messages to a subscription are coalesced: at most one per
`coalesce_seconds`, the next one after that carries the newest change.

The message is the draft's push-message with the topic only, encrypted with RFC 8291
(aes128gcm, http_ece) and signed with VAPID (RFC 8292, py_vapid). 404/410 from the push
service removes the subscription; no answer, 429 and 5xx are retried with the webhook's
growing delays.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from py_vapid import Vapid02

from davserver.config import PushConfig
from davserver.metrics import PUSH_MESSAGES
from davserver.push import NS
from davserver.webhook import RETRY_DELAYS
from providers.database import close_connection, discard_connection_if_broken, unavailable_reason
from providers.practice import push_subscriptions as subs
from providers.practice.records import PushSubscription

log = logging.getLogger("praxis_caldav.push")
POLL_SECONDS = 0.2
CLEANUP_SECONDS = 600  # expired and stale registrations are deleted this often
TTL_SECONDS = 86_400
GONE = (404, 410)


class EndpointRefused(Exception):
    """A push resource the server will not contact (not https, or a private address)."""


def check_endpoint(url: str, allow_insecure: bool, resolve: bool = True) -> None:
    """Refuse push resources that would make the server a request forger into the practice
    network: only https to public addresses, unless allow_insecure (tests). With `resolve`,
    every address the name resolves to is checked (again before each send)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise EndpointRefused("the push resource is not an http(s) URL")
    if allow_insecure:
        return
    if parts.scheme != "https":
        raise EndpointRefused("the push resource must be https")
    try:
        literal = [ipaddress.ip_address(parts.hostname)]
    except ValueError:
        literal = None
    if literal is None and not resolve:
        return
    try:
        addresses = literal or [
            ipaddress.ip_address(info[4][0].split("%")[0])
            for info in socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
        ]
    except (OSError, ValueError):
        raise EndpointRefused("the push resource's host does not resolve") from None
    if not addresses or not all(a.is_global for a in addresses):
        raise EndpointRefused("the push resource is on a private or local address")


def push_message(topic: str) -> bytes:
    """The draft's push-message: the topic and nothing else (no object, no sync token)."""
    root = etree.Element(f"{{{NS}}}push-message", nsmap={None: NS})
    etree.SubElement(root, f"{{{NS}}}topic").text = topic
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _b64decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PushSender:
    """One per server process (started by app.build_app when push.enabled)."""

    def __init__(self, config: PushConfig, retry_delays=RETRY_DELAYS, timeout: float = 10) -> None:
        self.config = config
        self.retry_delays, self.timeout = tuple(retry_delays), timeout
        self.coalesce = dt.timedelta(seconds=config.coalesce_seconds)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="push-send")
        self._thread = threading.Thread(target=self._run, name="push", daemon=True)
        self._pending: dict[int, int] = {}  # calendar owner -> newest change to announce
        self._vapid: Vapid02 | None = None

    def start(self) -> PushSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling, let messages under way finish, close this thread's connection."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        seen, cleaned, waiting = None, time.monotonic(), False
        while not self._stop.is_set():
            try:
                if seen is None:
                    seen = subs.newest_change_id()
                seen = self.poll(seen)
                if time.monotonic() - cleaned > CLEANUP_SECONDS:
                    subs.delete_stale()
                    cleaned = time.monotonic()
                waiting = False
            except Exception as exc:  # a database outage must not end push for this process
                discard_connection_if_broken(exc)
                reason = unavailable_reason(exc)
                if reason is None:
                    log.warning("push sender: polling failed", exc_info=True)
                elif not waiting:  # locked beyond busy_timeout, restarting: once, and no trace
                    log.info("push sender: database unavailable (%s); retrying", reason)
                waiting = reason is not None
            self._stop.wait(POLL_SECONDS)
        close_connection()

    def poll(self, seen: int) -> int:
        """One round: note new changes, claim and send what is due; the newest change seen."""
        for owner, newest in subs.newest_changes(seen).items():
            self._pending[owner] = max(newest, self._pending.get(owner, 0))
            seen = max(seen, newest)
        for owner, newest in list(self._pending.items()):
            claimed, waiting = subs.claim_due(owner, newest, self.coalesce)
            if claimed:
                topic = subs.topic(owner)
                for sub in claimed:
                    self._pool.submit(self._deliver_logged, sub, topic)
            if not waiting:
                del self._pending[owner]
        return seen

    def _deliver_logged(self, sub: PushSubscription, topic: str) -> None:
        try:
            PUSH_MESSAGES.labels(self.deliver(sub, topic)).inc()
        except Exception:
            log.warning("push message failed", exc_info=True)
        finally:
            close_connection()

    def _vapid_key(self) -> Vapid02:
        if self._vapid is None:
            private = ec.derive_private_key(subs.vapid_private_scalar(), ec.SECP256R1())
            self._vapid = Vapid02()
            self._vapid.private_key = private
        return self._vapid

    def request(self, sub: PushSubscription, topic: str) -> urllib.request.Request:
        """The encrypted, VAPID-signed POST to the subscription's push resource."""
        body = http_ece.encrypt(
            push_message(topic),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=_b64decode(sub.client_public_key),
            auth_secret=_b64decode(sub.auth_secret),
            version="aes128gcm",
        )
        parts = urlsplit(sub.push_resource)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "exp": int(time.time()) + 12 * 3600,
            "sub": self.config.contact,
        }
        headers = dict(self._vapid_key().sign(claims))
        headers.update(
            {
                "Content-Type": "application/octet-stream",
                "Content-Encoding": "aes128gcm",
                "TTL": str(TTL_SECONDS),
                "Urgency": "high",
                "Topic": topic,
            }
        )
        return urllib.request.Request(sub.push_resource, data=body, headers=headers, method="POST")

    def deliver(self, sub: PushSubscription, topic: str) -> str:
        """Send one message with retries; the outcome for the metrics counter."""
        for attempt, delay in enumerate((0.0, *self.retry_delays)):
            if self._stop.wait(delay):
                return "stopped"
            try:
                check_endpoint(sub.push_resource, self.config.allow_insecure_endpoints)
            except EndpointRefused as exc:
                log.warning("push resource refused: %s", exc)
                return "refused"
            try:
                with urllib.request.urlopen(self.request(sub, topic), timeout=self.timeout) as answer:  # noqa: S310
                    if 200 <= answer.status < 300:
                        return "sent"
            except urllib.error.HTTPError as exc:
                if exc.code in GONE:
                    subs.remove(sub.id)
                    log.info("push subscription removed: the push service answered %d", exc.code)
                    return "gone"
                if exc.code != 429 and exc.code < 500:
                    log.warning("push service refused the message: %d", exc.code)
                    return "refused"
                log.info("push attempt %d failed: %d", attempt + 1, exc.code)
            except OSError as exc:
                log.info("push attempt %d failed: %s", attempt + 1, type(exc).__name__)
        return "failed"
