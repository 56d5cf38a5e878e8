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
from urllib.parse import quote

from lxml import etree

from davserver.http import CalDAVError, depth, multistatus, serialize
from davserver.reports import ReportResult, report, request_props
from davserver.reports.responses import CALENDAR_DATA, add_object_response, add_status_response
from providers.properties import CALENDAR, DAV
from providers.resources import HREF_SAFE, CalendarCollection, CalendarObject

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
        if not _PER_MEMBER.intersection(names):
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


# Names that quote() leaves as they are (HREF_SAFE plus letters and digits).
_PLAIN = re.compile(r"[A-Za-z0-9/@:+!*'(),$\-_|.~]*").fullmatch
# Properties whose value differs between members beyond href and getetag.
_PER_MEMBER = ROW_PROPS | {f"{{{DAV}}}getlastmodified"}
_START, _END, _HREF, _ETAG = "\ue000start\ue000", "\ue000end\ue000", "\ue000href\ue000", "\ue000etag\ue000"


def _initial_listing(
    calendar: CalendarCollection,
    members: Iterator[tuple[str, int]],
    names: list[str],
    token: int,
    limit: int | None,
) -> ReportResult | None:
    """The initial listing as text chunks, every member from the first member's response.

    At N=10,000 building a response element per member was most of an initial sync (and
    at N=100,000 most of the memory). The first member's response is built as always and
    serialized once with markers where its href and ETag are; each member's text is that
    template with its values (hrefs are percent-encoded and ETags '"<rev>-<tag>"': no
    character XML escapes). The rows are read one at a time and the body is left as
    chunks (never the listing as rows, text and bytes at once). The bytes are the same as
    the element tree's.
    """
    first = next(members, None)
    if first is None:
        return None
    parts = _template(calendar, first, names, token, False)
    if parts is None:
        return None
    before, before_href, middle, after_etag, with_etag, after = parts
    href_prefix = calendar.href_for(calendar.path)
    etag, shown = calendar.etag, calendar.shown_name if calendar.opaque else None
    chunks, batch = [before.encode("utf-8")], []
    count, last = 0, first[1]
    for stored, revision in itertools.chain((first,), members):
        count += 1
        if limit is not None and count > limit:  # the one row more: the page is truncated
            after = _template(calendar, first, names, last, True)[-1]
            break
        last = revision
        name = shown(stored) if shown else stored
        href = href_prefix + (name if _PLAIN(name) else quote(name, safe=HREF_SAFE))
        batch.append(f"{before_href}{href}{middle}{etag(revision) if with_etag else ''}{after_etag}")
        if len(batch) == 300:  # chunks of about 50 KB (see fragments._BATCH)
            chunks.append("".join(batch).encode("utf-8"))
            batch = []
    chunks.append("".join(batch).encode("utf-8"))
    chunks.append(after.encode("utf-8"))
    return ReportResult(207, chunks, "application/xml; charset=utf-8")


def _template(
    calendar: CalendarCollection, first: tuple[str, int], names: list[str], token: int, truncated: bool
) -> tuple[str, str, str, str, bool, str] | None:
    """(before, before href, between href and ETag, after ETag, with ETag, after) of the
    listing whose first member is `first`; None if its href is not spelled as expected."""
    ms = multistatus()
    add_object_response(ms, calendar.object_at(first[0], first[1]), names)
    template = ms[0]
    href_prefix = calendar.href_for(calendar.path)
    href_el = template.find(f"{{{DAV}}}href")
    if href_el is None or not (href_el.text or "").startswith(href_prefix):
        return None
    etag_el = template.find(f"{{{DAV}}}propstat/{{{DAV}}}prop/{{{DAV}}}getetag")
    with_etag = etag_el is not None and bool(etag_el.text)
    href_el.text = _HREF
    if with_etag:
        etag_el.text = _ETAG
    ms.text, template.tail = _START, _END
    _finish(ms, calendar, token, truncated)
    before, rest = serialize(ms).decode("utf-8").split(_START)
    response, after = rest.split(_END)
    before_href, after_href = response.split(_HREF)
    middle, after_etag = after_href.split(_ETAG) if with_etag else (after_href, "")
    return before, before_href, middle, after_etag, with_etag, after


def _objects(
    calendar: CalendarCollection, member_names: Iterable[str], props: list[str]
) -> dict[str, CalendarObject]:
    """Served members among `member_names`; full rows only when a property needs them."""
    return calendar.get_multi(member_names, "row" if ROW_PROPS.intersection(props) else "member")
