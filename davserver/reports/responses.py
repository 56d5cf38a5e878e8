"""Building <D:response> elements for calendar objects, shared by every report."""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree
from wsgidav.dav_error import DAVError

from davserver.http import multistatus, serialize
from providers.properties import CALDAV, DAV
from providers.resources import CalendarObject

CALENDAR_DATA = f"{{{CALDAV}}}calendar-data"


def add_status_response(ms: etree._Element, href: str, status: str) -> None:
    """A response with only a status (missing member in multiget, removed member in sync)."""
    response = etree.SubElement(ms, f"{{{DAV}}}response")
    etree.SubElement(response, f"{{{DAV}}}href").text = href
    etree.SubElement(response, f"{{{DAV}}}status").text = f"HTTP/1.1 {status}"


def add_object_response(
    ms: etree._Element,
    obj: CalendarObject,
    names: list[str],
    calendar_data: Callable[[bytes], bytes] | None = None,
    href: str | None = None,
) -> None:
    """Propstat response for one object: found properties 200, unknown ones 404.

    `href` overrides the object's canonical href (multiget answers with the href as sent).
    """
    found: list[etree._Element] = []
    missing: list[str] = []
    for name in names:
        if name == CALENDAR_DATA:
            el = etree.Element(CALENDAR_DATA)
            data = obj.data()
            el.text = (calendar_data(data) if calendar_data else data).decode("utf-8")
            found.append(el)
            continue
        try:
            value = obj.get_property_value(name)
        except DAVError:
            missing.append(name)
            continue
        if isinstance(value, etree._Element):
            found.append(value)
        else:
            el = etree.Element(name)
            el.text = value
            found.append(el)
    response = etree.SubElement(ms, f"{{{DAV}}}response")
    etree.SubElement(response, f"{{{DAV}}}href").text = href or obj.get_href()
    for status, props in (("200 OK", found), ("404 Not Found", missing)):
        if not props:
            continue
        propstat = etree.SubElement(response, f"{{{DAV}}}propstat")
        prop = etree.SubElement(propstat, f"{{{DAV}}}prop")
        for p in props:
            prop.append(p if isinstance(p, etree._Element) else etree.Element(p))
        etree.SubElement(propstat, f"{{{DAV}}}status").text = f"HTTP/1.1 {status}"


# Properties whose values the text shortcut below fills in per object.
GETETAG, GETCONTENTTYPE = f"{{{DAV}}}getetag", f"{{{DAV}}}getcontenttype"
_TEXT_PROPS = frozenset({GETETAG, GETCONTENTTYPE, CALENDAR_DATA})
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MARK = "\ue000{}\ue000"


def _escape(text: str) -> str:
    """Text content as lxml serializes it."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def multistatus_text(
    objects: list[tuple[CalendarObject, str | None]],
    names: list[str],
    calendar_data: Callable[[bytes], bytes] | None = None,
) -> bytes | None:
    """The serialized multistatus of add_object_response(obj, names, calendar_data, href) for
    each (obj, href), or None where this shortcut does not apply (other properties).

    Building an element tree of a thousand objects with their calendar data and
    serializing it was most of a large calendar-query; here the first object's response
    is built as always, serialized once with markers, and every object's text is that
    template with its href, ETag and data escaped as lxml escapes text. Same bytes.
    """
    if not objects or not _TEXT_PROPS.issuperset(names) or len(set(names)) != len(names):
        return None
    values = []
    with_data = CALENDAR_DATA in names
    for obj, href in objects:
        text = ""
        if with_data:  # render only what is asked for
            data = obj.data()
            text = (calendar_data(data) if calendar_data else data).decode("utf-8")
        href = href or obj.get_href()
        if _NOT_XML.search(text) or _NOT_XML.search(href):
            return None  # lxml refuses such text: let the element path answer as before
        values.append((href, obj.quoted_etag(), text))
    ms = multistatus()
    first, href = objects[0]
    add_object_response(ms, first, names, calendar_data, href=href)
    template = ms[0]
    template.find(f"{{{DAV}}}href").text = _MARK.format("href")
    prop = template.find(f"{{{DAV}}}propstat/{{{DAV}}}prop")
    order = []
    for el in prop:
        if el.tag in (GETETAG, CALENDAR_DATA):
            el.text = _MARK.format(len(order))
            order.append(el.tag)
    ms.text, template.tail = _MARK.format("start"), _MARK.format("end")
    before, rest = serialize(ms).decode("utf-8").split(_MARK.format("start"))
    response, after = rest.split(_MARK.format("end"))
    pieces = response.split(_MARK.format("href"))
    if len(pieces) != 2:
        return None
    head, tail = pieces
    gaps = [head]
    for i in range(len(order)):
        part, tail = tail.split(_MARK.format(i))
        gaps.append(part)
    gaps.append(tail)
    out = [before]
    for href, etag, text in values:
        fill = [etag if tag == GETETAG else _escape(text) for tag in order]
        out.append(gaps[0])
        out.append(_escape(href))
        for gap, value in zip(gaps[1:], fill, strict=False):
            out.append(gap)
            out.append(value)
        out.append(gaps[-1])
    out.append(after)
    return "".join(out).encode("utf-8")
