"""What PUT and DELETE share: the target calendar (through the provider's access rules),
write privilege, and the If-Match / If-None-Match preconditions.

wsgidav evaluates If-Match only for existing resources (so `If-Match` on a missing URL
would create it); here a missing or hidden resource never matches an If-Match.
"""

from __future__ import annotations

import re

from davserver.http import CalDAVError
from providers.provider import PracticeProvider
from providers.resources import CalendarCollection, CalendarObject

NEED_PRIVILEGES = "{DAV:}need-privileges"
_TOKEN = re.compile(r'\*|(?:W/)?"[^"]*"|[^\s,]+')


def _tokens(header: str) -> set[str]:
    """Entity tags of an If-Match/If-None-Match header, compared without quotes or W/."""
    found = set()
    for token in _TOKEN.findall(header):
        token = token[2:] if token.startswith("W/") else token
        found.add(token.strip('"'))
    return found


def check_preconditions(environ: dict, current_etag: str | None) -> bool:
    """Raise 412 unless If-Match/If-None-Match hold for `current_etag` (None: no resource).

    Returns whether the client sent either header: a client that did gets 412 when it loses
    a race; one that did not simply has its request applied to the newest state.
    """
    current = current_etag.strip('"') if current_etag else None
    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None:
        tokens = _tokens(if_match)
        if current is None or ("*" not in tokens and current not in tokens):
            raise CalDAVError(412, message="If-Match does not match the current resource")
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None and current is not None:
        tokens = _tokens(if_none_match)
        if "*" in tokens or current in tokens:
            raise CalDAVError(412, message="the resource exists already")
    return if_match is not None or if_none_match is not None


def writable_calendar(
    provider: PracticeProvider, environ: dict, *, for_put: bool
) -> tuple[CalendarCollection, str]:
    """(calendar, member name) of a request for a calendar object URL, or the right error.

    The calendar comes from the provider, so who may see and write what is decided there.
    """
    path = environ["PATH_INFO"]
    parts = [p for p in path.split("/") if p]
    if path.endswith("/") or not parts:
        _refuse_collection(provider.get_resource_inst(path, environ), for_put)
    parent_path = "/" + "/".join(parts[:-1]) + "/"
    calendar = provider.get_resource_inst(parent_path, environ)
    if calendar is None:
        grandparent = "/" + "/".join(parts[:-2]) + "/"
        if len(parts) > 3 and provider.get_resource_inst(grandparent, environ) is not None:
            raise CalDAVError(409, message="the parent collection does not exist")
        raise CalDAVError(404, message="no such calendar")
    if isinstance(calendar, CalendarObject):
        raise CalDAVError(409, message="the parent is not a collection")
    if not isinstance(calendar, CalendarCollection):
        if for_put:
            raise CalDAVError(
                405,
                message="appointments can only be stored in a calendar",
                headers=(("Allow", "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH"),),
            )
        _refuse_collection(provider.get_resource_inst(path, environ), for_put)
    if not calendar.viewer_can_write():
        raise CalDAVError(403, NEED_PRIVILEGES, "this calendar is read-only for you")
    return calendar, parts[-1]


def refuse_readonly_proppatch(provider, environ: dict) -> None:
    """PROPPATCH of a calendar (or event) the viewer may only read: 403 need-privileges.

    A flat 403, not a 207 with a status per property, so a client sees a read-only calendar
    as such (a delegation with --read, a server-to-device calendar). What a writable
    calendar refuses per property is still wsgidav's 207.
    """
    resource = provider.get_resource_inst(environ["PATH_INFO"], environ)
    if isinstance(resource, CalendarCollection | CalendarObject) and not resource.viewer_can_write():
        raise CalDAVError(403, NEED_PRIVILEGES, "this calendar is read-only for you")


def _refuse_collection(resource, for_put: bool) -> None:
    """PUT/DELETE aimed at a collection (root, home, calendar): never a device's to replace."""
    if resource is None:
        raise CalDAVError(404, message="no such resource")
    if for_put:
        raise CalDAVError(
            405,
            message="a collection cannot be replaced by PUT",
            headers=(("Allow", "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT"),),
        )
    # Deleting a collection needs DAV:unbind on its parent, which no viewer has.
    raise CalDAVError(403, NEED_PRIVILEGES, "calendars and homes are managed by the practice")
