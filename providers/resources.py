"""DAV resources over the practice data: root, principal (= calendar home), calendar, event.

URL layout (every segment of a user is the user name with spaces as `_`):
    /                          root
    /<user>/                   principal and calendar home of <user>
    /<user>/calendar/          <user>'s own calendar
    /<user>/shared-<owner>/    <owner>'s calendar delegated to <user>
    /<calendar>/<name>.ics     one appointment or series
"""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import quote

from wsgidav.dav_error import HTTP_FORBIDDEN, HTTP_NOT_FOUND, DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection

from providers import calendar_properties, properties
from providers.calendar_access import CalendarAccess
from providers.practice import directory, opaque_names, served_data, store
from providers.practice.api import update_practitioner, url_segment
from providers.practice.records import Appointment, Practitioner
from providers.properties import CALENDAR, OBJECT, PRINCIPAL, ROOT
from providers.render_cache import RenderKey
from providers.service_settings import ServiceSettings, ViewPolicy

OWN_CALENDAR = "calendar"
SHARED_PREFIX = "shared-"
CONTENT_TYPE = "text/calendar; charset=utf-8; component=vevent"

HREF_SAFE = "/@:+!*'(),$-_|.~"


def href(environ: dict, path: str) -> str:
    return quote(environ.get("praxis.prefix", "") + path, safe=HREF_SAFE)


class _LiveProps:
    """Property access through the registry; unknown properties are a 404 inside the 207."""

    kind: str

    def get_property_names(self, *, is_allprop):
        return properties.names_for(self.kind, allprop=is_allprop) + self._wsgidav_names()

    def _wsgidav_names(self) -> list[str]:
        return []

    def get_property_value(self, name):
        prop = properties.REGISTRY.get(name)
        if prop is not None and self.kind in prop.kinds:
            value = prop.value(self)
            if value is None:
                raise DAVError(HTTP_NOT_FOUND)
            return served_data.xml_text(value) if isinstance(value, str) else value
        if name in self._wsgidav_names():
            return super().get_property_value(name)
        raise DAVError(HTTP_NOT_FOUND)

    def set_property_value(self, name, value, *, dry_run=False):
        raise DAVError(HTTP_FORBIDDEN)

    # Helpers used by property definitions -----------------------------------------
    def href_for(self, path: str) -> str:
        """Path-absolute href, with the external prefix of a reverse proxy (or WSGI mount)."""
        return href(self.environ, path)

    def get_href(self):
        return self.href_for(self.get_preferred_path())

    def viewer_principal_url(self) -> str | None:
        viewer = self.environ.get("praxis.viewer")
        return self.href_for(f"/{url_segment(viewer.username)}/") if viewer else None

    def viewer_can_write(self) -> bool:
        return False

    def viewer_owns(self) -> bool:
        """Whether the viewer is the owner (not a delegate) of this resource."""
        return True

    def support_etag(self):
        return False

    def get_etag(self):
        return None

    def prevent_locking(self):
        return True


class RootCollection(_LiveProps, DAVCollection):
    kind = ROOT

    def get_display_name(self):
        return "praxis-caldav"

    def get_member_names(self):
        viewer = self.environ.get("praxis.viewer")
        return [url_segment(viewer.username)] if viewer else []

    def get_member(self, name):
        return self.provider.get_resource_inst(f"/{name}/", self.environ)


class PrincipalHome(_LiveProps, DAVCollection):
    """Principal and calendar home in one collection (Apple wants one home per principal)."""

    kind = PRINCIPAL

    def __init__(self, path: str, environ: dict, owner: Practitioner):
        super().__init__(path, environ)
        self.owner = owner

    def principal_url(self) -> str:
        return self.href_for(f"/{url_segment(self.owner.username)}/")

    def get_display_name(self):
        return self.owner.display_name

    def supported_reports(self):
        return []

    def get_member_names(self):
        names = [OWN_CALENDAR]
        names += [SHARED_PREFIX + url_segment(g.owner.username) for g in directory.grants_for(self.owner)]
        return names

    def get_member(self, name):
        return self.provider.get_resource_inst(f"{self.path.rstrip('/')}/{name}/", self.environ)


