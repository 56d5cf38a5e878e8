"""Live DAV/CalDAV properties: one small definition per property, shared by all resources.

A resource declares which kinds it is (root, principal, calendar, object); each property
says which kinds it applies to, how to compute its value and whether that value may differ
between two members of one collection (`per_member`). PROPFIND, allprop and the REPORT
handlers all read properties through this registry, and the fast paths that serialize one
object's response as the template of every object's (davserver/multistatus.py) ask
`varies_per_member` which properties they may copy: a new per-object property is one
definition here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from providers.practice import served_data

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
APPLE = "http://apple.com/ns/ical/"
PUSH = "https://bitfire.at/webdav-push"  # WebDAV-Push (providers/push_properties.py)

NSMAP = {"D": DAV, "C": CALDAV, "CS": CS, "A": APPLE, "P": PUSH}

ROOT, PRINCIPAL, CALENDAR, OBJECT = "root", "principal", "calendar", "object"
ALL = frozenset({ROOT, PRINCIPAL, CALENDAR, OBJECT})

MAX_RESOURCE_SIZE = 1_000_000


def clark(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def element(tag: str, *children: etree._Element, text: str | None = None) -> etree._Element:
    """A fresh element each call: lxml moves an element that is appended twice."""
    ns = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
    prefix = next((p for p, uri in NSMAP.items() if uri == ns), None)
    el = etree.Element(tag, nsmap={prefix: ns} if prefix and ns != DAV else None)
    if text is not None:
        el.text = served_data.xml_text(text)  # stored texts may hold what XML cannot
    for child in children:
        el.append(child)
    return el


def hrefs(tag: str, *urls: str) -> etree._Element:
    return element(tag, *(element(clark(DAV, "href"), text=u) for u in urls))


@dataclass(frozen=True)
class LiveProperty:
    name: str
    kinds: frozenset[str]
    value: Callable[[object], etree._Element | str | None]
    # Whether two members of one collection (the objects of a calendar, the calendars of a
    # home) may have different values. False promises the same value on every member: the
    # fast paths then copy the first member's serialization into every member's response.
    per_member: bool
    # allprop only returns properties that are cheap and defined by RFC 4918 as such.
    in_allprop: bool = False


REGISTRY: dict[str, LiveProperty] = {}

# Object properties answered outside the registry, all different between members: what
# wsgidav computes from the resource (resources.CalendarObject) and the calendar data of
# a REPORT (davserver/reports/responses.py).
WSGIDAV_OBJECT_NAMES = (clark(DAV, "getcontentlength"), clark(DAV, "getlastmodified"))
CALENDAR_DATA = clark(CALDAV, "calendar-data")


def live(name: str, kinds: frozenset[str] | set[str], *, per_member: bool, in_allprop: bool = False):
    """Register `fn(resource)` as the value of property `name` on resources of `kinds`.

    `per_member` is required: say True unless the value is the same on every member of a
    collection (a wrong False serves one member's value for all of them).
    """

    def register(fn: Callable[[object], etree._Element | str | None]):
        REGISTRY[name] = LiveProperty(name, frozenset(kinds), fn, per_member, in_allprop)
        return fn

    return register


def names_for(kind: str, allprop: bool) -> list[str]:
    return [p.name for p in REGISTRY.values() if kind in p.kinds and (p.in_allprop or not allprop)]


def varies_per_member(name: str, kind: str = OBJECT) -> bool:
    """Whether property `name` may have a different value on two resources of `kind` in one
    collection. Only what the registry knows to be constant is not: a property of `kind`
    declared so, or a registered property `kind` does not have (a 404 on each). What is
    answered outside the registry, and any name the registry does not know, may vary."""
    prop = REGISTRY.get(name)
    if prop is None or (kind == OBJECT and (name in WSGIDAV_OBJECT_NAMES or name == CALENDAR_DATA)):
        return True
    return prop.per_member if kind in prop.kinds else False


# ---------------------------------------------------------------- principal discovery


# In allprop too: python-requests (the caldav library, vdirsyncer) drops the body when it
# follows the 301 of /.well-known/caldav, so discovery arrives as an allprop PROPFIND.
@live(clark(DAV, "current-user-principal"), ALL, per_member=False, in_allprop=True)
def _current_user_principal(res):
    url = res.viewer_principal_url()
    if url is None:
        return element(clark(DAV, "current-user-principal"), element(clark(DAV, "unauthenticated")))
    return hrefs(clark(DAV, "current-user-principal"), url)


@live(clark(DAV, "principal-collection-set"), ALL, per_member=False)
def _principal_collection_set(res):
    return hrefs(clark(DAV, "principal-collection-set"), res.href_for("/"))


@live(clark(DAV, "resourcetype"), ALL, per_member=False, in_allprop=True)
def _resourcetype(res):
    types = {
        ROOT: [clark(DAV, "collection")],
        PRINCIPAL: [clark(DAV, "collection"), clark(DAV, "principal")],
        CALENDAR: [clark(DAV, "collection"), clark(CALDAV, "calendar")],
        OBJECT: [],
    }[res.kind]
    return element(clark(DAV, "resourcetype"), *(element(t) for t in types))


@live(clark(DAV, "principal-URL"), {PRINCIPAL}, per_member=True)
def _principal_url(res):
    return hrefs(clark(DAV, "principal-URL"), res.principal_url())


@live(clark(CALDAV, "calendar-home-set"), {PRINCIPAL}, per_member=True)
def _calendar_home_set(res):
    return hrefs(clark(CALDAV, "calendar-home-set"), res.principal_url())


@live(clark(CALDAV, "calendar-user-address-set"), {PRINCIPAL}, per_member=True)
def _calendar_user_address_set(res):
    # Outlook takes the first lower-case mailto: as the account e-mail; never a placeholder.
    urls = [f"mailto:{res.owner.email}"] if res.owner.email else []
    return hrefs(clark(CALDAV, "calendar-user-address-set"), *urls, res.principal_url())


@live(clark(CALDAV, "calendar-user-type"), {PRINCIPAL}, per_member=False)
def _calendar_user_type(res):
    return "INDIVIDUAL"


@live(clark(DAV, "owner"), {PRINCIPAL, CALENDAR, OBJECT}, per_member=True)
def _owner(res):
    return hrefs(clark(DAV, "owner"), res.principal_url())


@live(clark(DAV, "group-membership"), {PRINCIPAL}, per_member=False)
def _group_membership(res):
    return element(clark(DAV, "group-membership"))


# ---------------------------------------------------------------- privileges and reports


def _privilege_set(tag: str, names: list[str]) -> etree._Element:
    return element(tag, *(element(clark(DAV, "privilege"), element(clark(DAV, n))) for n in names))


READ_PRIVILEGES = ["read", "read-current-user-privilege-set"]
WRITE_PRIVILEGES = ["write", "write-content", "write-properties", "bind", "unbind"]
# A read-write delegate changes the owner's appointments, not the owner's calendar name,
# colour or order.
DELEGATE_WRITE_PRIVILEGES = ["write", "write-content", "bind", "unbind"]


@live(clark(DAV, "current-user-privilege-set"), ALL, per_member=True)
def _current_user_privilege_set(res):
    names = list(READ_PRIVILEGES)
    if res.viewer_can_write():
        names += WRITE_PRIVILEGES if res.viewer_owns() else DELEGATE_WRITE_PRIVILEGES
    return _privilege_set(clark(DAV, "current-user-privilege-set"), names)


@live(clark(DAV, "supported-report-set"), {PRINCIPAL, CALENDAR, OBJECT}, per_member=False)
def _supported_report_set(res):
    reports = [
        element(clark(DAV, "supported-report"), element(clark(DAV, "report"), element(name)))
        for name in res.supported_reports()
    ]
    return element(clark(DAV, "supported-report-set"), *reports)


# ---------------------------------------------------------------- calendar collection


@live(clark(DAV, "displayname"), {ROOT, PRINCIPAL, CALENDAR}, per_member=True, in_allprop=True)
def _displayname(res):
    return res.get_display_name()


@live(clark(CALDAV, "supported-calendar-component-set"), {CALENDAR}, per_member=False)
def _supported_components(res):
    comp = element(clark(CALDAV, "comp"))
    comp.set("name", "VEVENT")
    return element(clark(CALDAV, "supported-calendar-component-set"), comp)


@live(clark(CALDAV, "supported-calendar-data"), {CALENDAR}, per_member=False)
def _supported_calendar_data(res):
    data = element(clark(CALDAV, "calendar-data"))
    data.set("content-type", "text/calendar")
    data.set("version", "2.0")
    return element(clark(CALDAV, "supported-calendar-data"), data)


@live(clark(CALDAV, "max-resource-size"), {CALENDAR}, per_member=False)
def _max_resource_size(res):
    return str(res.max_resource_size())


@live(clark(CALDAV, "calendar-description"), {CALENDAR}, per_member=True)
def _calendar_description(res):
    return res.description()


@live(clark(CALDAV, "calendar-timezone"), {CALENDAR}, per_member=False)
def _calendar_timezone(res):
    return res.timezone_ical()


@live(clark(CS, "getctag"), {CALENDAR}, per_member=True)
def _getctag(res):
    return res.sync_token()


@live(clark(DAV, "sync-token"), {CALENDAR}, per_member=True)
def _sync_token(res):
    return res.sync_token()


@live(clark(APPLE, "calendar-color"), {CALENDAR}, per_member=True)
def _calendar_color(res):
    return res.color()


@live(clark(APPLE, "calendar-order"), {CALENDAR}, per_member=True)
def _calendar_order(res):
    return res.order()


# ---------------------------------------------------------------- calendar object


@live(clark(DAV, "getetag"), {OBJECT}, per_member=True, in_allprop=True)
def _getetag(res):
    return res.quoted_etag()  # byte-identical to the ETag header


@live(clark(DAV, "getcontenttype"), {OBJECT}, per_member=False, in_allprop=True)
def _getcontenttype(res):
    return res.get_content_type()
