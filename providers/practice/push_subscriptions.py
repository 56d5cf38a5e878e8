"""WebDAV-Push registrations in the database, the calendars' topics, the server's VAPID key,
and the claim that makes exactly one server process send a message for a change.

No XML and no HTTP here: davserver/push parses registrations and sends the messages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import peewee as pw

from providers.practice.api import server_secret
from providers.practice.models import Change, Grant, Practitioner, PushSubscription, utcnow


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def topic(owner_id: int) -> str:
    """The calendar's push topic: a keyed hash of its row id, 22 base64url characters (RFC 8030
    allows 32). Neither the practitioner's name nor a patient's can be read from it."""
    key = server_secret("push-topic").encode("ascii")
    return b64url(hmac.new(key, f"calendar:{owner_id}".encode(), hashlib.sha256).digest()[:16])


def vapid_private_scalar() -> int:
    """The server's VAPID (RFC 8292) P-256 private key, made once and shared by every process."""
    return int(server_secret("push-vapid"), 16)


@dataclass(frozen=True)
class Registration:
    push_resource: str
    client_public_key: str
    auth_secret: str
    expires: dt.datetime


class TooManySubscriptions(Exception):
    """The viewer has registered the allowed number of subscriptions already."""


def register(viewer_id: int, owner_id: int, reg: Registration, limit: int) -> tuple[str, bool]:
    """Store (or renew) a subscription; (its key, whether it is new). Renewing the same push
    resource on the same calendar keeps the key, so the registration URL stays the same."""
    with PushSubscription._meta.database.atomic():
        row = PushSubscription.get_or_none(
            PushSubscription.viewer == viewer_id,
            PushSubscription.owner == owner_id,
            PushSubscription.push_resource == reg.push_resource,
        )
        if row is not None:
            row.client_public_key, row.auth_secret = reg.client_public_key, reg.auth_secret
            row.expires = reg.expires
            row.save()
            return row.key, False
        live = PushSubscription.select().where(
            PushSubscription.viewer == viewer_id, PushSubscription.expires > utcnow()
        )
        if live.count() >= limit:
            raise TooManySubscriptions
        key = secrets.token_urlsafe(24)
        PushSubscription.create(
            key=key,
            viewer=viewer_id,
            owner=owner_id,
            push_resource=reg.push_resource,
            client_public_key=reg.client_public_key,
            auth_secret=reg.auth_secret,
            expires=reg.expires,
            notified_change=_newest_change(owner_id),
        )
        return key, True


def _newest_change(owner_id: int) -> int:
    newest = Change.select(pw.fn.MAX(Change.id)).where(Change.practitioner == owner_id).scalar()
    return newest or 0


def unregister(viewer_id: int, key: str) -> bool:
    """Remove the viewer's own registration; False when there is none with that key."""
    deleted = (
        PushSubscription.delete()
        .where(PushSubscription.key == key, PushSubscription.viewer == viewer_id)
        .execute()
    )
    return deleted > 0


def remove(subscription_id: int) -> None:
    """The push service said the subscription is gone (404/410)."""
    PushSubscription.delete().where(PushSubscription.id == subscription_id).execute()


def newest_changes(after: int) -> dict[int, int]:
    """{calendar owner: newest change id} of the changes after `after` (one grouped query)."""
    query = (
        Change.select(Change.practitioner, pw.fn.MAX(Change.id).alias("newest"))
        .where(Change.id > after)
        .group_by(Change.practitioner)
        .tuples()
    )
    return dict(query)


def newest_change_id() -> int:
    return Change.select(pw.fn.MAX(Change.id)).scalar() or 0


def claim_due(owner_id: int, change_id: int, coalesce: dt.timedelta) -> tuple[list[PushSubscription], bool]:
    """Subscriptions of this calendar that still need a message for `change_id`, each claimed
    by one conditional UPDATE so that of several processes exactly one sends it; and whether
    some were left for later because they got a message less than `coalesce` ago.

    Only viewers who may still see the calendar count: the owner or a grantee whose grant was
    not revoked, and a login that is not disabled."""
    now = utcnow()
    grantees = Grant.select(Grant.grantee).where(Grant.owner == owner_id)
    disabled = Practitioner.select(Practitioner.id).where(Practitioner.disabled == True)  # noqa: E712
    # A list, so the read ends before the claims: on SQLite (WAL) a write from inside an open
    # read whose snapshot another process has written past fails at once ("database is locked").
    candidates = list(
        PushSubscription.select().where(
            PushSubscription.owner == owner_id,
            PushSubscription.notified_change < change_id,
            PushSubscription.expires > now,
            (PushSubscription.viewer == owner_id) | PushSubscription.viewer.in_(grantees),
            PushSubscription.viewer.not_in(disabled),
        )
    )
    claimed, waiting = [], False
    for sub in candidates:
        if sub.sent_at is not None and sub.sent_at > now - coalesce:
            waiting = True
            continue
        if claim(sub.id, change_id, now, coalesce):
            claimed.append(sub)
    return claimed, waiting


def claim(subscription_id: int, change_id: int, now: dt.datetime, coalesce: dt.timedelta) -> bool:
    """One conditional UPDATE: True for the one process whose update found the row unclaimed."""
    won = (
        PushSubscription.update(notified_change=change_id, sent_at=now)
        .where(
            PushSubscription.id == subscription_id,
            PushSubscription.notified_change < change_id,
            PushSubscription.sent_at.is_null() | (PushSubscription.sent_at <= now - coalesce),
        )
        .execute()
    )
    return won > 0


def delete_expired() -> int:
    return PushSubscription.delete().where(PushSubscription.expires <= utcnow()).execute()


def vapid_public_key() -> str:
    """The VAPID public key as DAVx5 wants it: the uncompressed P-256 point, base64url."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.derive_private_key(vapid_private_scalar(), ec.SECP256R1())
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)
