"""calendar-multiget (RFC 4791 §7.9): many hrefs, one query, one response per href."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from davserver.http import CalDAVError, multistatus
from davserver.reports import ReportResult, fragments, report, request_props
from davserver.reports.hrefs import member_name
from davserver.reports.responses import (
    add_object_response,
    add_status_response,
)
from providers.properties import CALDAV, CALENDAR, DAV
from providers.resources import CalendarCollection


@report(f"{{{CALDAV}}}calendar-multiget", {CALENDAR})
def calendar_multiget(
    request_el: etree._Element,
    calendar: CalendarCollection,
    environ: dict,
    calendar_data: Callable[[bytes], bytes] | None,
) -> etree._Element | ReportResult:
    """Depth is ignored; unknown or foreign hrefs are 404 inside the 207.

    Each distinct href gets exactly one response carrying that href as sent, so a client
    can match answers to its requests whatever spelling it used.
    """
    names, _ = request_props(request_el)
    hrefs = [(h.text or "").strip() for h in request_el.findall(f"{{{DAV}}}href")]
    if not any(hrefs):
        raise CalDAVError(400, message="calendar-multiget without href")
    wanted = {href: _stored_name(href, calendar) for href in dict.fromkeys(hrefs) if href}
    if fragments.applies(names):
        body = _text(calendar, wanted, names, calendar_data)
        if body is not None:
            return ReportResult(207, body, "application/xml; charset=utf-8")
    load = "rendered" if _WITHOUT_ROW.issuperset(names) else "row"
    objects = calendar.get_multi([n for n in wanted.values() if n], load)
    ms = multistatus()
    for href, name in wanted.items():
        obj = objects.get(name) if name else None
        if obj is None:
            add_status_response(ms, href, "404 Not Found")
        else:
            add_object_response(ms, obj, names, calendar_data, href=href)
    return ms


def _text(
    calendar: CalendarCollection,
    wanted: dict[str, str | None],
    names: list[str],
    calendar_data: Callable[[bytes], bytes] | None,
) -> list[bytes] | None:
    """The answer from one light query (id, revision) and the render cache; only objects
    whose response text and rendering are not cached are loaded, all in one more query.
    None when an href is not a served member (404s: the element path answers)."""
    ids = calendar.revisions([n for n in wanted.values() if n])
    if not all(name and name in ids for name in wanted.values()):
        return None
    members = [
        fragments.Member(appt_id, name, revision, None, href)
        for href, name in wanted.items()
        for appt_id, revision in (ids[name],)
    ]
    try:
        return fragments.multistatus_chunks(
            calendar,
            members,
            names,
            calendar_data,
            load=lambda missing: {n: obj.appointment for n, obj in calendar.get_multi(missing).items()},
        )
    except fragments.Missing:  # evicted meanwhile by another request
        return None


def _stored_name(href: str, calendar: CalendarCollection) -> str | None:
    """The stored name of the member `href` names in this view (opaque names map back)."""
    name = member_name(href, calendar)
    return None if name is None else calendar.stored_name(name)


# What a response can be built from with name, revision and rendered data alone.
_WITHOUT_ROW = frozenset({f"{{{DAV}}}getetag", f"{{{DAV}}}getcontenttype", f"{{{CALDAV}}}calendar-data"})
