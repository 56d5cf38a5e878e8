"""Delegated calendars: `praxis-caldav grant/revoke`, what the delegate sees and may do, and
how the owner's devices and the viewer's pseudonymization follow. Real server, SQLite and
PostgreSQL (`live`); the grants are made with the CLI, as an admin would.

The demo practice "Praxis am Park" has anna maier (owner, "Dr. Anna Maier") and bernd huber;
this module adds clara lesen (read delegate) and david schreiben (read-write delegate).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import caldav
import pytest
from lxml import etree

from providers.practice import api, store
from providers.practice.models import Appointment, Grant
from tests import cli_forks
from tests.conftest import COLLEAGUE, DEMO_PASSWORD, DEMO_USER
from tests.test_access_matrix import digest

DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
NS = {"D": DAV, "C": CALDAV, "CS": "http://calendarserver.org/ns/"}
READER, WRITER = "clara lesen", "david schreiben"
OWN = "/anna_maier/calendar/"
AS_READER, AS_WRITER = "/clara_lesen/shared-anna_maier/", "/david_schreiben/shared-anna_maier/"
DISPLAY = "Praxis am Park – Dr. Anna Maier"
VIENNA = ZoneInfo("Europe/Vienna")
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}

_SCRIPT = Path(sys.executable).with_name("praxis-caldav")
REPO = Path(__file__).resolve().parents[1]


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    """The command in a fresh process (forked with the package imported, tests/cli_forks.py)."""
    command = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "davserver.cli"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    forked = cli_forks.run(command, ("--database", db_url, *args), stdin=None, cwd=REPO, env=env, timeout=60)
    if forked is not None:
        return forked
    return subprocess.run(
        [*command, "--database", db_url, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


PROPS = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
    'xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:displayname/><D:resourcetype/>'
    "<D:current-user-privilege-set/><D:sync-token/><CS:getctag/><D:getetag/></D:prop>"
    "</D:propfind>"
)


def propfind(live, path: str, user: str, depth: str = "0") -> dict[str, etree._Element]:
    """href -> its <D:prop> of found properties."""
    resp = live.request("PROPFIND", path, PROPS, user=user, headers={"Depth": depth})
    assert resp.status_code == 207, (path, user, resp.status_code)
    out = {}
    for r in etree.fromstring(resp.content).findall("D:response", NS):
        prop = etree.Element("prop")
        for ps in r.findall("D:propstat", NS):
            if "200" in ps.findtext("D:status", "", NS):
                for p in ps.find("D:prop", NS):
                    prop.append(p)
        out[r.findtext("D:href", "", NS)] = prop
    return out


def privileges(prop: etree._Element) -> set[str]:
    return {etree.QName(p[0]).localname for p in prop.findall("D:current-user-privilege-set/D:privilege", NS)}


def ctag(live, path: str, user: str) -> str:
    return propfind(live, path, user)[path].findtext("CS:getctag", None, NS)


def etags(live, path: str, user: str) -> dict[str, str]:
    return {
        h.rsplit("/", 1)[1]: p.findtext("D:getetag", None, NS)
        for h, p in propfind(live, path, user, "1").items()
        if h.endswith(".ics")
    }


def sync(live, path: str, user: str, token: str = ""):
    body = (
        '<D:sync-collection xmlns:D="DAV:"><D:sync-token>' + token + "</D:sync-token>"
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
    )
    return live.request("REPORT", path, body, user=user, headers={"Depth": "1"})


def error_condition(resp) -> str | None:
    root = etree.fromstring(resp.content)
    assert root.tag == f"{{{DAV}}}error", resp.text
    return next((etree.QName(c).localname for c in root if etree.QName(c).namespace in (DAV, CALDAV)), None)


def first_event(owner: str) -> Appointment:
    """The owner's single appointment of the demo (no series: simple to move)."""
    practitioner = api.find_practitioner(owner)
    return (
        Appointment.select()
        .where((Appointment.practitioner == practitioner.id) & (Appointment.rrule.is_null()))
        .order_by(Appointment.id)
        .first()
    )


@pytest.fixture(scope="module")
def team(live):
    anna = api.find_practitioner(DEMO_USER)
    for login in (READER, WRITER):
        api.create_practitioner(anna.practice, login, DEMO_PASSWORD)
    nord = api.get_or_create_practice("Praxis Nord", external_id="delegation-nord")
    api.create_practitioner(nord, "eva fremd", DEMO_PASSWORD)
    for login, level in ((READER, "--read"), (WRITER, "--read-write")):
        result = cli(live.db_url, "grant", DEMO_USER, "--to", login, level)
        assert result.returncode == 0, result.stderr
    return live


