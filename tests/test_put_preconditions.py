"""PUT preconditions (RFC 4791 §5.3.2.1), HTTP preconditions and access, on SQLite and
PostgreSQL: every rejected request answers the right status and condition and changes
nothing in the database."""

from __future__ import annotations

import pytest
from lxml import etree

from providers.practice import api, store
from tests.two_way import (
    ICAL,
    PASSWORD,
    calendar,
    calendar_path,
    event,
    new_practitioner,
    settings_of,
    snapshot,
    vevent,
)

C = "{urn:ietf:params:xml:ns:caldav}"
D = "{DAV:}"


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("precond")


def put(live, user, name, body, headers=None):
    return live.request(
        "PUT",
        calendar_path(user) + name,
        body,
        user=user.username,
        password=PASSWORD,
        headers={**ICAL, **(headers or {})},
    )


def condition(response) -> etree._Element:
    root = etree.fromstring(response.content)
    assert root.tag == D + "error"
    return root[0]


VTODO = "BEGIN:VTODO\r\nUID:todo-1\r\nDTSTAMP:20260301T000000Z\r\nSUMMARY:Aufgabe\r\nEND:VTODO\r\n"
INVALID = {
    "garbage": ("not iCalendar at all", "valid-calendar-data"),
    "two calendars": (event("twice-1") + event("twice-2"), "valid-calendar-data"),
    "unterminated": ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n", "valid-calendar-data"),
    "broken DTSTART": (event("bad-start", start="2026xx10T100000"), "valid-calendar-data"),
    "broken RRULE": (event("bad-rule", extra="RRULE:FREQ=SOMETIMES"), "valid-calendar-data"),
    "no DTSTART": (
        calendar("BEGIN:VEVENT\r\nUID:nostart\r\nSUMMARY:x\r\nEND:VEVENT\r\n"),
        "valid-calendar-data",
    ),
    "end before start": (event("backwards", end="20260310T090000"), "valid-calendar-data"),
    "two UIDs": (
        calendar(vevent("uid-a"), vevent("uid-b", start="20260311T100000", end="20260311T110000")),
        "valid-calendar-object-resource",
    ),
    "METHOD": (calendar(vevent("with-method"), head="METHOD:REQUEST"), "valid-calendar-object-resource"),
    "mixed components": (calendar(vevent("mixed"), VTODO), "valid-calendar-object-resource"),
    "two masters": (
        calendar(vevent("dup"), vevent("dup", start="20260311T100000", end="20260311T110000")),
        "valid-calendar-object-resource",
    ),
    "no UID": (
        calendar("BEGIN:VEVENT\r\nDTSTART:20260310T100000\r\nEND:VEVENT\r\n"),
        "valid-calendar-object-resource",
    ),
    "no component": (calendar(), "valid-calendar-object-resource"),
    "only overrides": (
        event("orphan", extra="RECURRENCE-ID;TZID=Europe/Vienna:20260310T100000"),
        "valid-calendar-object-resource",
    ),
    "VTODO": (calendar(VTODO), "supported-calendar-component"),
    "minutely rule": (event("minutely", extra="RRULE:FREQ=MINUTELY;COUNT=5"), "valid-calendar-data"),
    "endless count": (event("count", extra="RRULE:FREQ=DAILY;COUNT=2000000"), "valid-calendar-data"),
    "until year 9999": (
        event("until", extra="RRULE:FREQ=DAILY;UNTIL=99991231T000000Z"),
        "valid-calendar-data",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_object_is_refused_and_changes_nothing(live, user, case):
    body, expected = INVALID[case]
    before = snapshot(user)
    response = put(live, user, f"{case.replace(' ', '-')}.ics", body, {"If-None-Match": "*"})
    assert response.status_code == 403, response.text
    assert condition(response).tag == C + expected
    assert snapshot(user) == before


def test_uid_conflict_names_the_existing_resource(live, user):
    assert put(live, user, "first.ics", event("shared-uid")).status_code == 201
    before = snapshot(user)
    response = put(live, user, "second.ics", event("shared-uid"), {"If-None-Match": "*"})
    assert response.status_code == 403
    cond = condition(response)
    assert cond.tag == C + "no-uid-conflict"
    assert cond.findtext(D + "href") == calendar_path(user) + "first.ics"
    assert snapshot(user) == before


def test_max_resource_size(live, user):
    settings = settings_of(live)
    limit = settings.max_resource_size
    settings.max_resource_size = 2000
    try:
        before = snapshot(user)
        body = event("too-big", extra="DESCRIPTION:" + "x" * 2500)
        response = put(live, user, "too-big.ics", body)
        assert response.status_code == 403
        assert condition(response).tag == C + "max-resource-size"
        assert snapshot(user) == before
    finally:
        settings.max_resource_size = limit


@pytest.mark.parametrize(
    "content_type,status",
    [
        ("application/json", 403),  # RFC 4791: CALDAV:supported-calendar-data
        ("text/plain", 403),
        (None, 201),
        ("text/calendar", 201),
        ("text/calendar; charset=utf-8", 201),
        ("TEXT/CALENDAR; component=vevent", 201),
    ],
)
def test_content_type(live, user, content_type, status):
    uid = f"ct-{status}-{(content_type or 'none').replace('/', '-').replace(' ', '')}"
    headers = {"Content-Type": content_type} if content_type else {}
    before = snapshot(user)
    response = live.request(
        "PUT",
        calendar_path(user) + uid + ".ics",
        event(uid),
        user=user.username,
        password=PASSWORD,
        headers=headers,
    )
    assert response.status_code == status, response.text
    if status != 201:
        assert snapshot(user) == before


def test_if_none_match_star_on_existing_resource(live, user):
    assert put(live, user, "inm.ics", event("inm")).status_code == 201
    before = snapshot(user)
    response = put(live, user, "inm.ics", event("inm", summary="Zweiter"), {"If-None-Match": "*"})
    assert response.status_code == 412
    assert snapshot(user) == before


def test_a_new_object_is_stored_without_the_lookup(live, user, monkeypatch):
    """If-None-Match: * (every device's create) inserts at once; the unique indexes stand in
    for the lookup. A refused insert leaves the change log as it was for sync."""
    looked_up = []
    original = store.rows_at_name_or_uid
    monkeypatch.setattr(
        store, "rows_at_name_or_uid", lambda *args: looked_up.append(args[1]) or original(*args)
    )
    assert put(live, user, "blind.ics", event("blind"), {"If-None-Match": "*"}).status_code == 201
    assert looked_up == []
    token = store.current_change(user.id)
    assert put(live, user, "blind.ics", event("blind"), {"If-None-Match": "*"}).status_code == 412
    assert (
        put(live, user, "blind-2.ics", event("blind"), {"If-None-Match": "*"}).status_code == 403
    )  # its UID is taken
    assert looked_up == ["blind.ics", "blind-2.ics"]  # refused by an index: the full path answered
    assert store.changes_since(user.id, token) == ([], False)
    assert put(live, user, "blind-3.ics", event("blind-3"), {"If-None-Match": "*"}).status_code == 201
    assert [name for name, _ in store.changes_since(user.id, token)[0]] == ["blind-3.ics"]


@pytest.mark.parametrize("if_match", ['"1-cn"', "*", '"nonsense"'])
def test_if_match_on_missing_resource(live, user, if_match):
    before = snapshot(user)
    response = put(live, user, "missing.ics", event("missing"), {"If-Match": if_match})
    assert response.status_code == 412
    assert snapshot(user) == before


def test_stale_if_match(live, user):
    path = calendar_path(user) + "stale.ics"
    assert put(live, user, "stale.ics", event("stale")).status_code == 201
    old = live.request("GET", path, user=user.username, password=PASSWORD).headers["ETag"]
    assert put(live, user, "stale.ics", event("stale", summary="Neu"), {"If-Match": old}).status_code == 204
    before = snapshot(user)
    response = put(live, user, "stale.ics", event("stale", summary="Alt"), {"If-Match": old})
    assert response.status_code == 412
    assert snapshot(user) == before
    current = live.request("GET", path, user=user.username, password=PASSWORD).headers["ETag"]
    assert (
        put(live, user, "stale.ics", event("stale", summary="Alt"), {"If-Match": current}).status_code == 204
    )


def test_read_only_calendar_needs_privileges(live):
    reader = new_practitioner("readonly", direction="server-to-device")
    before = snapshot(reader)
    response = put(live, reader, "x.ics", event("ro"))
    assert response.status_code == 403
    assert condition(response).tag == D + "need-privileges"
    assert snapshot(reader) == before


def test_delegated_read_only_calendar_needs_privileges(live, user):
    colleague = api.create_practitioner(user.practice, f"{user.username} kollege", PASSWORD)
    api.grant_access(user, colleague, can_write=False)
    path = f"/{api.url_segment(colleague.username)}/shared-{api.url_segment(user.username)}/d.ics"
    before = snapshot(user)
    response = live.request(
        "PUT", path, event("delegated"), user=colleague.username, password=PASSWORD, headers=ICAL
    )
    assert response.status_code == 403
    assert condition(response).tag == D + "need-privileges"
    assert snapshot(user) == before
    api.grant_access(user, colleague, can_write=True)
    response = live.request(
        "PUT", path, event("delegated"), user=colleague.username, password=PASSWORD, headers=ICAL
    )
    assert response.status_code == 201


def test_foreign_calendar_is_not_found(live, user):
    other = new_practitioner("foreign")
    before = snapshot(other)
    response = live.request(
        "PUT",
        calendar_path(other) + "f.ics",
        event("foreign"),
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    assert response.status_code == 404
    assert snapshot(other) == before


@pytest.mark.parametrize(
    "where,status",
    [
        ("home member", 405),
        ("calendar itself", 405),
        ("deeper", 409),
        ("root member", 405),
    ],
)
def test_put_outside_a_calendar(live, user, where, status):
    home = f"/{api.url_segment(user.username)}/"
    path = {
        "home member": home + "x.ics",
        "calendar itself": calendar_path(user),
        "deeper": calendar_path(user) + "sub/x.ics",
        "root member": "/x.ics",
    }[where]
    before = snapshot(user)
    response = live.request(
        "PUT", path, event("outside"), user=user.username, password=PASSWORD, headers=ICAL
    )
    assert response.status_code == status
    assert snapshot(user) == before
