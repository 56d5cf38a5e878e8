"""Practitioner logins over their lifetime: the practice a new login joins, disable and
enable, delete (never silently taking practice data with it).

Writes here change login state only; appointments stay with practice_api.
"""

from __future__ import annotations

import peewee as pw

from providers.practice import device_passwords, push_subscriptions
from providers.practice.api import DataError
from providers.practice.models import Appointment, Grant, Practice, Practitioner, database_proxy
from providers.practice.passwords import hash_password
from providers.sql import practitioner_cache

ARCHIVE_PREFIX = "~archived-"


def choose_practice(wanted: str | None) -> Practice | None:
    """The practice a new login joins: `wanted` by external id, row id or name; without it
    the only practice there is (None in an empty database: the caller makes the first).
    Ambiguity is refused with the list, never answered with a second practice."""
    practices = list(Practice.select().order_by(Practice.id))
    if wanted is None:
        if not practices:
            return None
        if len(practices) == 1:
            return practices[0]
        raise DataError(f"several practices: choose one with --practice ({_listing(practices)})")
    matches = [p for p in practices if p.external_id == wanted] or [
        p for p in practices if str(p.id) == wanted or p.name == wanted
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise DataError(f"no practice {wanted!r} ({_listing(practices) or 'there is none yet'})")
    raise DataError(f"practice {wanted!r} is ambiguous: use its id ({_listing(matches)})")


def _listing(practices: list[Practice]) -> str:
    return "; ".join(
        f"id {p.id}: {p.name!r}" + (f" [{p.external_id}]" if p.external_id else "") for p in practices
    )


def set_disabled(practitioner: Practitioner, disabled: bool) -> None:
    """A disabled practitioner logs in nowhere (practice or device password) from the next
    request on; the practitioner cache hears of it like of any practitioner change."""
    Practitioner.update(disabled=disabled).where(Practitioner.id == practitioner.id).execute()
    if disabled:
        push_subscriptions.forget_practitioner(practitioner.id)
    practitioner.disabled = disabled
    practitioner_cache.forget_all()


def rehash_password(practitioner: Practitioner, old_hash: str, password: str) -> bool:
    """Store a just-verified practice password in the current format (rehash on login).
    Only if the hash is still `old_hash`: a password changed meanwhile is never overwritten."""
    new_hash = hash_password(password)
    changed = (
        Practitioner.update(password_hash=new_hash)
        .where((Practitioner.id == practitioner.id) & (Practitioner.password_hash == old_hash))
        .execute()
    )
    if changed:
        practitioner_cache.forget_all()
    return bool(changed)


def delete(practitioner: Practitioner, keep_appointments: bool = False) -> str:
    """Delete a login. Refused while it owns appointments, unless `keep_appointments`: then
    the row stays as an archive holding them (disabled, no password, no devices, no grants,
    its name free for a new login). Returns "deleted" or "archived"."""
    with database_proxy.atomic():
        owned = Appointment.select().where(Appointment.practitioner == practitioner.id).count()
        if owned and not keep_appointments:
            raise DataError(
                f"{practitioner.username!r} owns {owned} appointment(s): move them in the practice "
                "software first, or keep them in an archive with --keep-appointments"
            )
        if not owned:
            practitioner.delete_instance()
            result = "deleted"
        else:
            device_passwords.revoke_all(practitioner.id)
            mine = (Grant.owner == practitioner.id) | (Grant.grantee == practitioner.id)
            Grant.delete().where(mine).execute()
            push_subscriptions.forget_practitioner(practitioner.id, with_calendar=True)
            archived = f"{ARCHIVE_PREFIX}{practitioner.id}"
            Practitioner.update(
                username=archived,
                login_key=archived,
                url_key=archived,
                password_hash="",
                email=None,
                disabled=True,
                is_admin=False,
            ).where(Practitioner.id == practitioner.id).execute()
            result = "archived"
    practitioner_cache.forget_all()
    return result


def active() -> pw.Expression:
    """Logins that are not archives (for listings)."""
    return ~Practitioner.username.startswith(ARCHIVE_PREFIX)
