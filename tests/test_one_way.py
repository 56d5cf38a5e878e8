"""One-way sync (`praxis-caldav settings NAME --direction server-to-device`): the practice
pushes appointments to the device, the device changes nothing. The calendar advertises read
privileges only, so every client shows it read-only, and every write is 403 need-privileges.

Real server on SQLite and PostgreSQL (`live`). frieda einweg is switched with the CLI;
gustav vertretung holds a read-write grant on her calendar; anna maier (demo, two-way) is
the control that the client rules below do see a writable calendar.
"""

from __future__ import annotations

import datetime as dt

import caldav
import pytest
from lxml import etree

from providers.practice import api
from providers.practice.api import AppointmentFields
from providers.practice.models import Appointment
from tests.conftest import DEMO_PASSWORD, DEMO_USER
from tests.test_access_matrix import digest
from tests.test_delegation import cli, ctag, error_condition, privileges, propfind, sync

OWNER, DELEGATE = "frieda einweg", "gustav vertretung"
CAL = "/frieda_einweg/calendar/"
AS_DELEGATE = "/gustav_vertretung/shared-frieda_einweg/"
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}
NS = {"D": "DAV:"}


# How clients decide that a calendar is writable (/work/shared/design/clients.md; DAVx5:
# dav4jvm's CurrentUserPrivilegeSet, where write and all imply write-content).
def thunderbird_writable(privs: set[str]) -> bool:
    return bool(privs & {"write", "write-content", "write-properties", "all"})


def outlook_writable(privs: set[str]) -> bool:
    return bool(privs & {"write", "write-content"})


def davx5_writable(privs: set[str]) -> bool:
    return bool(privs & {"write", "write-content", "all"})


CLIENT_RULES = [thunderbird_writable, outlook_writable, davx5_writable]


def event(uid: str, summary: str = "Vom Gerät") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260312T090000Z\r\n"
        f"DTEND:20260312T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def frieda_event() -> Appointment:
    return (
        Appointment.select()
        .where(Appointment.practitioner == api.find_practitioner(OWNER).id)
        .order_by(Appointment.id)
        .first()
    )


@pytest.fixture(scope="module")
def one_way(live):
    practice = api.find_practitioner(DEMO_USER).practice
    frieda = api.create_practitioner(practice, OWNER, DEMO_PASSWORD)
    api.create_practitioner(practice, DELEGATE, DEMO_PASSWORD)
    for day in (2, 3):
        api.create_appointment(
            frieda,
            AppointmentFields(
                dt.datetime(2026, 3, day, 9), dt.datetime(2026, 3, day, 10), subject=f"Termin {day}"
            ),
        )
    assert cli(live.db_url, "grant", OWNER, "--to", DELEGATE, "--read-write").returncode == 0
    before = ctag(live, CAL, OWNER)
    result = cli(live.db_url, "settings", OWNER, "--direction", "server-to-device")
    assert result.returncode == 0, result.stderr
    assert "direction=server-to-device" in result.stdout
    # Clients re-read the collection's properties (privileges) when the ctag moves.
    assert ctag(live, CAL, OWNER) != before
    return live


def test_calendar_and_events_advertise_read_only(one_way):
    live = one_way
    name = frieda_event().resource_name
    listing = propfind(live, CAL, OWNER, "1")
    assert CAL + name in listing
    for href, prop in listing.items():
        privs = privileges(prop)
        assert privs == {"read", "read-current-user-privilege-set"}, (href, privs)
        assert not any(rule(privs) for rule in CLIENT_RULES), href


def test_the_client_rules_do_see_a_two_way_calendar_as_writable(one_way):
    privs = privileges(propfind(one_way, "/anna_maier/calendar/", DEMO_USER)["/anna_maier/calendar/"])
    assert all(rule(privs) for rule in CLIENT_RULES)


