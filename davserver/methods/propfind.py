"""PROPFIND Depth 1 on a calendar: the members' responses built straight from one listing.

wsgidav builds a resource object and a property list per member and formats each response
on its own: at N=10,000 that was most of a getetag PROPFIND. Here the collection and the
first member are answered by wsgidav's own code (util.add_property_response over the
property registry), and every further member is a copy of the first member's response
with its href and ETag put in, so the output is the same, byte for byte. Only properties
whose value is the same for every member apart from getetag take this path; anything
else (getlastmodified, getcontentlength, calendar-data, allprop, propname, If headers,
other resources) returns None and wsgidav answers as before.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from lxml import etree
from wsgidav import util, xml_tools

from davserver.http import parse_xml
from providers import store
from providers.properties import CALDAV, DAV
from providers.resources import HREF_SAFE, CalendarCollection, CalendarObject

GETETAG = f"{{{DAV}}}getetag"
# Member properties whose value differs between members (besides the ETag), or that render.
PER_MEMBER = frozenset({f"{{{DAV}}}getlastmodified", f"{{{DAV}}}getcontentlength",
                        f"{{{CALDAV}}}calendar-data", f"{{{DAV}}}displayname"})
# Names that quote() leaves as they are (HREF_SAFE plus letters and digits).
_PLAIN = re.compile(r"[A-Za-z0-9/@:+!*'(),$\-_|.~]*").fullmatch
_CONDITIONAL = ("HTTP_IF", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
                "HTTP_IF_UNMODIFIED_SINCE")


def requested_names(body: bytes) -> list[str] | None:
    """The names of a plain <propfind><prop>…</prop></propfind>, else None."""
    if not body:
        return None
    request_el = parse_xml(body)
    if request_el.tag != f"{{{DAV}}}propfind" or len(request_el) != 1:
        return None
    prop = request_el[0]
    if prop.tag != f"{{{DAV}}}prop":
        return None
    names = [child.tag for child in prop]
    if not all(isinstance(n, str) for n in names) or PER_MEMBER.intersection(names):
        return None
    return names


def handle(environ, start_response, provider):
    if (environ.get("HTTP_DEPTH") or "").strip() != "1" or any(h in environ for h in _CONDITIONAL):
        return None
    names = requested_names(environ.get("praxis.body") or b"")
    if names is None:
        return None
    calendar = provider.get_resource_inst(environ["PATH_INFO"], environ)
    if not isinstance(calendar, CalendarCollection):
        return None
    ms = xml_tools.make_multistatus_el()
    util.add_property_response(ms, calendar.get_href(),
                               calendar.get_properties("named", name_list=names))
    members = store.list_members(calendar.owner.id, calendar.settings.serve_cancelled)
    if members:
        base = calendar.path.rstrip("/") + "/"
        first = members[0]
        obj = CalendarObject(base + first.resource_name, environ, calendar, member=first)
        util.add_property_response(ms, obj.get_href(), obj.get_properties("named", name_list=names))
        template = ms[-1]
        href_prefix = calendar.href_for(base)
        if not template[0].text.startswith(href_prefix):
            return None  # never happens; wsgidav would spell it some other way
        etag_el = template.find(f".//{{{DAV}}}prop/{GETETAG}")
        has_etag = etag_el is not None and etag_el.text
        etag_path = _path_to(template, etag_el) if has_etag else None
        for member in members[1:]:
            response = template.__copy__()  # lxml: a deep copy
            name = member.resource_name
            response[0].text = href_prefix + (name if _PLAIN(name) else quote(name, safe=HREF_SAFE))
            if etag_path is not None:
                _follow(response, etag_path).text = calendar.etag(member.revision)
            ms.append(response)
    return util.send_multi_status_response(environ, start_response, ms)


def _path_to(root: etree._Element, el: etree._Element) -> list[int]:
    path = []
    while el is not root:
        parent = el.getparent()
        path.append(parent.index(el))
        el = parent
    return path[::-1]


def _follow(root: etree._Element, path: list[int]) -> etree._Element:
    for i in path:
        root = root[i]
    return root
