"""PROPFIND Depth 1 on a calendar: the members' responses built straight from one listing.

wsgidav builds a resource object and a property list per member and formats each response
on its own, most of a large getetag PROPFIND (code-decisions.md). Here the collection and the
first member are answered by wsgidav's own code (util.add_property_response over the
property registry); that response is the template of every member's (davserver/
multistatus.py), with the member's href and ETag put in, so the output is the same, byte
for byte, and no element or resource object is built per member (nor held in memory).
Only requests whose every property is the same on all members apart from getetag (the
registry decides: properties.varies_per_member) take this path; anything else
(getlastmodified, calendar-data, a per-member live property, allprop, propname, If
headers, other resources) returns None and wsgidav answers as before.
"""

from __future__ import annotations

import itertools

from lxml import etree
from wsgidav import util, xml_tools

from davserver.http import CalDAVError, request_xml, serialize
from davserver.multistatus import MultistatusTemplate, fits, member_hrefs
from davserver.reports.responses import ChunkedBody
from providers.properties import DAV
from providers.resources import CalendarCollection

GETETAG = f"{{{DAV}}}getetag"
SLOTS = (GETETAG,)  # filled per member; every other property is copied from the first
_CONDITIONAL = (
    "HTTP_IF",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)


def requested_names(environ: dict) -> list[str] | None:
    """The names of a plain <propfind><prop>…</prop></propfind>, else None."""
    if not environ.get("praxis.body"):
        return None
    request_el = request_xml(environ)
    if request_el.tag != f"{{{DAV}}}propfind" or len(request_el) != 1:
        return None
    prop = request_el[0]
    if prop.tag != f"{{{DAV}}}prop":
        return None
    names = [child.tag for child in prop]
    if not all(isinstance(n, str) for n in names) or not fits(names, SLOTS):
        return None
    return names


def handle(environ, start_response, provider):
    if (environ.get("HTTP_DEPTH") or "").strip() != "1" or any(h in environ for h in _CONDITIONAL):
        return None
    names = requested_names(environ)
    if names is None:
        return None
    calendar = provider.get_resource_inst(environ["PATH_INFO"], environ)
    if not isinstance(calendar, CalendarCollection):
        return None
    ms = xml_tools.make_multistatus_el()
    util.add_property_response(ms, calendar.get_href(), calendar.get_properties("named", name_list=names))
    members = calendar.member_etags()
    first = next(members, None)
    if first is None:
        return util.send_multi_status_response(environ, start_response, ms)
    obj = calendar.object_at(first[0], first[1])
    util.add_property_response(ms, obj.get_href(), obj.get_properties("named", name_list=names))
    href = member_hrefs(calendar)
    if ms[-1].find(f"{{{DAV}}}href").text != href(first[0]):
        return None  # never happens; wsgidav would spell it some other way
    template = MultistatusTemplate(ms, ms[-1], SLOTS, lambda el: xml_tools.xml_to_bytes(el, pretty=False))
    body = ChunkedBody(template.listing(itertools.chain((first,), members), href, calendar.etag))
    start_response(
        "207 Multi-Status",
        [
            ("Content-Type", "application/xml; charset=utf-8"),
            ("Date", util.get_rfc1123_time()),
            ("Content-Length", str(body.length)),
        ],
    )
    return body


# ---------------------------------------------------------------- request shape (RFC 4918 §14.20)

_CHOICES = frozenset({f"{{{DAV}}}prop", f"{{{DAV}}}allprop", f"{{{DAV}}}propname"})


def check_request(environ: dict) -> None:
    """400 unless the body asks for exactly one of prop, allprop and propname (include
    only beside allprop); an empty body is allprop. wsgidav answers such bodies with
    responses that hold neither a propstat nor a status."""
    if not environ.get("praxis.body"):
        return
    root = request_xml(environ)
    if root.tag != f"{{{DAV}}}propfind":
        raise CalDAVError(400, message="a PROPFIND body is a DAV:propfind element")
    chosen = [child.tag for child in root if child.tag in _CHOICES]
    if len(chosen) != 1:
        raise CalDAVError(400, message="DAV:propfind holds exactly one of prop, allprop and propname")
    if root.find(f"{{{DAV}}}include") is not None and chosen != [f"{{{DAV}}}allprop"]:
        raise CalDAVError(400, message="DAV:include goes with DAV:allprop only")


def asks_for_nothing(environ: dict) -> bool:
    """An empty <D:prop/>: valid, but wsgidav's responses then carry no propstat."""
    if not environ.get("praxis.body"):
        return False
    prop = request_xml(environ).find(f"{{{DAV}}}prop")
    return prop is not None and not any(isinstance(child.tag, str) for child in prop)


def with_empty_propstats(app, environ: dict, start_response):
    """wsgidav's answer with an empty 200 propstat in every response lacking one."""
    captured: list = []

    def capture(status, headers, exc_info=None):
        captured[:] = [status, headers]

    result = app(environ, capture)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    status, headers = captured
    if status.startswith("207"):
        root = etree.fromstring(body)
        for response in root.iter(f"{{{DAV}}}response"):
            if response.find(f"{{{DAV}}}propstat") is None and response.find(f"{{{DAV}}}status") is None:
                propstat = etree.SubElement(response, f"{{{DAV}}}propstat")
                etree.SubElement(propstat, f"{{{DAV}}}prop")
                etree.SubElement(propstat, f"{{{DAV}}}status").text = "HTTP/1.1 200 OK"
        body = serialize(root)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]
