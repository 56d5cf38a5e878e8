"""Server state that is no practice data: change-feed tokens, server secrets, device status."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from providers.practice.models import (
    ApiToken,
    DeviceSeen,
    Practice,
    ServerSecret,
    utcnow,
)


def create_api_token(practice: Practice) -> str:
    """A new change-feed token for the practice; shown once, stored as its hash."""
    token = "pcf_" + secrets.token_urlsafe(32)
    ApiToken.create(practice=practice, token_hash=api_token_hash(token))
    return token


def api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def server_secret(name: str) -> str:
    """A random secret made on first use and kept in the database, so that every server
    process (serve --processes N, several hosts on one PostgreSQL) derives the same keys."""
    row = ServerSecret.get_or_none(ServerSecret.name == name)
    if row is not None:
        return row.value
    ServerSecret.insert(name=name, value=secrets.token_hex(32)).on_conflict_ignore().execute()
    # Of two processes racing here, the first insert wins and both read its value.
    return ServerSecret.get(ServerSecret.name == name).value


def record_device_seen(
    practitioner_id: int,
    family: str,
    now: dt.datetime | None = None,
    min_interval: dt.timedelta = dt.timedelta(minutes=1),
) -> None:
    """Note that a device family of this practitioner synced; one statement, and a row
    written within `min_interval` is left alone (every process may call this)."""
    now = now or utcnow()
    DeviceSeen.insert(practitioner=practitioner_id, family=family, last_seen=now).on_conflict(
        conflict_target=[DeviceSeen.practitioner, DeviceSeen.family],
        update={DeviceSeen.last_seen: now},
        where=(DeviceSeen.last_seen < now - min_interval),
    ).execute()


def devices_seen(practitioner_ids: list[int]) -> dict[int, list[DeviceSeen]]:
    """Device rows per practitioner, newest first (one query)."""
    result: dict[int, list[DeviceSeen]] = {pid: [] for pid in practitioner_ids}
    if not practitioner_ids:
        return result
    rows = (
        DeviceSeen.select()
        .where(DeviceSeen.practitioner.in_(practitioner_ids))
        .order_by(DeviceSeen.last_seen.desc())
    )
    for row in rows:
        result[row.practitioner_id].append(row)
    return result


def active_devices(since: dt.datetime) -> dict[str, int]:
    """How many devices of each client family synced since `since` (UTC, naive)."""
    counts: dict[str, int] = {}
    for family, _ in (
        DeviceSeen.select(DeviceSeen.family, DeviceSeen.id).where(DeviceSeen.last_seen >= since).tuples()
    ):
        counts[family] = counts.get(family, 0) + 1
    return counts
