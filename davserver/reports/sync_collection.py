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

import itertools
import re
from collections.abc import Callable, Iterable, Iterator

from lxml import etree

from davserver.http import CalDAVError, depth, multistatus, serialize
from davserver.multistatus import MultistatusTemplate, fits, member_hrefs
from davserver.reports import ReportResult, report, request_props
from davserver.reports.responses import CALENDAR_DATA, add_object_response, add_status_response
from providers.properties import CALENDAR, DAV
from providers.resources import CalendarCollection, CalendarObject

VALID_SYNC_TOKEN = f"{{{DAV}}}valid-sync-token"
TOKEN_RE = re.compile(r"urn:praxis-caldav:sync:(\d{1,18}):([a-z]{1,8}):(\d{1,18})")
# Properties that need the full row (rendering); the rest come from name/revision/modified.
ROW_PROPS = frozenset({CALENDAR_DATA, f"{{{DAV}}}getcontentlength"})
# The initial listing's template fills these per member; every other property is copied
# (davserver/multistatus.py: only where the registry says it is the same on every member).
SLOTS = (f"{{{DAV}}}getetag",)


def parse_token(text: str, calendar: CalendarCollection) -> int | None:
    """The change id of a client's token; None for the empty token (initial sync).

    Malformed, foreign (another calendar's owner, another render policy) and future tokens
    are 403 valid-sync-token: the client then starts over with a full sync.
    """
    text = text.strip()
    if not text:
        return None
    match = TOKEN_RE.fullmatch(text)
    if match is None or int(match.group(1)) != calendar.owner.id or match.group(2) != calendar.policy.tag:
        raise CalDAVError(403, VALID_SYNC_TOKEN, "unknown sync token")
    since = int(match.group(3))
    newest = calendar.change_number()
    if since > newest:
        raise CalDAVError(403, VALID_SYNC_TOKEN, "sync token from the future")
    if 0 < since < newest and not calendar.knows_change(since):
        # Handed out by this database before a restore from an older backup.
        raise CalDAVError(403, VALID_SYNC_TOKEN, "sync token from before a restore")
    return since


MAX_NRESULTS = 2**31 - 1


def parse_limit(request_el: etree._Element) -> int | None:
    """<D:limit><D:nresults>N</D:nresults></D:limit>: N >= 1, or None without a limit."""
    limit = request_el.find(f"{{{DAV}}}limit")
    if limit is None:
        return None
    text = limit.findtext(f"{{{DAV}}}nresults")
    if text is None or not text.strip().isdigit() or int(text) < 1:
        raise CalDAVError(400, message="DAV:limit needs a positive DAV:nresults")
    return min(int(text), MAX_NRESULTS)  # "at most N": beyond the column range it is no limit


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
) -> etree._Element | ReportResult:
    """Initial listing or the changes since the token, at most `limit` of them (then 507)."""
    check_request(request_el, environ)
    since = parse_token(request_el.findtext(f"{{{DAV}}}sync-token") or "", calendar)
    limit = parse_limit(request_el)
    names, _ = request_props(request_el)
    # Read before the changes: a change committed meanwhile is sent again next time,
    # never skipped.
    token = calendar.change_number()
    ms = multistatus()
    objects = None
    if since is None:
        if fits(names, SLOTS):
            etags = calendar.member_etags_by_revision(limit)
            listing = _initial_listing(calendar, etags, names, token, limit)
            if listing is not None:
                return listing
        members, truncated = calendar.members_by_revision(limit)
        changed = [(m.stored_name, m.revision) for m in members]
        if not ROW_PROPS.intersection(names):  # the listing already has all they need
            objects = {m.stored_name: m for m in members}
    else:
        changed, truncated = calendar.sync(since, limit)
    if objects is None:
        objects = _objects(calendar, [name for name, _ in changed], names)
    for name, _ in changed:
        obj = objects.get(name)
        if obj is None:
            # The tombstone carries the name the view showed (opaque where it was).
            add_status_response(ms, calendar.href_for(calendar.member_path(name)), "404 Not Found")
        else:
            add_object_response(ms, obj, names, calendar_data)
    _finish(ms, calendar, changed[-1][1] if truncated else token, truncated)
    return ms


def _finish(ms: etree._Element, calendar: CalendarCollection, token: int, truncated: bool) -> None:
    if truncated:
        # RFC 6578 §3.6: the collection itself with 507; the token continues after the page.
        add_status_response(ms, calendar.href_for(calendar.path), "507 Insufficient Storage")
        error = etree.SubElement(ms[-1], f"{{{DAV}}}error")
        etree.SubElement(error, f"{{{DAV}}}number-of-matches-within-limits")
    etree.SubElement(ms, f"{{{DAV}}}sync-token").text = calendar.sync_token(token)


def _initial_listing(
    calendar: CalendarCollection,
    members: Iterator[tuple[str, int]],
    names: list[str],
    token: int,
    limit: int | None,
) -> ReportResult | None:
    """The initial listing as chunks, every member's response from the first member's
    (davserver/multistatus.py); for names that fit() the template only.

    Building a response element per member was most of a large initial sync's time and
    memory (docs/benchmarks/code-decisions.md). The rows are read one at a time and the body is
    left as chunks (never the listing as rows, text and bytes at once). The bytes are the
    same as the element tree's.
    """
    first = next(members, None)
    if first is None:
        return None
    template = _template(calendar, first, names, token, False)
    if template is None:
        return None
    rows = itertools.chain((first,), members)
    href = member_hrefs(calendar)
    if limit is None:
        return ReportResult(
            207, template.listing(rows, href, calendar.etag), "application/xml; charset=utf-8"
        )
    listed = [0, first[1]]  # members listed, revision of the last one

    def within_limit() -> Iterator[tuple[str, int]]:
        for row in rows:
            if listed[0] == limit:  # one row more: the page is truncated
                listed.append(True)
                return
            listed[:2] = listed[0] + 1, row[1]
            yield row

    chunks = template.listing(within_limit(), href, calendar.etag)
    if len(listed) > 2:  # RFC 6578 §3.6: the token continues after the last one listed
        chunks[-1] = _template(calendar, first, names, listed[1], True).after.encode()
    return ReportResult(207, chunks, "application/xml; charset=utf-8")


def _template(
    calendar: CalendarCollection, first: tuple[str, int], names: list[str], token: int, truncated: bool
) -> MultistatusTemplate | None:
    """The listing whose first member is `first`, as a template; None if its href is not
    spelled as the fast path spells it."""
    ms = multistatus()
    add_object_response(ms, calendar.object_at(first[0], first[1]), names)
    _finish(ms, calendar, token, truncated)
    if ms[0].findtext(f"{{{DAV}}}href") != member_hrefs(calendar)(first[0]):
        return None
    return MultistatusTemplate(ms, ms[0], SLOTS, serialize)


def _objects(
    calendar: CalendarCollection, member_names: Iterable[str], props: list[str]
) -> dict[str, CalendarObject]:
    """Served members among `member_names`; full rows only when a property needs them."""
    return calendar.get_multi(member_names, "row" if ROW_PROPS.intersection(props) else "member")
