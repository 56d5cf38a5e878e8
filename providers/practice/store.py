"""Read queries behind the DAV resources: the only place that reads practice data for DAV.

Each listing is one query (plus one for overrides), never one per member: PROPFIND Depth 1,
multiget and reports fetch rows in batches and render only what is returned.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import peewee as pw

from providers.practice.models import (
    STATUS_CANCELLED,
    Appointment,
    AppointmentOverride,
    Change,
    Location,
    Patient,
    database_proxy,
)
from providers.sql.prepared import Prepared as _Prepared

# SQLite limits bound parameters; chunk IN (...) lists well below it.
_IN_CHUNK = 500


def _chunks(values: Sequence) -> Iterator[Sequence]:
    """Slices of at most _IN_CHUNK values, for IN (...) lists."""
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


class MemberInfo:
    """What PROPFIND Depth 1 needs of a calendar member, without rendering it.

    The modification time is read as text and parsed only when asked (getlastmodified):
    parsing it for every member was a large share of a getetag PROPFIND
    (docs/benchmarks/code-decisions.md).
    """

    __slots__ = ("resource_name", "revision", "_modified", "id")

    def __init__(
        self, resource_name: str, revision: int, modified: dt.datetime | str, id: int | None = None
    ) -> None:
        self.resource_name, self.revision, self._modified, self.id = resource_name, revision, modified, id

    @property
    def modified_at(self) -> dt.datetime:
        if not isinstance(self._modified, dt.datetime):
            self._modified = Appointment.modified_at.python_value(self._modified)
        return self._modified


# The columns of a MemberInfo, modified_at unparsed.
_MEMBER_COLUMNS = (
    Appointment.resource_name,
    Appointment.revision,
    Appointment.modified_at.cast("TEXT"),
    Appointment.id,
)


# Whether devices see a row is decided here, once in SQL and once in Python, from one rule:
# cancelled rows are hidden unless the server is configured to serve them.


def _visible(practitioner_id: int, include_cancelled: bool) -> pw.Expression:
    cond = Appointment.practitioner == practitioner_id
    if not include_cancelled:
        cond &= Appointment.status != STATUS_CANCELLED
    return cond


def is_served(row: Appointment, include_cancelled: bool) -> bool:
    """The Python side of `_visible`: whether a loaded row is one devices see."""
    return include_cancelled or row.status != STATUS_CANCELLED


# What the streaming listings (the fast paths) read of a member: its ETag needs no more.
_ETAG_COLUMNS = (Appointment.resource_name, Appointment.revision)


def _by_name(columns: tuple) -> dict[bool, _Prepared]:
    """The listing of `columns` of the served members in name order, prepared, by
    include_cancelled: one definition for the object listing and the streaming one."""
    return {
        cancelled: _Prepared(
            lambda owner, c=cancelled: (
                Appointment.select(*columns).where(_visible(owner, c)).order_by(Appointment.resource_name)
            ),
            int,
        )
        for cancelled in (False, True)
    }


_list_members = _by_name(_MEMBER_COLUMNS)
_member_etags = _by_name(_ETAG_COLUMNS)


def _by_revision(
    columns: tuple, practitioner_id: int, include_cancelled: bool, limit: int | None
) -> pw.ModelSelect:
    """`columns` of the served members oldest revision first, at most limit + 1 of them (one
    more tells the caller the page is truncated)."""
    query = (
        Appointment.select(*columns)
        .where(_visible(practitioner_id, include_cancelled))
        .order_by(Appointment.revision, Appointment.resource_name)
    )
    return query if limit is None else query.limit(limit + 1)


def iter_member_etags(practitioner_id: int, include_cancelled: bool = False) -> Iterator[tuple[str, int]]:
    """(name, revision) of every served member in name order, read row by row: a listing
    of 100,000 members never exists as objects (PROPFIND Depth 1)."""
    yield from _member_etags[bool(include_cancelled)].raw_cursor(practitioner_id)


def list_members(practitioner_id: int, include_cancelled: bool = False) -> list[MemberInfo]:
    """Every served resource of a calendar: names and revisions only, one prepared query
    whose text and integer columns need no conversion by peewee."""
    rows = _list_members[bool(include_cancelled)].raw_tuples(practitioner_id)
    return [MemberInfo(*row) for row in rows]


def _full_query() -> pw.ModelSelect:
    return (
        Appointment.select(Appointment, Patient, Location)
        .join_from(Appointment, Patient, pw.JOIN.LEFT_OUTER)
        .join_from(Appointment, Location, pw.JOIN.LEFT_OUTER)
    )


def _attach_overrides(appointments: list[Appointment]) -> list[Appointment]:
    """Load the overrides of all given series in one query (no N+1)."""
    by_id = {a.id: a for a in appointments}
    for a in appointments:
        a.override_rows = []
    recurring = [a.id for a in appointments if a.is_recurring]
    for chunk in _chunks(recurring):
        for row in (
            AppointmentOverride.select()
            .where(AppointmentOverride.appointment.in_(chunk))
            .order_by(AppointmentOverride.recurrence_id)
        ):
            by_id[row.appointment_id].override_rows.append(row)
    return appointments


@functools.lru_cache(maxsize=256)
def _by_names(count: int, include_cancelled: bool) -> _Prepared:
    """The full-row query for `count` names, prepared once per size: peewee building this
    SQL was a large share of a multiget (docs/benchmarks/code-decisions.md)."""
    return _Prepared(
        lambda owner, *names: _full_query().where(
            _visible(owner, include_cancelled) & Appointment.resource_name.in_(list(names))
        ),
        int,
        *[str] * count,
    )


def load_by_names(
    practitioner_id: int,
    names: Sequence[str],
    include_cancelled: bool = False,
    known: Callable[[int, int], object] | None = None,
) -> dict[str, Any]:
    """Full rows (patient, location, overrides) for the given resource names.

    `known(id, revision)`: a row for which it returns a value (not None) is not built into
    a model; the name maps to that value instead: building joined rows dominated a multiget
    whose objects are already rendered (the render cache); still one query.
    """
    found: list[Appointment] = []
    hits: dict[str, object] = {}
    unique = list(dict.fromkeys(names))
    for chunk in _chunks(unique):
        prepared = _by_names(len(chunk), bool(include_cancelled))
        if known is None:
            found.extend(prepared.rows(practitioner_id, *chunk))
            continue
        rows, values = prepared.rows_unless(
            (practitioner_id, *chunk), ("id", "revision", "resource_name"), lambda i, r, _: known(i, r)
        )
        found.extend(rows)
        hits.update((name, value) for (_, _, name), value in values)
    result: dict[str, Any] = {a.resource_name: a for a in _attach_overrides(found)}
    result.update(hits)
    return result


_load_one = {
    cancelled: _Prepared(
        lambda owner, name, c=cancelled: _full_query().where(
            _visible(owner, c) & (Appointment.resource_name == name)
        ),
        int,
        str,
    )
    for cancelled in (False, True)
}


# The row at a URL and the row holding a UID (PUT decides create/update/conflict from
# both), full, in one prepared query: two indexed lookups OR-ed (SQLite: MULTI-INDEX OR;
# PostgreSQL: BitmapOr), read at one snapshot.
_at_name_or_uid = _Prepared(
    lambda owner, name, uid: _full_query().where(
        (Appointment.practitioner == owner) & ((Appointment.resource_name == name) | (Appointment.uid == uid))
    ),
    int,
    str,
    str,
)


def rows_at_name_or_uid(owner_id: int, name: str, uid: str) -> tuple[Appointment | None, Appointment | None]:
    """(row at this URL, another row with this UID), served or cancelled, overrides attached."""
    rows = _attach_overrides(_at_name_or_uid.rows(owner_id, name, uid))
    row = next((r for r in rows if r.resource_name == name), None)
    other = next((r for r in rows if r.uid == uid and r is not row), None)
    return row, other


def load_one(practitioner_id: int, name: str, include_cancelled: bool = False) -> Appointment | None:
    """One full row (GET, PUT preconditions): a prepared query, overrides only for a series."""
    found = _load_one[bool(include_cancelled)].rows(practitioner_id, name)
    return _attach_overrides(found)[0] if found else None


def find_by_uid(practitioner_id: int, uid: str) -> Appointment | None:
    """The row holding a UID, served or cancelled (tests and the importer; PUT reads
    `rows_at_name_or_uid`)."""
    return Appointment.get_or_none((Appointment.practitioner == practitioner_id) & (Appointment.uid == uid))


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


# ---------------------------------------------------------------- sync


# Asked by every ctag/sync-token read and every sync-collection: prepared, as a device's
# poll is mostly these two queries.
_current_change = _Prepared(
    lambda owner: Change.select(pw.fn.MAX(Change.id)).where(Change.practitioner == owner), int
)


def _changes_query(owner, since, limit=None) -> pw.ModelSelect:
    query = (
        Change.select(Change.resource_name, pw.fn.MAX(Change.id).alias("last"))
        .where((Change.practitioner == owner) & (Change.id > since) & (Change.resource_name != ""))
        .group_by(Change.resource_name)
        .order_by(pw.fn.MAX(Change.id))
    )
    return query if limit is None else query.limit(limit)


_changes_since = _Prepared(_changes_query, int, int)
_changes_since_limited = _Prepared(_changes_query, int, int, int)


def current_change(practitioner_id: int) -> int:
    """The newest change number of a calendar: its sync token and ctag."""
    value = _current_change.raw_tuples(practitioner_id)[0][0]
    return int(value or 0)


def changes_since(
    practitioner_id: int, since: int, limit: int | None = None
) -> tuple[list[tuple[str, int]], bool]:
    """Resource names changed after `since`, each once with its newest change number, oldest first.

    Returns (rows, truncated). Fetches limit+1 rows to detect truncation.
    """
    if limit is None:
        found = _changes_since.raw_tuples(practitioner_id, since)
    else:
        found = _changes_since_limited.raw_tuples(practitioner_id, since, limit + 1)
    rows = [(name, int(last)) for name, last in found]
    truncated = limit is not None and len(rows) > limit
    return (rows[:limit] if truncated else rows), truncated


def is_change_of(practitioner_id: int, change_id: int) -> bool:
    """Whether `change_id` is a change of this calendar: every sync token but the empty
    calendar's 0 names one. A token from a database later restored from an older backup
    names none (restore moves the numbering past the numbers such tokens carry)."""
    return Change.select().where((Change.practitioner == practitioner_id) & (Change.id == change_id)).exists()


# ---------------------------------------------------------------- reports


def load_overlapping(
    practitioner_id: int,
    start_utc: dt.datetime | None,
    end_utc: dt.datetime | None,
    include_cancelled: bool = False,
    *,
    with_device_data_only: bool = False,
) -> list[Appointment]:
    """Rows that may have an instance overlapping [start, end) (RFC 4791 §9.9), one query.

    Exact for single appointments with a time zone: a zero-length one is stored with
    last_end = start + 1 s, so `last_end > start` reads "instant >= start". A recurring
    zero-length series ends exactly at its last instant, so it also passes on equality.
    Everything else (series, floating, all-day: widened bounds) is a superset that the
    caller post-filters. `with_device_data_only`: only rows a device uploaded, the only
    ones that can carry components other than VEVENT.
    """
    cond = _visible(practitioner_id, include_cancelled)
    if start_utc is not None:
        start = _naive_utc(start_utc)
        cond &= (Appointment.last_end_utc > start) | (
            (Appointment.last_end_utc == start) & (Appointment.is_recurring == True)  # noqa: E712
        )
    if end_utc is not None:
        cond &= Appointment.first_start_utc < _naive_utc(end_utc)
    if with_device_data_only:
        cond &= Appointment.device_ical.is_null(False)
    return _attach_overrides(list(_full_query().where(cond)))


def members_by_revision(
    practitioner_id: int, include_cancelled: bool = False, limit: int | None = None
) -> tuple[list[MemberInfo], bool]:
    """Served members oldest revision first (an initial sync page), and whether truncated.

    A revision is the member's newest change number, so a page cut after revision R is
    continued exactly by "changes since R".
    """
    query = _by_revision(_MEMBER_COLUMNS, practitioner_id, include_cancelled, limit)
    rows = [MemberInfo(*row) for row in query.tuples()]
    truncated = limit is not None and len(rows) > limit
    return (rows[:limit] if truncated else rows), truncated


def iter_member_etags_by_revision(
    practitioner_id: int, include_cancelled: bool = False, limit: int | None = None
) -> Iterator[tuple[str, int]]:
    """(name, revision) of the served members oldest revision first, at most limit + 1 of
    them (one more tells the caller the page is truncated), read row by row: an initial
    sync of 100,000 members never holds them all as objects."""
    sql, params = _by_revision(_ETAG_COLUMNS, practitioner_id, include_cancelled, limit).sql()
    yield from database_proxy.obj.execute_sql(sql, params)


@functools.lru_cache(maxsize=256)
def _members_by_names(count: int, include_cancelled: bool) -> _Prepared:
    return _Prepared(
        lambda owner, *names: Appointment.select(*_MEMBER_COLUMNS).where(
            _visible(owner, include_cancelled) & Appointment.resource_name.in_(list(names))
        ),
        int,
        *[str] * count,
    )


def members_by_names(
    practitioner_id: int, names: Iterable[str], include_cancelled: bool = False
) -> dict[str, MemberInfo]:
    """Which of `names` are served now (with id and revision), without loading or rendering
    them: one light prepared query per 500 names whose columns need no conversion."""
    result: dict[str, MemberInfo] = {}
    unique = list(dict.fromkeys(names))
    for chunk in _chunks(unique):
        rows = _members_by_names(len(chunk), bool(include_cancelled)).raw_tuples(practitioner_id, *chunk)
        result.update({row[0]: MemberInfo(*row) for row in rows})
    return result
