"""Opaque names for others (issue 15, item 5): a device-named, device-UID'd object
(`Maria-Muster-Kontrolle.ics`, UID `kontrolle-maria-muster-2026@example`) keeps its name
and UID in the owner's clear view only; the owner's pseudonymized view and every delegated
view (read and read-write) see server-made opaque values in every href and UID, and reach
the same row through them. Real server, SQLite and PostgreSQL, under the leak scanner.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote

import icalendar
import pytest
from lxml import etree

from davserver import methods
from davserver.config import ServerConfig
from davserver.middleware import loggable_path
from davserver.reports import fragments, sync_collection
from providers.practice import api, opaque_names, store
from tests.conftest import start_server
from tests.leak_scanner import LeakScanner
from tests.test_reports_support import multiget_body, query_body, vevent_filter
from tests.two_way import PASSWORD, calendar_path, new_practitioner

DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}
DATA = "<D:getetag/><C:calendar-data/>"
SECRETS = ["Maria", "Muster", "Kontrolle"]
VIEWS = ["pseudonymized owner", "read delegate", "read-write delegate"]


def _ical(uid: str, hour: int = 9, related: str | None = None) -> str:
    related_line = f"RELATED-TO:{related}\r\n" if related else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//device//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260311T{hour:02d}0000Z\r\n"
        f"DTEND:20260311T{hour + 1:02d}0000Z\r\nSUMMARY:Termin\r\n{related_line}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


class _Team:
    def __init__(self, live, scanner: LeakScanner, owner, reader, writer):
        self.live, self.scanner, self.owner = live, scanner, owner
        self.reader, self.writer = reader, writer
        self.scanning = False

    def view(self, kind: str) -> tuple[str, str]:
        """(user name, calendar path) of a view; the owner is pseudonymized only in its own."""
        owner = api.find_practitioner(self.owner.username)
        api.update_practitioner(owner, pseudonymize=kind == "pseudonymized owner")
        if kind == "pseudonymized owner":
            return self.owner.username, calendar_path(self.owner)
        user = self.reader if kind == "read delegate" else self.writer
        shared = f"/{api.url_segment(user.username)}/shared-{api.url_segment(self.owner.username)}/"
        return user.username, shared

    def request(self, method: str, path: str, user: str, body: str = "", **headers):
        return self.live.request(method, path, body, user=user, password=PASSWORD, headers=headers)

    def device_object(self, name: str, uid: str) -> None:
        """What the owner's clear device stores: its own name and UID (not scanned)."""
        owner = api.find_practitioner(self.owner.username)
        api.update_practitioner(owner, pseudonymize=False)
        self.scanning = False
        put = self.request(
            "PUT",
            calendar_path(owner) + name,
            self.owner.username,
            _ical(uid, related="serie-maria-muster@example"),
            **ICAL,
        )
        assert put.status_code == 201, put.text

    def shown(self, path: str, name: str) -> str:
        return path + opaque_names.shown_name(self.owner.id, name)


@pytest.fixture(scope="module")
def team(db_url) -> Iterator[_Team]:
    scanner = LeakScanner(SECRETS)
    holder: list[_Team] = []

    def wrap(app):
        recorded = scanner.wsgi(app)
        return lambda environ, start: (recorded if holder[0].scanning else app)(environ, start)

    def scanned(record: logging.LogRecord) -> bool:
        """The server's log while scanning (not the test client's own log)."""
        return bool(holder) and holder[0].scanning and not record.name.startswith("urllib3")

    with scanner.debug_log(only=scanned):
        live = start_server(db_url, ServerConfig(), load_demo=False, wrap=wrap)
        owner = new_practitioner("opaque")
        reader = api.create_practitioner(owner.practice, f"opaque reader {owner.id}", PASSWORD)
        writer = api.create_practitioner(owner.practice, f"opaque writer {owner.id}", PASSWORD)
        api.grant_access(owner, reader, can_write=False)
        api.grant_access(owner, writer, can_write=True)
        holder.append(_Team(live, scanner, owner, reader, writer))
        try:
            yield holder[0]
        finally:
            live.server.stop()


