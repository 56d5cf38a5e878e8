"""The wsgidav provider: maps a request path to a resource, and hides what the viewer may not see.

There is no separate authorization layer in wsgidav: a path the authenticated practitioner
may not see resolves to None here (404), so foreign calendars cannot be probed, listed,
fetched through multiget hrefs or named as COPY/MOVE destinations.
"""

from __future__ import annotations

from wsgidav.dav_provider import DAVProvider

from providers.practice import directory
from providers.practice.api import url_key, url_segment
from providers.practice.models import Practitioner
from providers.resources import (
    OWN_CALENDAR,
    SHARED_PREFIX,
    CalendarCollection,
    PrincipalHome,
    RootCollection,
    ServiceSettings,
)


class PracticeProvider(DAVProvider):
    def __init__(self, settings: ServiceSettings):
        super().__init__()
        self.settings = settings

    def is_readonly(self):
        return False

    def viewer(self, environ: dict) -> Practitioner | None:
        """The authenticated practitioner, looked up once per request."""
        if "praxis.viewer" not in environ:
            name = environ.get("wsgidav.auth.user_name")
            environ["praxis.viewer"] = (
                Practitioner.get_or_none(Practitioner.username == name) if name else None
            )
        return environ["praxis.viewer"]

    def get_resource_inst(self, path: str, environ: dict):
        viewer = self.viewer(environ)
        parts = [p for p in path.split("/") if p]
        if not parts:
            return RootCollection("/", environ)
        if viewer is None:
            return None
        # Almost every request is for the viewer's own tree: no second read of the same row.
        if url_key(parts[0]) != viewer.url_key:
            owner = directory.practitioner_by_segment(parts[0])
            if owner is None or owner.id != viewer.id:
                return None
        home_path = f"/{_segment(viewer)}/"
        if len(parts) == 1:
            return PrincipalHome(home_path, environ, viewer)
        calendar = self.calendar_for(viewer, parts[1], environ)
        if calendar is None:
            return None
        if len(parts) == 2:
            return calendar
        if len(parts) == 3:
            return calendar.get_member(parts[2])
        return None

    def calendar_for(self, viewer: Practitioner, segment: str, environ: dict):
        """The viewer's own calendar or a calendar delegated to the viewer, else None."""
        home = f"/{_segment(viewer)}/"
        if segment == OWN_CALENDAR:
            return CalendarCollection(
                f"{home}{OWN_CALENDAR}/", environ, viewer, viewer, can_write=viewer.direction == "two-way"
            )
        if segment.startswith(SHARED_PREFIX):
            owner = directory.practitioner_by_segment(segment[len(SHARED_PREFIX) :])
            if owner is None or owner.practice_id != viewer.practice_id:
                return None
            grant = directory.grant_between(owner, viewer)
            if grant is None:
                return None
            return CalendarCollection(
                f"{home}{SHARED_PREFIX}{_segment(owner)}/",
                environ,
                owner,
                viewer,
                can_write=grant.can_write and owner.direction == "two-way",
            )
        return None


def _segment(practitioner: Practitioner) -> str:
    return url_segment(practitioner.username)
