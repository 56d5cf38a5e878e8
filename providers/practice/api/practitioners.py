"""Practices, practitioners and the delegation of calendars between them (grants)."""

from __future__ import annotations

import peewee as pw

from providers.practice import push_subscriptions, validation
from providers.practice.api.errors import DataError, _valid
from providers.practice.api.names import _check_username, login_key, url_key, url_segment
from providers.practice.models import (
    Grant,
    Practice,
    Practitioner,
    database_proxy,
)
from providers.practice.passwords import hash_password
from providers.sql import practitioner_cache


def get_or_create_practice(name: str, external_id: str | None = None) -> Practice:
    with database_proxy.atomic():
        if external_id is not None:
            practice = Practice.get_or_none(Practice.external_id == external_id)
            if practice is not None:
                if practice.name != name:
                    practice.name = name
                    practice.save()
                    practitioner_cache.forget_all()
                return practice
        else:
            practice = Practice.get_or_none(Practice.name == name)
            if practice is not None:
                return practice
        return Practice.create(name=name, external_id=external_id)


def create_practitioner(
    practice: Practice,
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    email: str | None = None,
    external_id: str | None = None,
    is_admin: bool = False,
) -> Practitioner:
    name = _check_username(username)
    _valid(validation.check_text, display_name, "display_name")
    if not password:
        raise DataError("password is empty")
    _check_email(email)
    with database_proxy.atomic():
        if Practitioner.get_or_none(Practitioner.login_key == login_key(name)):
            raise DataError(f"user {name!r} exists already")
        clash = Practitioner.get_or_none(Practitioner.url_key == url_key(name))
        if clash is not None:
            raise DataError(
                f"user name {name!r} would share the URL /{url_segment(name)}/ with user {clash.username!r}"
            )
        return Practitioner.create(
            practice=practice,
            username=name,
            login_key=login_key(name),
            url_key=url_key(name),
            display_name=display_name or name,
            email=email or None,
            password_hash=hash_password(password),
            external_id=external_id,
            is_admin=is_admin,
        )


def _check_email(email: str | None) -> None:
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise DataError(f"not an e-mail address: {email!r}")


def find_login(typed: str) -> Practitioner | None:
    """The practitioner a device login names: the user name (any case), its URL form with `_`,
    or the e-mail address when exactly one practitioner has it. Help pages of other products
    warn about each of these; here every one of them works."""
    key = login_key(typed)
    found = Practitioner.get_or_none(Practitioner.login_key == key)
    if found is None:
        found = Practitioner.get_or_none(Practitioner.url_key == url_key(typed))
    if found is None and "@" in key:
        matches = list(Practitioner.select().where(pw.fn.LOWER(Practitioner.email) == key).limit(2))
        found = matches[0] if len(matches) == 1 else None
    return found


def find_practitioner(username: str) -> Practitioner | None:
    return Practitioner.get_or_none(Practitioner.login_key == login_key(username))


def set_password(practitioner: Practitioner, password: str) -> None:
    if not password:
        raise DataError("password is empty")
    practitioner.password_hash = hash_password(password)
    practitioner.save(only=[Practitioner.password_hash])
    practitioner_cache.forget_all()


def grant_access(owner: Practitioner, grantee: Practitioner, can_write: bool) -> Grant:
    if owner.practice_id != grantee.practice_id:
        raise DataError("delegation is only possible within one practice")
    if owner.id == grantee.id:
        raise DataError("a practitioner cannot delegate to themselves")
    with database_proxy.atomic():
        grant, _ = Grant.get_or_create(owner=owner, grantee=grantee, defaults={"can_write": can_write})
        if grant.can_write != can_write:
            grant.can_write = can_write
            grant.save()
        return grant


def revoke_access(owner: Practitioner, grantee: Practitioner) -> bool:
    with database_proxy.atomic():
        push_subscriptions.forget_grant(owner.id, grantee.id)
        return Grant.delete().where((Grant.owner == owner) & (Grant.grantee == grantee)).execute() > 0