def _hrefs(body: bytes) -> list[str]:
    return [unquote(h.text) for h in etree.fromstring(body).iter(f"{{{DAV}}}href")]


def _uids(body: bytes) -> list[str]:
    """UIDs of the calendar data in a multistatus (or of a GET body)."""
    if body.startswith(b"BEGIN:VCALENDAR"):
        texts = [body]
    else:
        texts = [el.text.encode() for el in etree.fromstring(body).iter(f"{{{CALDAV}}}calendar-data")]
    return [str(e["UID"]) for t in texts for e in icalendar.Calendar.from_ical(t).walk("VEVENT")]


def _propfind(team: _Team, user: str, path: str, props: str) -> bytes:
    body = f'<D:propfind xmlns:D="DAV:"><D:prop>{props}</D:prop></D:propfind>'
    resp = team.request("PROPFIND", path, user, body, Depth="1")
    assert resp.status_code == 207, resp.text[:300]
    return resp.content


def _report(team: _Team, user: str, path: str, body: str) -> bytes:
    resp = team.request("REPORT", path, user, body, Depth="1")
    assert resp.status_code == 207, resp.text[:300]
    return resp.content


def _sync(props: str, token: str = "") -> str:
    return (
        f'<D:sync-collection xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:sync-token>{token}</D:sync-token>'
        f"<D:sync-level>1</D:sync-level><D:prop>{props}</D:prop></D:sync-collection>"
    )


def _token(body: bytes) -> str:
    return etree.fromstring(body).findtext(f"{{{DAV}}}sync-token")


def test_the_owner_clear_view_shows_the_device_name_and_uid(team):
    team.device_object("Maria-Muster-Kontrolle.ics", "kontrolle-maria-muster-2026@example")
    path = calendar_path(team.owner)
    user = team.owner.username
    assert path + "Maria-Muster-Kontrolle.ics" in _hrefs(_propfind(team, user, path, "<D:getetag/>"))
    got = team.request("GET", path + "Maria-Muster-Kontrolle.ics", user)
    assert got.status_code == 200
    assert _uids(got.content) == ["kontrolle-maria-muster-2026@example"]
    assert b"RELATED-TO:serie-maria-muster@example" in got.content


@pytest.mark.parametrize("kind", VIEWS)
def test_every_other_view_lists_and_reads_opaque_names_and_uids(team, kind):
    name, uid = f"Maria-Muster-Kontrolle-{VIEWS.index(kind)}.ics", f"kontrolle-maria-muster-{kind}@example"
    team.device_object(name, uid)
    user, path = team.view(kind)
    href = team.shown(path, name)
    opaque_uid = opaque_names.shown_uid(team.owner.id, uid)
    assert re.fullmatch(r"(?:[0-9a-f]{32}){2,}\.ics", href.rsplit("/", 1)[1])
    assert re.fullmatch(r"(?:[0-9a-f]{32}){2,}@praxis-caldav", opaque_uid)
    team.scanning = True
    everything = vevent_filter()
    for hrefs in (
        _hrefs(_propfind(team, user, path, "<D:getetag/>")),
        _hrefs(_propfind(team, user, path, "<D:getetag/><D:getlastmodified/>")),
        _hrefs(_report(team, user, path, query_body(everything, DATA))),
        _hrefs(_report(team, user, path, _sync("<D:getetag/>"))),
        _hrefs(_report(team, user, path, _sync("<D:getetag/><C:calendar-data/>"))),
    ):
        assert href in hrefs and path + name not in hrefs
    for body in (
        _report(team, user, path, multiget_body([href], DATA)),
        _report(team, user, path, multiget_body([href], DATA + "<D:getlastmodified/>")),
        _report(team, user, path, query_body(everything, DATA)),
        team.request("GET", href, user).content,
    ):
        assert opaque_uid in _uids(body) and uid not in _uids(body)
    (event,) = icalendar.Calendar.from_ical(team.request("GET", href, user).content).walk("VEVENT")
    related = opaque_names.shown_uid(team.owner.id, "serie-maria-muster@example")
    # Not on the allowlist of a pseudonymized view; a clear view keeps it, the UID opaque.
    assert event.get("RELATED-TO") == (None if kind == "pseudonymized owner" else related)
    assert team.request("GET", path + name, user).status_code == 404
    team.scanning = False
    team.scanner.assert_clean()