def test_every_write_is_403_need_privileges_and_changes_nothing(one_way):
    live = one_way
    appt = frieda_event()
    name = appt.resource_name
    current = live.request("GET", CAL + name, user=OWNER)
    assert current.status_code == 200
    etag = current.headers["ETag"]
    proppatch = (
        '<D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set>'
        "<D:prop><D:displayname>Meins</D:displayname><A:calendar-color>#FF0000"
        "</A:calendar-color></D:prop></D:set></D:propertyupdate>"
    )
    attempts = [
        ("PUT", CAL + "device-new.ics", event("device-new@x"), {**ICAL, "If-None-Match": "*"}),
        ("PUT", CAL + name, current.text.replace("SUMMARY:", "SUMMARY:Verlegt "), {**ICAL, "If-Match": etag}),
        ("PUT", CAL + name, event(appt.uid), ICAL),
        ("DELETE", CAL + name, None, {"If-Match": etag}),
        ("DELETE", CAL + name, None, {}),
        ("PROPPATCH", CAL, proppatch, {}),
        ("PROPPATCH", CAL + name, proppatch, {}),
    ]
    before, token = digest(), ctag(live, CAL, OWNER)
    for method, path, body, headers in attempts:
        resp = live.request(method, path, body, user=OWNER, headers=headers)
        assert resp.status_code == 403, (method, path, resp.status_code, resp.text)
        assert error_condition(resp) == "need-privileges", (method, path, resp.text)
    assert digest() == before
    assert ctag(live, CAL, OWNER) == token
    assert live.request("GET", CAL + name, user=OWNER).headers["ETag"] == etag


def test_caldav_library_reads_but_cannot_save(one_way):
    live = one_way
    client = caldav.DAVClient(url=live.base_url, username=OWNER, password=DEMO_PASSWORD)
    [calendar] = client.principal().calendars()
    before = digest()
    with pytest.raises(caldav.lib.error.AuthorizationError):
        calendar.save_event(event("lib-one-way@x"))
    assert digest() == before
    assert len(calendar.events()) == 2  # reading still works
    client.close()


def test_practice_changes_still_reach_the_device(one_way):
    live = one_way
    first = sync(live, CAL, OWNER)
    token = etree.fromstring(first.content).findtext("D:sync-token", None, NS)
    appt = frieda_event()
    api.update_appointment(
        appt,
        AppointmentFields(
            dt.datetime(2026, 3, 2, 11), dt.datetime(2026, 3, 2, 12), subject="Verlegt durch die Praxis"
        ),
    )
    changed = sync(live, CAL, OWNER, token)
    assert changed.status_code == 207
    hrefs = [
        r.findtext("D:href", "", NS) for r in etree.fromstring(changed.content).findall("D:response", NS)
    ]
    assert hrefs == [CAL + appt.resource_name]
    assert "Verlegt durch die Praxis" in live.request("GET", hrefs[0], user=OWNER).text


def test_a_read_write_delegate_of_a_one_way_calendar_is_read_only_too(one_way):
    live = one_way
    privs = privileges(propfind(live, AS_DELEGATE, DELEGATE)[AS_DELEGATE])
    assert not any(rule(privs) for rule in CLIENT_RULES), privs
    before = digest()
    name = frieda_event().resource_name
    for method, path, body in (
        ("PUT", AS_DELEGATE + "x.ics", event("delegate@x")),
        ("DELETE", AS_DELEGATE + name, None),
    ):
        resp = live.request(method, path, body, user=DELEGATE, headers=ICAL if body else {})
        assert resp.status_code == 403 and error_condition(resp) == "need-privileges"
    assert digest() == before


def test_switching_back_to_two_way_makes_it_writable_again(one_way):
    live = one_way
    result = cli(live.db_url, "settings", OWNER, "--direction", "two-way")
    assert result.returncode == 0, result.stderr
    try:
        privs = privileges(propfind(live, CAL, OWNER)[CAL])
        assert all(rule(privs) for rule in CLIENT_RULES), privs
        resp = live.request("PUT", CAL + "back.ics", event("back@x"), user=OWNER, headers=ICAL)
        assert resp.status_code == 201
        assert all(
            rule(privileges(propfind(live, AS_DELEGATE, DELEGATE)[AS_DELEGATE]))
            for rule in (outlook_writable, davx5_writable, thunderbird_writable)
        )
    finally:
        assert cli(live.db_url, "settings", OWNER, "--direction", "server-to-device").returncode == 0
