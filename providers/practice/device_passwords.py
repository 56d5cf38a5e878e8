"""Device passwords (app passwords): one random CalDAV password per device, revocable alone.

A device password is shown once, when it is made; only its hash is stored. Its first
characters (the selector) find the one row to verify, so a login costs one hash however many
devices a practitioner has. Rows are read on every uncached login and never kept in memory,
so a revocation takes effect on the next request in every process.
"""

from __future__ import annotations

import datetime as dt
import secrets

import peewee as pw

from providers.practice import push_subscriptions
from providers.practice.models import DevicePassword, Practitioner, database_proxy, utcnow
from providers.practice.passwords import hash_password

# Lower-case letters and digits without look-alikes (0/o, 1/l/i): typed on a phone if need be.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GROUPS, GROUP_LENGTH = 5, 5  # 25 characters of 31: 123 bits
SELECTOR_LENGTH = 10
MAX_LABEL = 100
# Last use and address are written at most this often per device (a sync is dozens of requests).
USE_INTERVAL = dt.timedelta(minutes=1)


class DeviceError(ValueError):
    """A device request that cannot be done (one line for the CLI and the page)."""


def new_password() -> str:
    """A fresh device password, e.g. `k7mxq-2rpaf-...`: groups of five, 123 random bits."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
    return "-".join(chars[i : i + GROUP_LENGTH] for i in range(0, len(chars), GROUP_LENGTH))


def normalized(password: str) -> str | None:
    """The password's characters if it has a device password's shape (any case, with or
    without dashes and spaces), else None: then it can only be a practice password."""
    chars = password.replace("-", "").replace(" ", "").lower()
    if len(chars) != GROUPS * GROUP_LENGTH or any(c not in ALPHABET for c in chars):
        return None
    return chars


def create(practitioner: Practitioner, label: str) -> tuple[DevicePassword, str]:
    """A new device of `practitioner`; returns the row and the password (shown once)."""
    label = " ".join(label.split())
    if not label:
        raise DeviceError("the device needs a name (label)")
    if len(label) > MAX_LABEL:
        raise DeviceError(f"the device name is longer than {MAX_LABEL} characters")
    password = new_password()
    chars = normalized(password)
    assert chars is not None
    row = DevicePassword.create(
        practitioner=practitioner.id,
        label=label,
        selector=chars[:SELECTOR_LENGTH],
        password_hash=hash_password(chars),
    )
    return row, password


def rehash(device: DevicePassword, chars: str) -> bool:
    """Store a just-verified device password in the current format (rehash on login), unless
    the row changed meanwhile."""
    changed = (
        DevicePassword.update(password_hash=hash_password(chars))
        .where((DevicePassword.id == device.id) & (DevicePassword.password_hash == device.password_hash))
        .execute()
    )
    return bool(changed)


def candidates(practitioner_id: int, chars: str) -> list[DevicePassword]:
    """Active devices of the practitioner whose selector matches (one indexed query)."""
    return list(
        DevicePassword.select().where(
            (DevicePassword.practitioner == practitioner_id)
            & (DevicePassword.selector == chars[:SELECTOR_LENGTH])
            & DevicePassword.revoked_at.is_null()
        )
    )


def devices_of(practitioner_id: int, include_revoked: bool = False) -> list[DevicePassword]:
    """The practitioner's devices, newest first."""
    query = DevicePassword.select().where(DevicePassword.practitioner == practitioner_id)
    if not include_revoked:
        query = query.where(DevicePassword.revoked_at.is_null())
    return list(query.order_by(DevicePassword.created_at.desc(), DevicePassword.id.desc()))


def labels_of(practitioner_ids: list[int]) -> dict[int, str]:
    """{device id: label} of every device of these practitioners, revoked ones too (an audit row
    outlives its device)."""
    if not practitioner_ids:
        return {}
    query = DevicePassword.select(DevicePassword.id, DevicePassword.label)
    return {d.id: d.label for d in query.where(DevicePassword.practitioner.in_(practitioner_ids))}


def revoke(practitioner_id: int, device_id: int) -> DevicePassword:
    """Revoke one device of this practitioner (another's device id is not found)."""
    with database_proxy.atomic():
        row = DevicePassword.get_or_none(
            (DevicePassword.id == device_id) & (DevicePassword.practitioner == practitioner_id)
        )
        if row is None:
            raise DeviceError(f"no device {device_id} for this user")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.save(only=[DevicePassword.revoked_at])
        push_subscriptions.forget_device(row.id)  # a lost device gets no more pushes either
    return row


def revoke_all(practitioner_id: int) -> int:
    """Revoke every device of the practitioner; returns how many were active."""
    push_subscriptions.forget_devices_of(practitioner_id)
    return (
        DevicePassword.update(revoked_at=utcnow())
        .where((DevicePassword.practitioner == practitioner_id) & DevicePassword.revoked_at.is_null())
        .execute()
    )


def note_use(device_id: int, address: str, family: str, now: dt.datetime | None = None) -> None:
    """Record a device's use: first use once, last use and address at most once a minute
    (the statement leaves a recent row alone, so several processes write once)."""
    now = now or utcnow()
    DevicePassword.update(
        first_used=pw.fn.COALESCE(DevicePassword.first_used, now),
        last_used=now,
        last_address=address[:64],
        family=family,
    ).where(
        (DevicePassword.id == device_id)
        & (DevicePassword.last_used.is_null() | (DevicePassword.last_used < now - USE_INTERVAL))
    ).execute()