@pytest.mark.parametrize("kind", ["pseudonymized owner", "read-write delegate"])
def test_edit_and_delete_through_the_opaque_href_keep_the_stored_name_and_uid(team, kind):
    name, uid = f"Maria-Muster-Edit-{VIEWS.index(kind)}.ics", f"edit-maria-muster-{kind}@example"
    team.device_object(name, uid)
    user, path = team.view(kind)
    href = team.shown(path, name)
    team.scanning = True
    token = _token(_report(team, user, path, _sync("<D:getetag/>")))
    before = store.load_one(team.owner.id, name).start_local
    got = team.request("GET", href, user)
    moved = got.text.replace("T090000Z", "T140000Z").replace("T100000Z", "T150000Z")
    assert moved != got.text
    put = team.request("PUT", href, user, moved, **ICAL, **{"If-Match": got.headers["ETag"]})
    assert put.status_code == 204, put.text
    row = store.load_one(team.owner.id, name)
    assert (row.resource_name, row.uid) == (name, uid) and row.start_local != before
    changed = _report(team, user, path, _sync("<D:getetag/>", token))
    assert _hrefs(changed) == [href]
    token = _token(changed)
    assert team.request("DELETE", href, user).status_code == 204
    assert store.load_one(team.owner.id, name) is None
    gone = etree.fromstring(_report(team, user, path, _sync("<D:getetag/>", token)))
    (response,) = gone.findall(f"{{{DAV}}}response")
    assert unquote(response.findtext(f"{{{DAV}}}href")) == href  # the tombstone: opaque too
    assert "404" in response.findtext(f"{{{DAV}}}status")
    team.scanning = False
    team.scanner.assert_clean()


def test_a_read_delegate_cannot_write_through_the_opaque_href(team):
    team.device_object("Maria-Muster-Lesen.ics", "lesen-maria-muster@example")
    user, path = team.view("read delegate")
    href = team.shown(path, "Maria-Muster-Lesen.ics")
    got = team.request("GET", href, user)
    assert got.status_code == 200
    assert team.request("PUT", href, user, got.text, **ICAL).status_code == 403
    assert team.request("DELETE", href, user).status_code == 403
    assert store.load_one(team.owner.id, "Maria-Muster-Lesen.ics") is not None


@pytest.mark.parametrize("kind", ["pseudonymized owner", "read-write delegate"])
def test_a_create_from_another_view_gets_a_server_made_name(team, kind):
    user, path = team.view(kind)
    team.scanning = True
    uid = f"neu-maria-muster-{kind.replace(' ', '-')}@example"
    name = f"Maria-Muster-Neu-{VIEWS.index(kind)}.ics"
    put = team.request("PUT", path + name, user, _ical(uid, hour=11), **ICAL)
    assert put.status_code == 201, put.text
    row = store.find_by_uid(team.owner.id, uid)
    assert opaque_names.is_textless_name(row.resource_name)
    assert put.headers["Location"].endswith(path + row.resource_name)
    assert path + row.resource_name in _hrefs(_propfind(team, user, path, "<D:getetag/>"))
    again = team.request("GET", path + name, user)  # the device's URL still works
    assert again.status_code == 200
    assert _uids(again.content) == [opaque_names.shown_uid(team.owner.id, uid)]
    team.scanning = False
    team.scanner.assert_clean()


