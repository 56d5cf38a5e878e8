"""PROPPATCH of the calendar's name, colour and order (stored per practitioner, 207 with a
status per property), and the collection methods a practice calendar refuses with a reason."""

from __future__ import annotations

import pytest
from lxml import etree

from providers.practice import api
from providers.practice.models import Practitioner
from providers.practice.store import current_change
from tests.two_way import ICAL, PASSWORD, calendar_path, event, new_practitioner, snapshot

D, APPLE = "DAV:", "http://apple.com/ns/ical/"


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("proppatch")


def body(set_props: dict[str, str] | None = None, remove: list[str] | None = None) -> bytes:
    root = etree.Element(f"{{{D}}}propertyupdate", nsmap={"D": D, "A": APPLE, "X": "urn:example"})
    if set_props:
        prop = etree.SubElement(etree.SubElement(root, f"{{{D}}}set"), f"{{{D}}}prop")
        for name, value in set_props.items():
            etree.SubElement(prop, name).text = value
    if remove:
        prop = etree.SubElement(etree.SubElement(root, f"{{{D}}}remove"), f"{{{D}}}prop")
        for name in remove:
            etree.SubElement(prop, name)
    return etree.tostring(root)


def proppatch(live, user, payload, path=None, as_user=None):
    who = as_user or user
    r = live.request(
        "PROPPATCH",
        path or calendar_path(user),
        payload,
        user=who.username,
        password=PASSWORD,
        headers={"Content-Type": "application/xml"},
    )
    assert r.status_code == 207, r.text
    statuses = {}
    for propstat in etree.fromstring(r.content).iter(f"{{{D}}}propstat"):
        status = propstat.findtext(f"{{{D}}}status").split()[1]
        for prop in propstat.find(f"{{{D}}}prop"):
            statuses[prop.tag] = int(status)
    return statuses


COLOR, ORDER, NAME = f"{{{APPLE}}}calendar-color", f"{{{APPLE}}}calendar-order", f"{{{D}}}displayname"


def propfind(live, user) -> dict[str, str | None]:
    r = live.request(
        "PROPFIND",
        calendar_path(user),
        body=(
            f'<D:propfind xmlns:D="DAV:" xmlns:A="{APPLE}"><D:prop><D:displayname/>'
            "<A:calendar-color/><A:calendar-order/></D:prop></D:propfind>"
        ),
        user=user.username,
        password=PASSWORD,
        headers={"Depth": "0"},
    )
    root = etree.fromstring(r.content)
    return {tag: root.findtext(f".//{tag}") for tag in (NAME, COLOR, ORDER)}


def test_name_colour_and_order_are_stored_per_practitioner(live, user):
    token = current_change(user.id)
    statuses = proppatch(live, user, body({NAME: "Meine Termine", COLOR: "#FF2968FF", ORDER: "3"}))
    assert statuses == {NAME: 200, COLOR: 200, ORDER: 200}
    fresh = Practitioner.get_by_id(user.id)
    assert (fresh.calendar_displayname, fresh.calendar_color, fresh.calendar_order) == (
        "Meine Termine",
        "#FF2968FF",
        3,
    )
    assert propfind(live, user) == {NAME: "Meine Termine", COLOR: "#FF2968FF", ORDER: "3"}
    assert current_change(user.id) > token  # clients re-read collection properties


def test_remove_returns_to_the_default(live, user):
    api.update_practitioner(user, calendar_color="#00FF00")
    assert proppatch(live, user, body(remove=[COLOR])) == {COLOR: 200}
    assert Practitioner.get_by_id(user.id).calendar_color is None


@pytest.mark.parametrize(
    "props,expected",
    [
        ({COLOR: "#123456", "{urn:example}other": "x"}, {COLOR: 424, "{urn:example}other": 403}),
        ({COLOR: "red"}, {COLOR: 409}),
        ({ORDER: "first"}, {ORDER: 409}),
        ({f"{{{D}}}getetag": '"1"'}, {f"{{{D}}}getetag": 403}),
    ],
)
def test_refused_properties_change_nothing(live, user, props, expected):
    before = snapshot(user)
    assert proppatch(live, user, body(props)) == expected
    assert snapshot(user) == before


def test_read_only_and_delegated_calendars(live, user):
    """Read-only: a flat 403 need-privileges; a writable delegate may not restyle the
    owner's calendar (stored per practitioner): 403 per property."""
    reader = new_practitioner("proppatch-ro", direction="server-to-device")
    before = snapshot(reader)
    r = live.request(
        "PROPPATCH", calendar_path(reader), body({COLOR: "#112233"}), user=reader.username, password=PASSWORD
    )
    assert r.status_code == 403 and b"need-privileges" in r.content  # read-only: flat 403
    assert snapshot(reader) == before
    colleague = api.create_practitioner(user.practice, f"{user.username} kollegin", PASSWORD)
    api.grant_access(user, colleague, can_write=True)
    shared = f"/{api.url_segment(colleague.username)}/shared-{api.url_segment(user.username)}/"
    before = snapshot(user)
    assert proppatch(live, user, body({COLOR: "#445566"}), path=shared, as_user=colleague) == {COLOR: 403}
    assert snapshot(user) == before


def test_object_and_home_properties_are_not_writable(live, user):
    live.request(
        "PUT", calendar_path(user) + "p.ics", event("p"), user=user.username, password=PASSWORD, headers=ICAL
    )
    before = snapshot(user)
    assert proppatch(live, user, body({NAME: "x"}), path=calendar_path(user) + "p.ics") == {NAME: 403}
    assert proppatch(live, user, body({NAME: "x"}), path=f"/{api.url_segment(user.username)}/") == {NAME: 403}
    assert snapshot(user) == before


@pytest.mark.parametrize(
    "method,status,condition",
    [
        ("MKCALENDAR", 403, b"resource-must-be-null"),
        ("MKCOL", 403, None),
        ("COPY", 403, None),
        ("MOVE", 403, None),
        ("LOCK", 405, None),
    ],
)
def test_collection_methods_are_refused_with_a_reason(live, user, method, status, condition):
    live.request(
        "PUT", calendar_path(user) + "m.ics", event("m"), user=user.username, password=PASSWORD, headers=ICAL
    )
    target = calendar_path(user) + ("m.ics" if method in ("COPY", "MOVE") else "new/")
    before = snapshot(user)
    r = live.request(
        method,
        target,
        user=user.username,
        password=PASSWORD,
        headers={"Destination": live.url(calendar_path(user) + "copy.ics")},
    )
    assert r.status_code == status
    assert b"message" in r.content  # a reason a human can read
    if condition:
        assert condition in r.content
    assert snapshot(user) == before
