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
import threading
from collections.abc import Callable, Sequence

from davserver.http import multistatus, serialize
from davserver.reports.responses import CALENDAR_DATA, GETETAG, add_object_response
from providers.properties import DAV
from providers.resources import CalendarCollection

TEXT_PROPS = frozenset({GETETAG, f"{{{DAV}}}getcontenttype", CALENDAR_DATA})
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MARK = "\ue000{}\ue000"
# Names that quote() leaves as they are (HREF_SAFE plus letters and digits).
_PLAIN = re.compile(r"[A-Za-z0-9/@:+!*'(),$\-_|.~]*").fullmatch
# Objects per bytes chunk of the body (about 64 KB): cheroot copies what a socket write
# leaves of a chunk, so large chunks cost time; small ones cost a write each.
_BATCH = 48


class Missing(Exception):
    """An object's rendering is in no cache and its row was not loaded."""


def escape(text: str) -> str:
    """Text content as lxml serializes it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def applies(names: list[str]) -> bool:
    """Whether an answer of `names` is made of href, ETag and calendar data only."""
    return bool(names) and TEXT_PROPS.issuperset(names) and len(set(names)) == len(names)


# One object of an answer: (row id, name, revision, row or None, href or None). The row is
# there if it was loaded; the href is the one the client sent (multiget), else canonical.
Entry = tuple


def xml_data(
    calendar: CalendarCollection, entry: Entry, calendar_data: Callable[[bytes], bytes] | None
) -> bytes | None:
    """The escaped calendar-data text of one object as UTF-8; None if lxml would refuse it.

    Raises Missing when neither the rendering nor the row is at hand.
    """
    appt_id, name, revision, row, _ = entry
    data = (
        calendar.settings.render_cache.get((appt_id, revision, calendar.policy))
        if row is None
        else calendar.render(row)
    )
    if data is None:
        raise Missing(name)
    text = (calendar_data(data) if calendar_data else data).decode("utf-8")
    if _NOT_XML.search(text):
        return None
    return escape(text).encode("utf-8")


# Templates seen so far, numbered: the number stands for the template in cache keys.
_TEMPLATES: dict[tuple, int] = {}
_TEMPLATES_LOCK = threading.Lock()


def _template(
    calendar: CalendarCollection, names: list[str]
) -> tuple[bytes, bytes, list[bytes], list[str], bytes]:
    """(before, head, gaps, order, after) of the multistatus with one response for `names`:
    a response is head, href, then gaps and the values in `order` interleaved."""
    ms = multistatus()
    stub = calendar.object_at("x.ics", 0, data=b"x")
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
    gaps = []
    for i in range(len(order)):
        part, tail = tail.split(_MARK.format(i))
        gaps.append(part)
    gaps.append(tail)
    return before.encode(), head.encode(), [g.encode() for g in gaps], order, after.encode()


def _tail(
    calendar: CalendarCollection,
    entry: Entry,
    gaps: list[bytes],
    order: list[str],
    calendar_data: Callable[[bytes], bytes] | None,
) -> bytes | None:
    """What follows the href in an object's response: ETag, calendar data and the markup."""
    out = [gaps[0]]
    for gap, tag in zip(gaps[1:], order, strict=True):
        if tag == GETETAG:
            out.append(calendar.etag(entry[2]).encode())
        else:
            data = xml_data(calendar, entry, calendar_data)
            if data is None:
                return None
            out.append(data)
        out.append(gap)
    return b"".join(out)


def multistatus_chunks(
    calendar: CalendarCollection,
    entries: Sequence[Entry],
    names: list[str],
    calendar_data: Callable[[bytes], bytes] | None = None,
) -> list[bytes] | None:
    """The body as bytes chunks, or None where this path does not apply (then the element
    path answers). Raises Missing (see xml_data).

    Everything after an object's href (its ETag, escaped calendar data and the markup
    between) is kept in the render cache under (row, revision, policy, template) when the
    whole object is asked for: a repeated answer is a lookup and three parts per object.
    """
    if not entries or not applies(names):
        return None
    before, head, gaps, order, after = _template(calendar, names)
    with _TEMPLATES_LOCK:
        sig = _TEMPLATES.setdefault((head, tuple(gaps), tuple(order)), len(_TEMPLATES))
    base = calendar.path.rstrip("/") + "/"
    prefix = calendar.href_for(base)
    cache, policy = calendar.settings.render_cache, calendar.policy
    keyed = calendar_data is None
    tails = (
        cache.get_many([("resp", e[0], e[2], policy, sig) for e in entries])
        if keyed
        else [None] * len(entries)
    )
    chunks, batch = [before], []
    for count, (entry, tail) in enumerate(zip(entries, tails, strict=True), 1):
        if tail is None:
            tail = _tail(calendar, entry, gaps, order, calendar_data)
            if tail is None:
                return None
            if keyed:
                cache.put(("resp", entry[0], entry[2], policy, sig), tail)
        href = entry[4]
        if href is None:  # percent-encoded: nothing in it that XML escapes
            name = calendar.shown_name(entry[1])
            href = prefix + name if _PLAIN(name) else calendar.href_for(base + name)
        else:
            if _NOT_XML.search(href):
                return None
            href = escape(href)
        batch.append(head)
        batch.append(href.encode())
        batch.append(tail)
        if count % _BATCH == 0:
            chunks.append(b"".join(batch))
            batch = []
    batch.append(after)
    chunks.append(b"".join(batch))
    return chunks
