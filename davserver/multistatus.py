"""The one multistatus template engine of the fast paths: one member's response, serialized
once, is the template of every member's.

A listing of a calendar (PROPFIND Depth 1, an initial sync-collection) or an answer of
many objects (calendar-multiget, calendar-query) is per member the same response with a
few values put in: its href, its ETag and its calendar data. Building a response element
and a resource per member was most of such a request's time and memory
(docs/benchmarks/code-decisions.md). Here the first member's response is built by the element path as always;
the href and the text of every *slot* property in it are replaced by markers and the
multistatus is serialized once; each member's bytes are the parts between the markers
joined with that member's values. Which properties may be copied this way is the
registry's answer (properties.varies_per_member): a property that may differ between
members is either a slot or sends the request down the element path. The bytes are the
same as the element path's (tests/test_fast_path_equivalence.py compares both).

The values need no escaping: hrefs are percent-encoded (an href a client sent is escaped
here), ETags are '"<revision>-<tag>"', and calendar data arrives escaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from urllib.parse import quote

from lxml import etree

from providers.properties import DAV, OBJECT, varies_per_member
from providers.resources import HREF_SAFE, CalendarCollection

HREF, GETETAG = f"{{{DAV}}}href", f"{{{DAV}}}getetag"
# The body leaves in chunks of about this many bytes (Content-Length is their sum): never
# a whole listing twice in memory, and few socket writes (cheroot copies what a write
# leaves of a chunk, so much larger chunks cost time).
CHUNK_BYTES = 64 * 1024
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MARK = "\ue000{}\ue000"
_START, _END, _HREF = _MARK.format("start"), _MARK.format("end"), _MARK.format("href")
# Names that quote() leaves as they are (HREF_SAFE plus letters and digits).
_PLAIN = re.compile(r"[A-Za-z0-9/@:+!*'(),$\-_|.~]*").fullmatch


def escape(text: str) -> str:
    """Text content as lxml serializes it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


# False sends every request down the element path: the equivalence test compares the
# bytes of both (tests/test_fast_path_equivalence.py).
ENABLED = True


def fits(names: Sequence[str], slots: Iterable[str]) -> bool:
    """Whether responses of `names` can be copied from one member's: every name is a slot
    (filled per member) or has the same value on every object (the registry says so)."""
    return (
        ENABLED
        and bool(names)
        and all(name in slots or not varies_per_member(name, OBJECT) for name in names)
    )


def member_hrefs(calendar: CalendarCollection) -> Callable[[str, str | None], str | None]:
    """The href function of every fast path: href(stored name, href the client sent or
    None) -> the text of the response's DAV:href (None if XML cannot hold the sent one)."""
    base = calendar.path.rstrip("/") + "/"
    prefix = calendar.href_for(base)
    shown = calendar.shown_name if calendar.opaque else None

    def href(stored: str, sent: str | None = None) -> str | None:
        if sent is not None:
            return None if NOT_XML.search(sent) else escape(sent)
        name = shown(stored) if shown else stored
        return prefix + name if _PLAIN(name) else prefix + quote(name, safe=HREF_SAFE)

    return href


class MultistatusTemplate:
    """A multistatus with one member response, cut at its href and slot values.

    A member's response is `head`, its href, then `gaps` with the slot values between
    them; `before` and `after` are the text around all member responses.
    """

    def __init__(
        self,
        ms: etree._Element,
        response: etree._Element,
        slots: Iterable[str],
        serialize: Callable[[etree._Element], bytes],
    ):
        """`response` (a child of `ms`, with a member's values) becomes the template; the
        text of every element of `slots` in its properties becomes a slot, in document
        order. `ms` is changed (markers): build it for this and drop it."""
        wanted = frozenset(slots)
        self.slots: list[str] = []
        response.find(HREF).text = _HREF
        for propstat in response.iterfind(f"{{{DAV}}}propstat"):
            for el in propstat.iterfind(f"{{{DAV}}}prop/*"):
                if el.tag in wanted and el.text:
                    el.text = _MARK.format(len(self.slots))
                    self.slots.append(el.tag)
        previous = response.getprevious()
        if previous is None:
            ms.text = _START
        else:
            previous.tail = _START
        response.tail = _END
        before, rest = serialize(ms).decode("utf-8").split(_START)
        text, after = rest.split(_END)
        head, tail = text.split(_HREF)
        gaps = []
        for i in range(len(self.slots)):
            gap, tail = tail.split(_MARK.format(i))
            gaps.append(gap)
        gaps.append(tail)
        self.before, self.head, self.after = before, head, after
        self.gaps: tuple[str, ...] = tuple(gaps)
        self._encoded_gaps = tuple(gap.encode() for gap in gaps)
        self.key = (head, self.gaps, tuple(self.slots))  # the same bytes: the same template

    def tail(self, values: Sequence[bytes]) -> bytes:
        """What follows the href in a member's response: the gaps with `values` in the slots."""
        gaps = self._encoded_gaps
        out = [gaps[0]]
        for value, gap in zip(values, gaps[1:], strict=True):
            out.append(value)
            out.append(gap)
        return b"".join(out)

    def listing(
        self, rows: Iterable[tuple[str, int]], href: Callable[[str], str], etag: Callable[[int], str]
    ) -> list[bytes]:
        """The body of members given as (stored name, revision), whose slots (if any) are
        all getetag."""
        if set(self.slots) - {GETETAG}:
            raise ValueError("a listing fills href and ETag only")
        head, gaps = self.head, self.gaps
        if not self.slots:
            parts = (f"{head}{href(name)}{gaps[0]}" for name, _ in rows)
        elif len(self.slots) == 1:
            first, rest = gaps
            parts = (f"{head}{href(name)}{first}{etag(revision)}{rest}" for name, revision in rows)
        else:  # getetag asked for more than once
            parts = (f"{head}{href(name)}{etag(revision).join(gaps)}" for name, revision in rows)
        return self._chunks(parts, lambda batch: "".join(batch).encode())

    def responses(self, members: Iterable[tuple[str, bytes]]) -> list[bytes]:
        """The body of members given as (href, tail()), as chunks."""
        head = self.head.encode()
        return self._chunks((b"".join((head, href.encode(), tail)) for href, tail in members), b"".join)

    def _chunks(self, responses: Iterator, join: Callable[[list], bytes]) -> list[bytes]:
        """The one chunk policy: `before`, the responses in chunks of about CHUNK_BYTES,
        and `after` as the last chunk (a caller may replace it)."""
        chunks, batch, size = [self.before.encode()], [], 0
        for response in responses:
            batch.append(response)
            size += len(response)
            if size >= CHUNK_BYTES:
                chunks.append(join(batch))
                batch, size = [], 0
        if batch:
            chunks.append(join(batch))
        chunks.append(self.after.encode())
        return chunks
