"""calendar-multiget (RFC 4791 §7.9): many hrefs, one query, one response per href."""

from __future__ import annotations

from davserver.http import CalDAVError, href_to_path, multistatus
from davserver.reports import report, request_props
from davserver.reports.responses import add_object_response, add_status_response
from providers import store
from providers.properties import CALDAV, CALENDAR, DAV


@report(f"{{{CALDAV}}}calendar-multiget", {CALENDAR})
def calendar_multiget(request_el, calendar, environ, calendar_data):
    """Depth is ignored; hrefs outside this calendar (or unknown) are 404 inside the 207."""
    names, _ = request_props(request_el)
    hrefs = [h.text or "" for h in request_el.findall(f"{{{DAV}}}href")]
    if not hrefs:
        raise CalDAVError(400, message="calendar-multiget without href")
    prefix = calendar.provider.mount_path + calendar.path
    wanted: dict[str, str] = {}
    for href in hrefs:
        path = href_to_path(href) or ""
        name = path[len(prefix):] if path.startswith(prefix) else ""
        if "/" in name:
            name = ""
        wanted[href] = name
    rows = store.load_by_names(calendar.owner.id, [n for n in wanted.values() if n],
                               calendar.settings.serve_cancelled)
    ms = multistatus()
    for href, name in wanted.items():
        appt = rows.get(name)
        if appt is None:
            add_status_response(ms, href, "404 Not Found")
        else:
            add_object_response(ms, calendar.object_for(appt), names, calendar_data)
    return ms
