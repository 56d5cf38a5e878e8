"""sync-collection (RFC 6578): what changed in a calendar since a sync token.

The token is `urn:praxis-caldav:sync:<owner id>:<policy tag>:<change id>`: the newest
change-log id of the calendar's owner and the render policy of this viewer (getctag is the
same string). A token of another policy (the viewer switched pseudonymization) is refused
like a foreign one, so the device re-fetches everything in the new rendering. Reading
"changes since N" is one grouped query on the change log; a member that changed and is no
longer served (deleted, or cancelled while cancelled appointments are not served) is
reported as a bare 404.

Depth: RFC 6578 §3.2 defines the report for Depth 0; Thunderbird sends Depth 1, and a
missing header is common, so absent, 0 and 1 are accepted; anything else is 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from lxml import etree

from davserver.http import CalDAVError, depth, multistatus
from davserver.reports import report, request_props
from davserver.reports.responses import CALENDAR_DATA, add_object_response, add_status_response
from providers import store
from providers.properties import CALENDAR, DAV
from providers.resources import CalendarCollection, CalendarObject

VALID_SYNC_TOKEN = f"{{{DAV}}}valid-sync-token"
TOKEN_RE = re.compile(r"urn:praxis-caldav:sync:(\d{1,18}):([a-z]{1,8}):(\d{1,18})")
# Properties that need the full row (rendering); the rest come from name/revision/modified.
ROW_PROPS = frozenset({CALENDAR_DATA, f"{{{DAV}}}getcontentlength"})


def parse_token(text: str, calendar: CalendarCollection) -> int | None:
    """The change id of a client's token; None for the empty token (initial sync).

    Malformed, foreign (another calendar's owner, another render policy) and future tokens
    are 403 valid-sync-token: the client then starts over with a full sync.
    """
    text = text.strip()
    if not text:
        return None
    match = TOKEN_RE.fullmatch(text)
    if (match is None or int(match.group(1)) != calendar.owner.id
            or match.group(2) != calendar.policy.tag):
        raise CalDAVError(403, VALID_SYNC_TOKEN, "unknown sync token")
    since = int(match.group(3))
    if since > calendar.change_number():
        raise CalDAVError(403, VALID_SYNC_TOKEN, "sync token from the future")
    return since


def parse_limit(request_el: etree._Element) -> int | None:
    """<D:limit><D:nresults>N</D:nresults></D:limit>: N >= 1, or None without a limit."""
    limit = request_el.find(f"{{{DAV}}}limit")
    if limit is None:
        return None
    text = limit.findtext(f"{{{DAV}}}nresults")
    if text is None or not text.strip().isdigit() or int(text) < 1:
        raise CalDAVError(400, message="DAV:limit needs a positive DAV:nresults")
    return int(text)


def check_request(request_el: etree._Element, environ: dict) -> None:
    if depth(environ, "0") not in ("0", "1"):
        raise CalDAVError(400, message="sync-collection is only defined for Depth 0")
    level = (request_el.findtext(f"{{{DAV}}}sync-level") or "1").strip().lower()
    if level not in ("1", "infinite"):  # a calendar has no sub-collections: both are the same
        raise CalDAVError(400, message="DAV:sync-level must be 1 or infinite")
    if request_el.find(f"{{{DAV}}}sync-token") is None:
        raise CalDAVError(400, message="sync-collection without DAV:sync-token")


@report(f"{{{DAV}}}sync-collection", {CALENDAR})
def sync_collection(
    request_el: etree._Element,
    calendar: CalendarCollection,
    environ: dict,
    calendar_data: Callable[[bytes], bytes] | None,
) -> etree._Element:
    """Initial listing or the changes since the token, at most `limit` of them (then 507)."""
    check_request(request_el, environ)
    since = parse_token(request_el.findtext(f"{{{DAV}}}sync-token") or "", calendar)
    limit = parse_limit(request_el)
    names, _ = request_props(request_el)
    owner, cancelled = calendar.owner.id, calendar.settings.serve_cancelled
    # Read before the changes: a change committed meanwhile is sent again next time,
    # never skipped.
    token = calendar.change_number()
    ms = multistatus()
    objects = None
    if since is None:
        members, truncated = store.members_by_revision(owner, cancelled, limit)
        changed = [(m.resource_name, m.revision) for m in members]
        if not ROW_PROPS.intersection(names):  # the listing already has all they need
            objects = {m.resource_name: CalendarObject(calendar.path + m.resource_name,
                                                       calendar.environ, calendar, member=m)
                       for m in members}
    else:
        changed, truncated = store.changes_since(owner, since, limit)
    if objects is None:
        objects = _objects(calendar, [name for name, _ in changed], names)
    for name, _ in changed:
        obj = objects.get(name)
        if obj is None:
            add_status_response(ms, calendar.href_for(calendar.path + name), "404 Not Found")
        else:
            add_object_response(ms, obj, names, calendar_data)
    if truncated:
        # RFC 6578 §3.6: the collection itself with 507; the token continues after the page.
        token = changed[-1][1]
        add_status_response(ms, calendar.href_for(calendar.path), "507 Insufficient Storage")
        error = etree.SubElement(ms[-1], f"{{{DAV}}}error")
        etree.SubElement(error, f"{{{DAV}}}number-of-matches-within-limits")
    etree.SubElement(ms, f"{{{DAV}}}sync-token").text = calendar.sync_token(token)
    return ms


def _objects(calendar: CalendarCollection, member_names: Iterable[str],
             props: list[str]) -> dict[str, CalendarObject]:
    """Served members among `member_names`; full rows only when a property needs them."""
    owner, cancelled = calendar.owner.id, calendar.settings.serve_cancelled
    if ROW_PROPS.intersection(props):
        rows = store.load_by_names(owner, list(member_names), cancelled)
        return {name: calendar.object_for(appt) for name, appt in rows.items()}
    infos = store.members_by_names(owner, member_names, cancelled)
    return {name: CalendarObject(calendar.path + name, calendar.environ, calendar, member=info)
            for name, info in infos.items()}