# ---------------------------------------------------------------- grant, home, privileges


def test_grant_puts_the_calendar_in_the_grantee_home_with_a_clear_name(team):
    live = team
    for user, path in ((READER, AS_READER), (WRITER, AS_WRITER)):
        home = f"/{api.url_segment(user)}/"
        listing = propfind(live, home, user, "1")
        assert set(listing) == {home, f"{home}calendar/", path}
        prop = listing[path]
        assert prop.findtext("D:displayname", None, NS) == DISPLAY
        assert prop.find("D:resourcetype/C:calendar", NS) is not None
    # Own calendars keep their own names; the owner's device does not see a delegation.
    assert set(propfind(live, "/anna_maier/", DEMO_USER, "1")) == {"/anna_maier/", OWN}


def test_privileges_read_and_read_write(team):
    live = team
    read = {"read", "read-current-user-privilege-set"}
    assert privileges(propfind(live, AS_READER, READER)[AS_READER]) == read
    assert privileges(propfind(live, AS_WRITER, WRITER)[AS_WRITER]) == read | {
        "write",
        "write-content",
        "bind",
        "unbind",
    }
    assert privileges(propfind(live, OWN, DEMO_USER)[OWN]) == read | {
        "write",
        "write-content",
        "write-properties",
        "bind",
        "unbind",
    }
    # Events inherit the calendar's privileges.
    name = first_event(DEMO_USER).resource_name
    assert privileges(propfind(live, AS_READER + name, READER)[AS_READER + name]) == read


def test_grant_across_practices_and_unknown_users_are_one_line_errors(team):
    for args in (
        ("grant", DEMO_USER, "--to", "eva fremd", "--read"),
        ("grant", DEMO_USER, "--to", "niemand", "--read"),
        ("revoke", DEMO_USER, "--to", COLLEAGUE),
    ):
        result = cli(team.db_url, *args)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (
        team.request(
            "PROPFIND", "/eva_fremd/shared-anna_maier/", user="eva fremd", headers={"Depth": "0"}
        ).status_code
        == 404
    )


def test_a_grant_row_across_practices_opens_nothing(team):
    """The practice database may be written around the data API: a grant row to another
    practice still lists and opens nothing (and the home listing does not fail)."""
    live = team
    anna, eva = api.find_practitioner(DEMO_USER), api.find_practitioner("eva fremd")
    grant = Grant.create(owner=anna, grantee=eva, can_write=True)
    try:
        home = "/eva_fremd/"
        assert set(propfind(live, home, "eva fremd", "1")) == {home, home + "calendar/"}
        name = first_event(DEMO_USER).resource_name
        for method, path in (
            ("PROPFIND", "/eva_fremd/shared-anna_maier/"),
            ("GET", "/eva_fremd/shared-anna_maier/" + name),
        ):
            resp = live.request(method, path, user="eva fremd", headers={"Depth": "0"})
            assert resp.status_code == 404, (method, resp.status_code)
    finally:
        grant.delete_instance()


# ---------------------------------------------------------------- the read delegate


def test_read_delegate_reads_everything_and_may_write_nothing(team):
    live = team
    owner_view = etags(live, OWN, DEMO_USER)
    assert set(etags(live, AS_READER, READER)) == set(owner_view) and owner_view
    name = first_event(DEMO_USER).resource_name
    body = live.request("GET", AS_READER + name, user=READER)
    assert body.status_code == 200
    changed = body.text.replace("SUMMARY:", "SUMMARY:Geändert ")
    before, token = digest(), ctag(live, OWN, DEMO_USER)
    attempts = [
        (
            "PUT",
            AS_READER + "new-by-reader.ics",
            changed.replace("UID:", "UID:reader-"),
            {**ICAL, "If-None-Match": "*"},
        ),
        ("PUT", AS_READER + name, changed, ICAL),
        ("DELETE", AS_READER + name, None, {}),
        (
            "PROPPATCH",
            AS_READER,
            '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname>'
            "</D:prop></D:set></D:propertyupdate>",
            {},
        ),
    ]
    for method, path, data, headers in attempts:
        resp = live.request(method, path, data, user=READER, headers=headers)
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert error_condition(resp) == "need-privileges", (method, resp.text)
    assert digest() == before
    assert ctag(live, OWN, DEMO_USER) == token