class CalendarCollection(CalendarAccess, _LiveProps, DAVCollection):
    kind = CALENDAR

    def __init__(self, path: str, environ: dict, owner: Practitioner, viewer: Practitioner, can_write: bool):
        super().__init__(path, environ)
        self.owner = owner
        self.viewer = viewer
        self._can_write = can_write
        self.settings: ServiceSettings = self.provider.settings
        self.policy: ViewPolicy = self.settings.representation.policy(owner, viewer)
        # Every view but the owner's clear one: object names and UIDs are opaque.
        self.opaque: bool = self.policy.opaque_names
        self._token: int | None = None

    # Identity and properties ---------------------------------------------------
    def principal_url(self) -> str:
        return self.href_for(f"/{url_segment(self.owner.username)}/")

    def get_display_name(self):
        if self.owner.id == self.viewer.id and self.owner.calendar_displayname:
            return self.owner.calendar_displayname
        return f"{self.owner.practice.name} – {self.owner.display_name}"

    def description(self) -> str:
        return f"Termine von {self.owner.display_name}"

    def set_property_value(self, name, value, *, dry_run=False):
        """Name, colour and order of the viewer's own writable calendar; anything else 403.

        wsgidav calls this once with dry_run=True per property, then for real, and answers
        207 with a status per property (macOS stops syncing on a flat 403).
        """
        column = calendar_properties.SETTABLE.get(name)
        if column is None or self.owner.id != self.viewer.id or not self._can_write:
            raise DAVError(HTTP_FORBIDDEN)
        parsed = calendar_properties.parsed_value(column, value)
        if not dry_run:
            update_practitioner(self.owner, **{column: parsed})

    def color(self) -> str | None:
        return self.owner.calendar_color

    def order(self) -> str | None:
        return None if self.owner.calendar_order is None else str(self.owner.calendar_order)

    def timezone_ical(self) -> str:
        return self.settings.timezone_ical

    def max_resource_size(self) -> int:
        return self.settings.max_resource_size

    def supported_reports(self):
        return list(self.settings.reports)

    def viewer_can_write(self) -> bool:
        return self._can_write

    def viewer_owns(self) -> bool:
        return self.owner.id == self.viewer.id

    def change_number(self) -> int:
        if self._token is None:
            self._token = store.current_change(self.owner.id)
        return self._token

    def sync_token(self, change: int | None = None) -> str:
        """`urn:praxis-caldav:sync:<owner id>:<policy tag>:<change id>`, also the ctag.

        The render policy is in it because a delegated calendar's content changes when the
        viewer (not the owner) switches pseudonymization: the owner's change log does not
        move then, the token must.
        """
        change = self.change_number() if change is None else change
        return f"urn:praxis-caldav:sync:{self.owner.id}:{self.policy.tag}:{change}"

    def get_etag(self):
        return None

    # Members ----------------------------------------------------------------------
    def shown_name(self, name: str) -> str:
        """A stored object name as this view shows it."""
        return opaque_names.shown_name(self.owner.id, name) if self.opaque else name

    def stored_name(self, name: str) -> str:
        """The stored object name a request of this view means."""
        return opaque_names.stored_name(self.owner.id, name) if self.opaque else name

    def stored_uid(self, uid: str) -> str:
        """The stored UID an upload of this view means."""
        return opaque_names.stored_uid(self.owner.id, uid) if self.opaque else uid

    def member_path(self, name: str) -> str:
        """The path of the member stored as `name`, as this view shows it."""
        return f"{self.path.rstrip('/')}/{self.shown_name(name)}"

    def get_member_names(self):
        return [self.shown_name(m.resource_name) for m in self._list_members()]

    def get_member_list(self):
        """One query for all members (wsgidav would look each up by name)."""
        return [self._object_of(m) for m in self._list_members()]

    def get_member(self, name):
        appt = self.served_row(self.stored_name(name))
        return None if appt is None else self.object_for(appt)

    # Objects of this calendar (its data: providers/calendar_access.py) ------------------
    def _object_of(self, member: store.MemberInfo) -> CalendarObject:
        return CalendarObject(self.member_path(member.resource_name), self.environ, self, member=member)

    def object_for(self, appt: Appointment) -> CalendarObject:
        """The object of a loaded row."""
        return CalendarObject(self.member_path(appt.resource_name), self.environ, self, appointment=appt)

    def render_key(self, appt_id: int, revision: int) -> RenderKey:
        """The cache key of a row's rendering in this view (the one place it is built)."""
        return RenderKey(appt_id, revision, self.policy)

    def object_at(self, name: str, revision: int, data: bytes | None = None) -> CalendarObject:
        """The object stored as `name` at `revision`, without a row: for answers built from
        the name, the ETag and (when given) its rendering alone."""
        obj = self._object_of(store.MemberInfo(name, revision, ""))
        obj._data = data
        return obj

    def render(self, appt: Appointment) -> bytes:
        """Rendered iCalendar, cached by (row, revision, policy): a revision never changes content."""
        key = self.render_key(appt.id, appt.revision)
        cache = self.settings.render_cache
        data = cache.get(key)
        if data is None:
            data = served_data.rendered(self.settings.representation.render, appt, self.policy)
            cache.put(key, data)
        return data

    def etag(self, revision: int) -> str:
        return self.settings.representation.etag(revision, self.policy)


class CalendarObject(_LiveProps, DAVNonCollection):
    kind = OBJECT

    def __init__(
        self,
        path: str,
        environ: dict,
        calendar: CalendarCollection,
        member: store.MemberInfo | None = None,
        appointment: Appointment | None = None,
    ):
        super().__init__(path, environ)
        self.calendar = calendar
        self._member = member
        self._appointment = appointment
        self._data: bytes | None = None
        # The name as stored (the path's last segment is the name as this view shows it).
        row = member if member is not None else appointment
        self.stored_name = row.resource_name if row is not None else calendar.stored_name(self.name)

    @property
    def revision(self) -> int:
        return (self._appointment or self._member).revision

    @property
    def appointment(self) -> Appointment:
        if self._appointment is None:
            self._appointment = self.calendar.served_row(self.stored_name)
            if self._appointment is None:
                raise DAVError(HTTP_NOT_FOUND)
        return self._appointment

    def data(self) -> bytes:
        if self._data is None:
            self._data = self.calendar.render(self.appointment)
        return self._data

    def _wsgidav_names(self):
        return list(properties.WSGIDAV_OBJECT_NAMES)

    def principal_url(self) -> str:
        return self.calendar.principal_url()

    def supported_reports(self):
        return []

    def viewer_can_write(self) -> bool:
        return self.calendar.viewer_can_write()

    def viewer_owns(self) -> bool:
        return self.calendar.viewer_owns()

    def quoted_etag(self) -> str:
        return self.calendar.etag(self.revision)

    def get_etag(self):
        return self.quoted_etag().strip('"')

    def support_etag(self):
        return True

    def support_ranges(self):
        return False

    def get_content_type(self):
        return CONTENT_TYPE

    def get_content_length(self):
        return len(self.data())

    def get_content(self):
        return io.BytesIO(self.data())

    def get_last_modified(self):
        modified = (self._appointment or self._member).modified_at
        return modified.replace(tzinfo=dt.UTC).timestamp()

    def get_display_name(self):
        return self.name
