"""REPORT registry: one module per report, keyed by the Clark name of its root element.

`supported-report-set` is derived from this registry, so a report is advertised exactly
when it is implemented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree


@dataclass(frozen=True)
class ReportResult:
    """A response that is not a plain 207 multistatus (free-busy's 200 text/calendar)."""

    status: int
    body: bytes | list[bytes]  # a list: chunks sent as they are (Content-Length is their sum)
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Report:
    name: str  # Clark name of the request's root element
    # handle(request_el, calendar, environ, calendar_data) -> multistatus element (sent as
    # 207) or a ReportResult; calendar_data is the <C:calendar-data> transform or None.
    handle: Callable
    # The resource kinds (providers.properties: CALENDAR, OBJECT, ...) it may be sent to:
    # REPORT elsewhere is 403 supported-report, and only these advertise it (RFC 3253 §3.1.5).
    targets: frozenset[str]


REGISTRY: dict[str, Report] = {}


def report(name: str, targets: set[str]):
    def register(fn: Callable) -> Callable:
        REGISTRY[name] = Report(name, fn, frozenset(targets))
        return fn

    return register


def names(kind: str) -> tuple[str, ...]:
    """The reports a resource of `kind` supports: its DAV:supported-report-set."""
    return tuple(name for name, entry in REGISTRY.items() if kind in entry.targets)


def for_resource(name: str, kind: str | None) -> Report | None:
    """The report `name` if a resource of `kind` supports it (None: 403 supported-report)."""
    entry = REGISTRY.get(name)
    return entry if entry is not None and kind in entry.targets else None


def load_all() -> None:
    """Import every report module so it registers itself."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def request_props(request_el: etree._Element) -> tuple[list[str], etree._Element | None]:
    """Requested property names and the <C:calendar-data> element, if any.

    <D:allprop/>, <D:propname/> or no <D:prop> at all get the object's allprop set: a
    response needs at least one propstat to be a valid DAV:response.
    """
    from providers.properties import CALDAV, DAV, OBJECT, names_for

    names: list[str] = []
    calendar_data = None
    prop = request_el.find(f"{{{DAV}}}prop")
    if prop is None:
        names = names_for(OBJECT, allprop=True) + [f"{{{DAV}}}getlastmodified"]
    else:
        for child in prop:
            if not isinstance(child.tag, str):
                continue
            names.append(child.tag)
            if child.tag == f"{{{CALDAV}}}calendar-data":
                calendar_data = child
    return names, calendar_data
