"""The WebDAV-Push live properties of a calendar, registered only while push is enabled:
transports (Web Push with the server's VAPID key), topic and supported-triggers."""

from __future__ import annotations

from lxml import etree

from providers.practice import push_subscriptions as subs
from providers.properties import CALENDAR, DAV, PUSH, REGISTRY, clark, element, live

TRANSPORTS, TOPIC, TRIGGERS = (
    clark(PUSH, "transports"),
    clark(PUSH, "topic"),
    clark(PUSH, "supported-triggers"),
)


def _transports(res) -> etree._Element:
    """DAVx5 (dav4jvm) reads vapid-public-key; the draft's newer text names it server-public-key."""
    key = subs.vapid_public_key()
    keys = [element(clark(PUSH, name), text=key) for name in ("vapid-public-key", "server-public-key")]
    for el in keys:
        el.set("type", "p256dh")
    return element(TRANSPORTS, element(clark(PUSH, "web-push"), *keys))


def _topic(res) -> str:
    return subs.topic(res.owner.id)


def _supported_triggers(res) -> etree._Element:
    """Appointments only: a change of any member (sync-level 1, the calendar is flat)."""
    update = element(clark(PUSH, "content-update"), element(clark(DAV, "sync-level"), text="1"))
    return element(TRIGGERS, update)


def enable() -> None:
    live(TRANSPORTS, {CALENDAR}, per_member=False)(_transports)  # the server's key
    live(TOPIC, {CALENDAR}, per_member=True)(_topic)  # the owner's
    live(TRIGGERS, {CALENDAR}, per_member=False)(_supported_triggers)


def enabled() -> bool:
    """Whether this process serves push (push.enabled): its calendars offer a topic."""
    return TOPIC in REGISTRY


def disable() -> None:
    for name in (TRANSPORTS, TOPIC, TRIGGERS):
        REGISTRY.pop(name, None)