def test_read_delegate_with_the_caldav_library_is_refused(team):
    live = team
    client = caldav.DAVClient(url=live.base_url, username=READER, password=DEMO_PASSWORD)
    shared = next(c for c in client.principal().calendars() if c.get_display_name() == DISPLAY)
    before = digest()
    with pytest.raises(caldav.lib.error.AuthorizationError) as err:
        shared.save_event(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:reader-lib@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
            "DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nSUMMARY:Nein\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    assert "Forbidden" in str(err.value)
    assert digest() == before
    client.close()


# ---------------------------------------------------------------- the read-write delegate


def test_rw_delegate_moves_an_appointment_and_the_owner_device_syncs_it(team):
    live = team
    owner_client = caldav.DAVClient(url=live.base_url, username=DEMO_USER, password=DEMO_PASSWORD)
    [owner_cal] = owner_client.principal().calendars()
    initial = owner_cal.objects_by_sync_token(load_objects=True, disable_fallback=True)

    appt = first_event(DEMO_USER)
    delegate = caldav.DAVClient(url=live.base_url, username=WRITER, password=DEMO_PASSWORD)
    shared = next(c for c in delegate.principal().calendars() if c.get_display_name() == DISPLAY)
    assert str(shared.url).endswith(AS_WRITER)
    event = shared.event_by_url(live.url(AS_WRITER + appt.resource_name))
    component = event.icalendar_component
    new_start = dt.datetime.combine(appt.start_local.date() + dt.timedelta(days=1), dt.time(15, 0), VIENNA)
    component.pop("DTSTART")
    component.pop("DTEND")
    component.add("dtstart", new_start)
    component.add("dtend", new_start + dt.timedelta(minutes=50))
    event.save()

    moved = Appointment.get_by_id(appt.id)
    assert moved.practitioner_id == appt.practitioner_id  # still the owner's appointment
    assert moved.start_local == new_start.replace(tzinfo=None)
    assert moved.patient_id == appt.patient_id  # the practice's link survives the edit
    # A new appointment made by the delegate lands in the owner's calendar too.
    shared.save_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        "UID:by-delegate@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\nSUMMARY:Vertretung\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    anna = api.find_practitioner(DEMO_USER)
    created = store.find_by_uid(anna.id, "by-delegate@example.org")
    assert created is not None and created.practice_id == anna.practice_id
    assert store.find_by_uid(api.find_practitioner(WRITER).id, "by-delegate@example.org") is None

    changed = owner_cal.objects_by_sync_token(
        sync_token=initial.sync_token, load_objects=True, disable_fallback=True
    )
    got = {unquote(str(o.url).rsplit("/", 1)[1]): o for o in changed}
    assert set(got) == {appt.resource_name, created.resource_name}
    start = got[appt.resource_name].icalendar_component["DTSTART"].dt
    assert start == new_start
    assert changed.sync_token != initial.sync_token
    assert changed.sync_token == ctag(live, OWN, DEMO_USER)
    owner_client.close()
    delegate.close()


def test_rw_delegate_uid_scope_is_the_owner_calendar(team):
    """A UID the delegate uses in their own calendar is free in the owner's, and a clash
    inside the owner's calendar names the href the delegate sees."""
    live = team
    anna = api.find_practitioner(DEMO_USER)
    existing = first_event(DEMO_USER)
    clash = live.request("PUT", AS_WRITER + "uid-clash.ics", _event(existing.uid), user=WRITER, headers=ICAL)
    assert clash.status_code == 403
    assert error_condition(clash) == "no-uid-conflict"
    hrefs = [h.text for h in etree.fromstring(clash.content).iter(f"{{{DAV}}}href")]
    assert hrefs == [AS_WRITER + existing.resource_name]
    own = live.request(
        "PUT", "/david_schreiben/calendar/mine.ics", _event("shared-uid@x"), user=WRITER, headers=ICAL
    )
    assert own.status_code == 201
    there = live.request("PUT", AS_WRITER + "theirs.ics", _event("shared-uid@x"), user=WRITER, headers=ICAL)
    assert there.status_code == 201
    # A delegate's new object gets a server-made name (opaque_names.py), given as Location.
    stored = store.find_by_uid(anna.id, "shared-uid@x").resource_name
    assert re.fullmatch(r"[0-9a-f]{32}\.ics", stored)
    assert there.headers["Location"].endswith(AS_WRITER + stored)
    assert live.request("GET", AS_WRITER + "theirs.ics", user=WRITER).status_code == 200


def _event(uid: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260311T090000Z\r\n"
        "DTEND:20260311T100000Z\r\nSUMMARY:Termin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


# ---------------------------------------------------------------- pseudonymization


def test_delegated_calendar_renders_the_stricter_policy(team):
    live = team
    reader = api.find_practitioner(READER)
    api.update_practitioner(api.find_practitioner(DEMO_USER), pseudonymize=False)
    api.update_practitioner(reader, pseudonymize=True)
    try:
        appt = next(
            a
            for a in Appointment.select().where(
                Appointment.practitioner == api.find_practitioner(DEMO_USER).id
            )
            if a.patient is not None and a.patient.last_name == "Muster"
        )
        own = live.request("GET", OWN + appt.resource_name, user=DEMO_USER).text
        shared = live.request("GET", AS_READER + appt.resource_name, user=READER).text
        assert "Muster" in own and "Muster" not in shared
        assert "MaMu 1042" in shared
    finally:
        api.update_practitioner(reader, pseudonymize=False)


def test_viewer_switch_moves_etags_and_sync_token_of_the_delegated_calendar(team):
    """The owner's change log does not move when the VIEWER switches: the token carries the
    render policy, so the delegate's device re-fetches everything (403 valid-sync-token)."""
    live = team
    reader = api.find_practitioner(READER)
    owner_token = ctag(live, OWN, DEMO_USER)
    first = sync(live, AS_READER, READER)
    assert first.status_code == 207
    token = etree.fromstring(first.content).findtext("D:sync-token", None, NS)
    assert token == ctag(live, AS_READER, READER)
    before = etags(live, AS_READER, READER)
    assert sync(live, AS_READER, READER, token).status_code == 207  # still valid

    api.update_practitioner(reader, pseudonymize=True)
    try:
        after = etags(live, AS_READER, READER)
        assert set(after) == set(before) and all(after[n] != before[n] for n in before)
        assert ctag(live, AS_READER, READER) != token
        stale = sync(live, AS_READER, READER, token)
        assert stale.status_code == 403
        assert error_condition(stale) == "valid-sync-token"
        fresh = sync(live, AS_READER, READER)
        assert fresh.status_code == 207
        hrefs = {
            r.findtext("D:href", "", NS).rsplit("/", 1)[1]
            for r in etree.fromstring(fresh.content).findall("D:response", NS)
        }
        assert hrefs == set(after)
        # The owner's own calendar did not change at all.
        assert ctag(live, OWN, DEMO_USER) == owner_token
        assert sync(live, OWN, DEMO_USER, owner_token).status_code == 207
    finally:
        api.update_practitioner(reader, pseudonymize=False)
    # Back to the old policy: the old token is valid again (same policy, no change since).
    assert ctag(live, AS_READER, READER) == token


def test_tokens_of_another_calendar_or_from_the_future_are_refused(team):
    live = team
    token = ctag(live, AS_READER, READER)
    prefix, number = token.rsplit(":", 1)
    bernd = ctag(live, "/bernd_huber/calendar/", COLLEAGUE)
    for bad in (f"{prefix}:{int(number) + 1000}", bernd, re.sub(r":(\w+):", ":ptb:", token)):
        resp = sync(live, AS_READER, READER, bad)
        assert resp.status_code == 403, bad
        assert error_condition(resp) == "valid-sync-token"


# ---------------------------------------------------------------- revoke


def test_revoke_removes_the_calendar_and_every_way_into_it(team):
    live = team
    name = first_event(DEMO_USER).resource_name
    assert cli(live.db_url, "grant", DEMO_USER, "--to", READER, "--read-write").returncode == 0
    assert privileges(propfind(live, AS_READER, READER)[AS_READER]) >= {"write"}
    result = cli(live.db_url, "revoke", DEMO_USER, "--to", READER)
    assert result.returncode == 0, result.stderr
    home = "/clara_lesen/"
    assert set(propfind(live, home, READER, "1")) == {home, home + "calendar/"}
    before = digest()
    for method, path in (
        ("PROPFIND", AS_READER),
        ("GET", AS_READER + name),
        ("PUT", AS_READER + name),
        ("DELETE", AS_READER + name),
        ("REPORT", AS_READER),
    ):
        resp = live.request(
            method,
            path,
            _event("revoked@x") if method == "PUT" else None,
            user=READER,
            headers={"Depth": "0", **ICAL},
        )
        assert resp.status_code == 404, (method, resp.status_code)
    assert digest() == before
