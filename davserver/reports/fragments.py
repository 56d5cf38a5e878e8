"""Multistatus text straight from cached fragments: no element or resource object per member.

A calendar-query or multiget asking for getetag, getcontenttype and calendar-data (what
every client asks for) is, per object, the same response with three values put in: href,
ETag and the escaped calendar data. The first response is built by add_object_response
as always and serialized once with markers where those values go (the template); each
object's text is the template's parts with its values. The escaped calendar-data of an
object is kept in the render cache as UTF-8 bytes under (row, revision, render policy):
a revision never changes content, and the policy decides the content, so the key is
exact for every viewer (a delegate with the stricter policy has a key of its own).
Escaping and encoding 2.5 MB of calendar data was most of a week query at N=100,000.

The bytes are the same as serialize() of the element tree (tests compare both paths).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from davserver.http import multistatus, serialize
from davserver.reports.responses import CALENDAR_DATA, GETETAG, add_object_response
from providers import store
from providers.properties import DAV
from providers.resources import CalendarCollection, CalendarObject

TEXT_PROPS = frozenset({GETETAG, f"{{{DAV}}}getcontenttype", CALENDAR_DATA})
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MARK = "\ue000{}\ue000"
# Names that quote() leaves as they are (HREF_SAFE plus letters and digits).
_PLAIN = re.compile(r"[A-Za-z0-9/@:+!*'(),$\-_|.~]*").fullmatch
# Objects per bytes chunk of the body: few writes to the socket, never the body twice.
_BATCH = 256


class Missing(Exception):
    """An object's rendering is in no cache and its row was not loaded."""


def escape(text: str) -> str:
    """Text content as lxml serializes it."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def applies(names: list[str]) -> bool:
    return bool(names) and TEXT_PROPS.issuperset(names) and len(set(names)) == len(names)


class Entry:
    """One object of an answer: its row id, name and revision; the row if it was loaded."""

    __slots__ = ("id", "name", "revision", "row", "href")

    def __init__(self, appt_id: int, name: str, revision: int, row=None, href: str | None = None):
        self.id, self.name, self.revision, self.row, self.href = appt_id, name, revision, row, href


def xml_data(calendar: CalendarCollection, entry: Entry,
             calendar_data: Callable[[bytes], bytes] | None) -> bytes | None:
    """The escaped calendar-data text of one object as UTF-8; None if lxml would refuse it.

    Raises Missing when neither the text, the rendering nor the row is at hand.
    """
    cache, policy = calendar.settings.render_cache, calendar.policy
    if calendar_data is None:
        key = ("xml", entry.id, entry.revision, policy)
        hit = cache.get(key)
        if hit is not None:
            return hit
    data = cache.get((entry.id, entry.revision, policy)) if entry.row is None else \
        calendar.render(entry.row)
    if data is None:
        raise Missing(entry.name)
    text = (calendar_data(data) if calendar_data else data).decode("utf-8")
    if _NOT_XML.search(text):
        return None
    out = escape(text).encode("utf-8")
    if calendar_data is None:
        cache.put(key, out)
    return out


def _template(calendar: CalendarCollection, names: list[str]) -> tuple[bytes, list[bytes], list[str],
                                                                        bytes]:
    """(before, gaps, order, after) of the multistatus with one response for `names`."""
    ms = multistatus()
    stub = CalendarObject(calendar.path.rstrip("/") + "/x.ics", calendar.environ, calendar,
                          member=store.MemberInfo("x.ics", 0, ""))
    stub._data = b"x"
    add_object_response(ms, stub, names, None)
    template = ms[0]
    template.find(f"{{{DAV}}}href").text = _MARK.format("href")
    order = []
    for el in template.find(f"{{{DAV}}}propstat/{{{DAV}}}prop"):
        if el.tag in (GETETAG, CALENDAR_DATA):
            el.text = _MARK.format(len(order))
            order.append(el.tag)
    ms.text, template.tail = _MARK.format("start"), _MARK.format("end")
    before, rest = serialize(ms).decode("utf-8").split(_MARK.format("start"))
    response, after = rest.split(_MARK.format("end"))
    head, tail = response.split(_MARK.format("href"))
    gaps = [head]
    for i in range(len(order)):
        part, tail = tail.split(_MARK.format(i))
        gaps.append(part)
    gaps.append(tail)
    return before.encode(), [g.encode() for g in gaps], order, after.encode()


def multistatus_chunks(calendar: CalendarCollection, entries: Sequence[Entry], names: list[str],
                       calendar_data: Callable[[bytes], bytes] | None = None) -> list[bytes] | None:
    """The body as bytes chunks, or None where this path does not apply (then the element
    path answers). An entry's href is its canonical one unless it has its own (multiget:
    the href as sent). Raises Missing (see xml_data)."""
    if not entries or not applies(names):
        return None
    before, gaps, order, after = _template(calendar, names)
    base = calendar.path.rstrip("/") + "/"
    prefix = calendar.href_for(base)
    etag = calendar.etag
    with_data = CALENDAR_DATA in order
    first_gap, last_gap = gaps[0], gaps[-1]
    inner = gaps[1:-1]
    chunks, batch = [before], []
    for entry in entries:
        if entry.href is None:  # percent-encoded: nothing in it that XML escapes
            name = entry.name
            href = prefix + name if _PLAIN(name) else calendar.href_for(base + name)
        else:
            if _NOT_XML.search(entry.href):
                return None
            href = escape(entry.href)
        data = xml_data(calendar, entry, calendar_data) if with_data else b""
        if data is None:
            return None
        batch.append(first_gap)
        batch.append(href.encode())
        for gap, tag in zip(inner, order, strict=True):
            batch.append(gap)
            batch.append(etag(entry.revision).encode() if tag == GETETAG else data)
        batch.append(last_gap)
        if len(batch) >= _BATCH * 8:
            chunks.append(b"".join(batch))
            batch = []
    batch.append(after)
    chunks.append(b"".join(batch))
    return chunks

