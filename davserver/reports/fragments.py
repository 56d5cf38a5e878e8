"""Multistatus text straight from cached fragments: no element or resource object per member.

A calendar-query or multiget asking for getetag, getcontenttype and calendar-data (what
every client asks for) is, per object, the same response with three values put in: href,
ETag and the escaped calendar data. The first object's response is the template
(davserver/multistatus.py) with the ETag and the calendar data as its slots; any other
property of the request must be the same on every object (the registry says which are).
The escaped calendar-data of an object is kept in the render cache as UTF-8 bytes under
(row, revision, render policy): a revision never changes content, and the policy decides
the content, so the key is exact for every viewer (a delegate with the stricter policy
has a key of its own). Escaping and encoding the calendar data was most of a large week
query (docs/benchmarks/code-decisions.md).

The bytes are the same as serialize() of the element tree (tests compare both paths).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from davserver.http import multistatus, serialize
from davserver.multistatus import NOT_XML, MultistatusTemplate, escape, fits, member_hrefs
from davserver.reports.responses import CALENDAR_DATA, GETETAG, add_object_response
from providers.render_cache import ResponseKey
from providers.resources import CalendarCollection

SLOTS = (GETETAG, CALENDAR_DATA)


class Missing(Exception):
    """An object's rendering is in no cache and its row was not loaded."""


class _Refused(Exception):
    """A value XML cannot hold: the element path answers (and refuses it as it does)."""


class Member(NamedTuple):
    """One object of an answer."""

    appt_id: int
    name: str  # as stored
    revision: int
    row: Any = None  # the row (a providers.practice.models.Appointment) if it was loaded
    href: str | None = None  # the one the client sent (multiget), else the canonical one


def applies(names: list[str]) -> bool:
    """Whether an answer of `names` is made of href, ETag, calendar data and properties that
    are the same on every object (each asked for once)."""
    return fits(names, SLOTS) and len(set(names)) == len(names)


def xml_data(
    calendar: CalendarCollection, member: Member, calendar_data: Callable[[bytes], bytes] | None
) -> bytes | None:
    """The escaped calendar-data text of one object as UTF-8; None if lxml would refuse it.

    Raises Missing when neither the rendering nor the row is at hand.
    """
    data = (
        calendar.settings.render_cache.get(calendar.render_key(member.appt_id, member.revision))
        if member.row is None
        else calendar.render(member.row)
    )
    if data is None:
        raise Missing(member.name)
    text = (calendar_data(data) if calendar_data else data).decode("utf-8")
    if NOT_XML.search(text):
        return None
    return escape(text).encode("utf-8")


# Templates seen so far, numbered: the number stands for the template in cache keys.
# Numbers are never reused (a forgotten template's entries are simply never hit again).
_TEMPLATES: dict[tuple, int] = {}
_TEMPLATE_NUMBERS = itertools.count()
_TEMPLATES_LOCK = threading.Lock()
_MAX_TEMPLATES = 1_000


def _template(
    calendar: CalendarCollection, first: Member, names: list[str]
) -> tuple[MultistatusTemplate, int]:
    """The template of an answer whose first object is `first`, and its number."""
    ms = multistatus()
    obj = calendar.object_at(first.name, first.revision)
    add_object_response(ms, obj, names, data=b"-")  # the calendar data is a slot
    template = MultistatusTemplate(ms, ms[0], SLOTS, serialize)
    with _TEMPLATES_LOCK:
        number = _TEMPLATES.get(template.key)
        if number is None:
            if len(_TEMPLATES) >= _MAX_TEMPLATES:
                _TEMPLATES.clear()
            number = _TEMPLATES[template.key] = next(_TEMPLATE_NUMBERS)
    return template, number


def _tail(
    calendar: CalendarCollection,
    template: MultistatusTemplate,
    member: Member,
    calendar_data: Callable[[bytes], bytes] | None,
) -> bytes:
    """What follows the href in an object's response: ETag, calendar data and the markup."""
    values = []
    for tag in template.slots:
        if tag == GETETAG:
            values.append(calendar.etag(member.revision).encode())
        else:
            data = xml_data(calendar, member, calendar_data)
            if data is None:
                raise _Refused
            values.append(data)
    return template.tail(values)


def multistatus_chunks(
    calendar: CalendarCollection,
    members: Sequence[Member],
    names: list[str],
    calendar_data: Callable[[bytes], bytes] | None = None,
    load: Callable[[list[str]], dict[str, Any]] | None = None,
) -> list[bytes] | None:
    """The body as bytes chunks, or None where this path does not apply (then the element
    path answers). Raises Missing (see xml_data).

    Everything after an object's href (its ETag, escaped calendar data and the markup
    between) is kept in the render cache under (row, revision, policy, template) when the
    whole object is asked for: a repeated answer is a lookup and three parts per object.
    `load(names) -> {name: row}` reads the rows of members that have neither (one query).
    """
    if not members or not applies(names):
        return None
    template, number = _template(calendar, members[0], names)
    cache, policy = calendar.settings.render_cache, calendar.policy
    keys = (
        [ResponseKey(m.appt_id, m.revision, policy, number) for m in members]
        if calendar_data is None
        else None
    )
    tails = cache.get_many(keys) if keys else [None] * len(members)
    if load is not None:
        members = _with_rows(calendar, members, tails, load)
        if members is None:
            return None
    href = member_hrefs(calendar)

    def responses() -> Iterator[tuple[str, bytes]]:
        for member, tail in zip(members, tails, strict=True):
            if tail is None:
                tail = _tail(calendar, template, member, calendar_data)
                if keys:  # under the revision rendered (a loaded row may be newer)
                    cache.put(ResponseKey(member.appt_id, member.revision, policy, number), tail)
            text = href(member.name, member.href)
            if text is None:
                raise _Refused
            yield text, tail

    try:
        return template.responses(responses())
    except _Refused:
        return None


def _with_rows(
    calendar: CalendarCollection,
    members: Sequence[Member],
    tails: list[bytes | None],
    load: Callable[[list[str]], dict[str, Any]],
) -> list[Member] | None:
    """`members` with the row of each whose response text and rendering are both not
    cached; None if one of them is gone meanwhile."""
    out = list(members)
    pending = [i for i, tail in enumerate(tails) if tail is None and out[i].row is None]
    if not pending:
        return out
    render_key, cache = calendar.render_key, calendar.settings.render_cache
    rendered = cache.get_many([render_key(out[i].appt_id, out[i].revision) for i in pending])
    missing = [i for i, data in zip(pending, rendered, strict=True) if data is None]
    if missing:
        rows = load([out[i].name for i in missing])
        for i in missing:
            row = rows.get(out[i].name)
            if row is None:  # deleted meanwhile
                return None
            out[i] = Member(row.id, row.resource_name, row.revision, row, out[i].href)
    return out
