"""The door to a calendar's data: every read and write of its objects passes here.

CalendarCollection (resources.py) inherits CalendarAccess: the owner, the viewer's view and whether
cancelled rows are served are applied once, not by each caller. Reports need only
`get_multi`, `get_filtered` and `sync` (as Radicale's do); PUT and DELETE `rows_for_write`
and `row_for_write`. davserver reaches the store through nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal

from providers.practice import store
from providers.practice.records import Appointment, Practitioner
from providers.render_cache import RenderKey
from providers.service_settings import ServiceSettings, ViewPolicy

if TYPE_CHECKING:
    from providers.resources import CalendarObject

# How much of each object get_multi reads (see there).
Load = Literal["row", "member", "rendered"]


class CalendarAccess:
    """Data access of one calendar as one viewer sees it."""

    owner: Practitioner
    settings: ServiceSettings
    policy: ViewPolicy

    # Made by the resource (resources.py): objects from a listing row or a loaded row.
    def _object_of(self, member: store.MemberInfo) -> CalendarObject:
        raise NotImplementedError

    def object_for(self, appt: Appointment) -> CalendarObject:
        raise NotImplementedError

    def object_at(self, name: str, revision: int, data: bytes | None = None) -> CalendarObject:
        raise NotImplementedError

    def render_key(self, appt_id: int, revision: int) -> RenderKey:
        raise NotImplementedError

    @property
    def _cancelled(self) -> bool:
        return self.settings.serve_cancelled

    def serves(self, row: Appointment) -> bool:
        """Whether devices see this row (the store's rule, as the listings apply it in SQL)."""
        return store.is_served(row, self._cancelled)

    def served_row(self, name: str) -> Appointment | None:
        """The full row stored as `name` if devices see it (GET, a member by name)."""
        return store.load_one(self.owner.id, name, self._cancelled)

    def _list_members(self) -> list[store.MemberInfo]:
        return store.list_members(self.owner.id, self._cancelled)

    def member_etags(self) -> Iterator[tuple[str, int]]:
        """(stored name, revision) of every served member in name order, row by row."""
        return store.iter_member_etags(self.owner.id, self._cancelled)

    def member_etags_by_revision(self, limit: int | None) -> Iterator[tuple[str, int]]:
        """(stored name, revision) oldest revision first, at most limit + 1 (an initial sync)."""
        return store.iter_member_etags_by_revision(self.owner.id, self._cancelled, limit)

    def members_by_revision(self, limit: int | None) -> tuple[list[CalendarObject], bool]:
        """Served members oldest revision first, without their rows, and whether truncated."""
        members, truncated = store.members_by_revision(self.owner.id, self._cancelled, limit)
        return [self._object_of(m) for m in members], truncated

    def revisions(self, names: Iterable[str]) -> dict[str, tuple[int, int]]:
        """{stored name: (row id, revision)} of the served members among `names`."""
        members = store.members_by_names(self.owner.id, names, self._cancelled)
        return {name: (m.id, m.revision) for name, m in members.items()}

    def get_multi(self, names: Iterable[str], load: Load = "row") -> dict[str, CalendarObject]:
        """The served members among stored `names`, as objects, in one query per 500 names.

        `load`: "row" reads full rows; "member" only name, revision and modification time;
        "rendered" reads full rows only of objects whose rendering is not cached (for
        answers made of ETags and calendar-data alone).
        """
        if load == "member":
            members = store.members_by_names(self.owner.id, names, self._cancelled)
            return {name: self._object_of(m) for name, m in members.items()}
        known = self._cached_rendering if load == "rendered" else None
        rows = store.load_by_names(self.owner.id, list(names), self._cancelled, known=known)
        return {
            name: self.object_at(name, *row) if isinstance(row, tuple) else self.object_for(row)
            for name, row in rows.items()
        }

    def _cached_rendering(self, appt_id: int, revision: int) -> tuple[int, bytes] | None:
        data = self.settings.render_cache.get(self.render_key(appt_id, revision))
        return None if data is None else (revision, data)

    def get_filtered(
        self,
        start: dt.datetime | None,
        end: dt.datetime | None,
        *,
        with_device_data_only: bool = False,
        busy_only: bool = False,
    ) -> list[Appointment]:
        """Rows that may have an instance in [start, end) (a superset for series, floating
        and all-day rows: the caller post-filters those). `busy_only`: never cancelled rows,
        whatever the server serves (free-busy)."""
        return store.load_overlapping(
            self.owner.id,
            start,
            end,
            self._cancelled and not busy_only,
            with_device_data_only=with_device_data_only,
        )

    def sync(self, since: int, limit: int | None = None) -> tuple[list[tuple[str, int]], bool]:
        """Stored names changed after change `since`, each with its newest change number,
        oldest first, and whether `limit` cut the list."""
        return store.changes_since(self.owner.id, since, limit)

    def knows_change(self, change: int) -> bool:
        """Whether `change` is a change of this calendar (not of a database restored since)."""
        return store.is_change_of(self.owner.id, change)

    def rows_for_write(self, name: str, uid: str) -> tuple[Appointment | None, Appointment | None]:
        """(row stored as `name`, another row holding `uid`), served or not, full: what PUT
        decides create, update, revive or conflict from."""
        return store.rows_at_name_or_uid(self.owner.id, name, uid)

    def row_for_write(self, name: str) -> Appointment | None:
        """The full row stored as `name`, served or not (DELETE, PUT's answer)."""
        return store.load_one(self.owner.id, name, include_cancelled=True)
