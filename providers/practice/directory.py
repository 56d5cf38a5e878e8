"""Who is who: practitioners by URL segment or login name, and the calendars delegated
between them. Asked on every request (the provider, logins), so the lookups are prepared
statements behind the practitioner cache."""

from __future__ import annotations

import functools
from collections.abc import Callable

from providers.practice.api import url_key
from providers.practice.models import Grant, Practice, Practitioner
from providers.sql import practitioner_cache
from providers.sql.prepared import Prepared as _Prepared

# With the practice joined: the calendar's display name reads it, and a lazy load there was a
# second query on every PROPFIND.
_practitioner_by_url_key = _Prepared(
    lambda key: Practitioner.select(Practitioner, Practice).join(Practice).where(Practitioner.url_key == key),
    str,
)
_practitioner_by_login_key = _Prepared(
    lambda key: (
        Practitioner.select(Practitioner, Practice).join(Practice).where(Practitioner.login_key == key)
    ),
    str,
)


def practitioner_by_segment(segment: str) -> Practitioner | None:
    """Resolve a URL segment: `_` and space are the same, case is ignored."""
    return practitioner_cache.lookup("url", url_key(segment), _first(_practitioner_by_url_key))


def practitioner_by_login_key(key: str) -> Practitioner | None:
    """The practitioner with this login key (see practice_api.login_key), or None."""
    return practitioner_cache.lookup("login", key, _first(_practitioner_by_login_key))


@functools.cache
def _first(prepared: _Prepared) -> Callable[[str], Practitioner | None]:
    def load(key: str) -> Practitioner | None:
        found = prepared.rows(key)
        return found[0] if found else None

    return load


def grants_for(grantee: Practitioner) -> list[Grant]:
    """Calendars delegated to `grantee` (with their owners), in a stable order.

    Only owners of the grantee's practice, like the provider's access rule: a grant row
    across practices (written around the data API) must not list a foreign calendar.
    """
    return list(
        Grant.select(Grant, Practitioner)
        .join(Practitioner, on=(Grant.owner == Practitioner.id))
        .where((Grant.grantee == grantee.id) & (Practitioner.practice == grantee.practice_id))
        .order_by(Practitioner.url_key)
    )


def grant_between(owner: Practitioner, grantee: Practitioner) -> Grant | None:
    return Grant.get_or_none((Grant.owner == owner.id) & (Grant.grantee == grantee.id))


def colleagues(practice_id: int) -> list[Practitioner]:
    """Every practitioner of a practice, by display name (the admin page)."""
    return list(
        Practitioner.select()
        .where(Practitioner.practice == practice_id)
        .order_by(Practitioner.display_name, Practitioner.login_key)
    )


def colleague(practice_id: int, practitioner_id: int) -> Practitioner | None:
    """The practitioner with this row id if it belongs to the practice, else None."""
    return Practitioner.get_or_none(
        (Practitioner.id == practitioner_id) & (Practitioner.practice == practice_id)
    )


def grants_by_owners(owner_ids: list[int]) -> list[Grant]:
    """The delegations of the given owners' calendars, oldest first."""
    return list(Grant.select().where(Grant.owner.in_(owner_ids)).order_by(Grant.id)) if owner_ids else []


def logins() -> list[Practitioner]:
    """Every practitioner who may log in (not archived), by login name, practices joined."""
    from providers.practice import accounts  # accounts builds on the data API, as this module

    return list(
        Practitioner.select(Practitioner, Practice)
        .join(Practice)
        .where(accounts.active())
        .order_by(Practitioner.login_key)
    )
