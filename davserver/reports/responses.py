"""Building <D:response> elements for calendar objects, shared by every report."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree
from wsgidav.dav_error import DAVError

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
    data: bytes | None = None,
) -> None:
    """Propstat response for one object: found properties 200, unknown ones 404.

    `href` overrides the object's canonical href (multiget answers with the href as sent);
    `data` is the object's rendering where the caller has it (else obj.data() renders).
    """
    found: list[etree._Element] = []
    missing: list[str] = []
    for name in names:
        if name == CALENDAR_DATA:
            el = etree.Element(CALENDAR_DATA)
            if data is None:
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
        if not props and (status != "200 OK" or missing):
            continue  # an empty <D:prop/> still gets one (empty) propstat: RFC 4918 §14.24
        propstat = etree.SubElement(response, f"{{{DAV}}}propstat")
        prop = etree.SubElement(propstat, f"{{{DAV}}}prop")
        for p in props:
            prop.append(p if isinstance(p, etree._Element) else etree.Element(p))
        etree.SubElement(propstat, f"{{{DAV}}}status").text = f"HTTP/1.1 {status}"


GETETAG = f"{{{DAV}}}getetag"


class ChunkedBody:
    """A response body of bytes chunks that lets go of each chunk once it is handed out.

    Whatever keeps the building function's frame alive (wsgidav keeps 404 properties as
    DAVErrors whose tracebacks form a cycle with that frame, freed only by the cyclic GC),
    the chunks of a sent answer are gone: otherwise every large PROPFIND or sync listing
    stayed in memory until the next full collection (docs/benchmarks/code-decisions.md).
    """

    def __init__(self, chunks: list[bytes]):
        self.length = sum(map(len, chunks))
        chunks.reverse()
        self._chunks = chunks

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        try:
            return self._chunks.pop()
        except IndexError:
            raise StopIteration from None
