"""WebDAV-Push registrations in the database, the calendars' topics, the server's VAPID key,
and the claim that makes exactly one server process send a message for a change.

A registration belongs to the login that made it (the viewer, and the device password if it
used one): revoking that device, the viewer's grant on the calendar, or the viewer's login
deletes it (the forget_* functions, called by those revocations).

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

from providers.practice import api as practice_api
from providers.practice.models import Change, DevicePassword, Grant, Practitioner, PushSubscription, utcnow


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def topic(owner_id: int) -> str:
    """The calendar's push topic: a keyed hash of its row id, 22 base64url characters (RFC 8030
    allows 32). Neither the practitioner's name nor a patient's can be read from it."""
    key = practice_api.server_secret("push-topic").encode("ascii")
    return b64url(hmac.new(key, f"calendar:{owner_id}".encode(), hashlib.sha256).digest()[:16])


def vapid_private_scalar() -> int:
    """The server's VAPID (RFC 8292) P-256 private key, made once and shared by every process."""
    return int(practice_api.server_secret("push-vapid"), 16)


@dataclass(frozen=True)
class Registration:
    push_resource: str
    client_public_key: str
    auth_secret: str
    expires: dt.datetime


class TooManySubscriptions(Exception):
    """The viewer has registered the allowed number of subscriptions already."""


def register(
    viewer_id: int, owner_id: int, reg: Registration, limit: int, device_id: int | None = None
) -> tuple[str, bool]:
    """Store (or renew) a subscription; (its key, whether it is new). Renewing the same push
    resource on the same calendar keeps the key, so the registration URL stays the same.
    `device_id`: the device password the request logged in with (None: the practice password)."""
    with PushSubscription._meta.database.atomic():
        row = PushSubscription.get_or_none(
            PushSubscription.viewer == viewer_id,
            PushSubscription.owner == owner_id,
            PushSubscription.push_resource == reg.push_resource,
        )
        if row is not None:
            row.client_public_key, row.auth_secret = reg.client_public_key, reg.auth_secret
            row.expires, row.device = reg.expires, device_id
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
            device=device_id,
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
    not revoked, a login that is not disabled, a device password that is not revoked. (Those
    revocations delete the registrations too; this holds for any path that did not.)"""
    now = utcnow()
    grantees = Grant.select(Grant.grantee).where(Grant.owner == owner_id)
    disabled = Practitioner.select(Practitioner.id).where(Practitioner.disabled == True)  # noqa: E712
    revoked = DevicePassword.select(DevicePassword.id).where(DevicePassword.revoked_at.is_null(False))
    # A list, so the read ends before the claims: on SQLite (WAL) a write from inside an open
    # read whose snapshot another process has written past fails at once ("database is locked").
    candidates = list(
        PushSubscription.select().where(
            PushSubscription.owner == owner_id,
            PushSubscription.notified_change < change_id,
            PushSubscription.expires > now,
            (PushSubscription.viewer == owner_id) | PushSubscription.viewer.in_(grantees),
            PushSubscription.viewer.not_in(disabled),
            PushSubscription.device.is_null() | PushSubscription.device.not_in(revoked),
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


def delete_stale() -> int:
    """The periodic clean-up: expired registrations, and any whose login lost the calendar
    by a path that did not call the forget_* functions below."""
    grantees = Grant.select(Grant.grantee).where(Grant.owner == PushSubscription.owner)
    disabled = Practitioner.select(Practitioner.id).where(Practitioner.disabled == True)  # noqa: E712
    revoked = DevicePassword.select(DevicePassword.id).where(DevicePassword.revoked_at.is_null(False))
    stale = (
        (PushSubscription.expires <= utcnow())
        | ((PushSubscription.viewer != PushSubscription.owner) & PushSubscription.viewer.not_in(grantees))
        | PushSubscription.viewer.in_(disabled)
        | PushSubscription.device.in_(revoked)
    )
    return PushSubscription.delete().where(stale).execute()


def forget_device(device_id: int) -> int:
    """A device password was revoked: its registrations go with it."""
    return PushSubscription.delete().where(PushSubscription.device == device_id).execute()


def forget_devices_of(practitioner_id: int) -> int:
    """Every device password of the practitioner was revoked (the practice password's stay)."""
    return (
        PushSubscription.delete()
        .where(PushSubscription.viewer == practitioner_id, PushSubscription.device.is_null(False))
        .execute()
    )


def forget_grant(owner_id: int, grantee_id: int) -> int:
    """A grant was revoked: the grantee's registrations on the owner's calendar end."""
    return (
        PushSubscription.delete()
        .where(PushSubscription.owner == owner_id, PushSubscription.viewer == grantee_id)
        .execute()
    )


def forget_practitioner(practitioner_id: int, with_calendar: bool = False) -> int:
    """A login was disabled: its registrations end. `with_calendar` (a login archived, its
    grants gone): its grantees' registrations on its calendar too. A disabled owner's grantees
    keep theirs: their grants stand and the calendar still changes."""
    mine = PushSubscription.viewer == practitioner_id
    if with_calendar:
        mine |= PushSubscription.owner == practitioner_id
    return PushSubscription.delete().where(mine).execute()


def push_logins(viewer_id: int) -> set[int | None]:
    """Which logins of the viewer hold a live registration: device password ids, and None
    for the practice password (the settings page's "Push active")."""
    query = PushSubscription.select(PushSubscription.device).where(
        PushSubscription.viewer == viewer_id, PushSubscription.expires > utcnow()
    )
    return {device for (device,) in query.distinct().tuples()}


def vapid_public_key() -> str:
    """The VAPID public key as DAVx5 wants it: the uncompressed P-256 point, base64url."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.derive_private_key(vapid_private_scalar(), ec.SECP256R1())
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)