@pytest.mark.parametrize("kind", VIEWS)
def test_fast_paths_answer_the_same_bytes_as_the_slow_ones(team, kind, monkeypatch):
    team.device_object(f"Maria-Muster-Pfad-{VIEWS.index(kind)}.ics", f"pfad-maria-muster-{kind}@example")
    user, path = team.view(kind)
    href = team.shown(path, f"Maria-Muster-Pfad-{VIEWS.index(kind)}.ics")
    requests = [
        ("PROPFIND", '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'),
        ("REPORT", _sync("<D:getetag/>")),
        ("REPORT", multiget_body([href], DATA)),
        ("REPORT", query_body(vevent_filter(), DATA)),
    ]

    def answers() -> list[bytes]:
        return [team.request(m, path, user, body, Depth="1").content for m, body in requests]

    fast = answers()
    monkeypatch.setitem(methods.HANDLERS, "PROPFIND", lambda *args: None)
    monkeypatch.setattr(sync_collection, "_initial_listing", lambda *args: None)
    monkeypatch.setattr(fragments, "applies", lambda names: False)
    slow = answers()
    assert [href in _hrefs(body) for body in fast] == [True] * len(requests)
    assert fast == slow


def test_the_uid_of_an_upload_from_another_view_maps_back(team):
    """An opaque UID sent to a new URL is the stored object's UID: a conflict naming the
    opaque href, never a second object."""
    team.device_object("Maria-Muster-Doppelt.ics", "doppelt-maria-muster@example")
    user, path = team.view("read-write delegate")
    opaque_uid = opaque_names.shown_uid(team.owner.id, "doppelt-maria-muster@example")
    put = team.request("PUT", path + "copy.ics", user, _ical(opaque_uid), **ICAL)
    assert put.status_code == 403
    assert _hrefs(put.content) == [team.shown(path, "Maria-Muster-Doppelt.ics")]
    assert store.find_by_uid(team.owner.id, opaque_uid) is None


def test_opaque_names_and_uids_round_trip_and_depend_on_the_owner(team):
    for name in ("Maria-Muster-Kontrolle.ics", "ä ö ü/ß.ics", "x" * 255, "À"):
        shown = opaque_names.shown_name(team.owner.id, name)
        assert opaque_names.stored_name(team.owner.id, shown) == name
        assert opaque_names.stored_name(team.owner.id + 1, shown) != name
        assert "aria" not in shown
    for textless in ("0123456789abcdef0123456789abcdef.ics", "3F2504E0-4F89-11D3-9A0C-0305E82C3301.ics"):
        assert opaque_names.shown_name(team.owner.id, textless) == textless
    uid = "kontrolle-maria-muster-2026@example"
    assert opaque_names.stored_uid(team.owner.id, opaque_names.shown_uid(team.owner.id, uid)) == uid
    assert opaque_names.stored_uid(team.owner.id, uid) == uid
    # A name no view was shown maps to a server-made one, the same every time.
    made = opaque_names.stored_name(team.owner.id, "foo.ics")
    assert opaque_names.is_textless_name(made) and made == opaque_names.stored_name(team.owner.id, "foo.ics")


def test_the_access_log_writes_only_textless_object_names():
    uuid_name = "3F2504E0-4F89-11D3-9A0C-0305E82C3301.ics"
    for name, logged in [
        ("Maria-Muster-Kontrolle.ics", "<name>"),
        ("0123456789abcdef0123456789abcdef.ics", "0123456789abcdef0123456789abcdef.ics"),
        (uuid_name, uuid_name),
        ("ab" * 48 + ".ics", "<name>"),  # token-shaped: a device could choose that shape too
    ]:
        assert loggable_path(f"/anna_maier/calendar/{name}") == f"/anna_maier/calendar/{logged}"
