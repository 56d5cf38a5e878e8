"""Round-trip fidelity in clear views (issue 16): a device's own event comes back as it was
sent while the practice has not changed it, so sync clients see no server-side change after
their own upload; vdirsyncer two-way sync then never conflicts with itself."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest
from vdirsyncer.vobject import hash_item

from providers.practice import api, opaque_names
from providers.practice.models import Appointment
from tests.clients.replay import VIENNA_TZ
from tests.two_way import ICAL, PASSWORD, calendar_path, new_practitioner, row
from tests.vdirsyncer_run import Sync

# What a local calendar (khal, a vdir) writes: CREATED, no STATUS, a VTIMEZONE of its own,
# properties and parameters in its own order, an alarm.
OWN_EVENT = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//pimutils//khal//EN\r\n" + VIENNA_TZ + "BEGIN:VEVENT\r\n"
    "SUMMARY:Intervision\\, Gruppe B\r\n"
    "DTSTART;TZID=Europe/Vienna:20260317T160000\r\n"
    "DTEND;TZID=Europe/Vienna:20260317T173000\r\n"
    "DTSTAMP:20260301T081500Z\r\n"
    "UID:own-{uid}\r\n"
    "CREATED:20260220T101010Z\r\n"
    "X-WR-ALT;X-Z=last;X-A=first:kept as sent\r\n"
    "CATEGORIES:Fortbildung\r\n"
    "BEGIN:VALARM\r\n"
    "TRIGGER:-PT30M\r\n"
    "ACTION:DISPLAY\r\n"
    "DESCRIPTION:Intervision\r\n"
    "END:VALARM\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def own_event(uid: str) -> str:
    return OWN_EVENT.replace("{uid}", uid)


@pytest.fixture(scope="module")
def owner(live):
    return new_practitioner("fidelity")


def put(live, user, path: str, body: str, **headers):
    return live.request("PUT", path, body, user=user.username, password=PASSWORD, headers={**ICAL, **headers})


def test_own_event_comes_back_as_sent_and_put_returns_its_etag(live, owner):
    body = own_event("a")
    path = calendar_path(owner) + "own-a.ics"
    created = put(live, owner, path, body, **{"If-None-Match": "*"})
    assert created.status_code == 201
    fetched = live.request("GET", path, user=owner.username, password=PASSWORD)
    assert fetched.content == body.encode()
    assert created.headers["ETag"] == fetched.headers["ETag"]
    event = icalendar.Calendar.from_ical(fetched.content).walk("VEVENT")[0]
    assert "STATUS" not in event
    assert event.decoded("CREATED") == dt.datetime(2026, 2, 20, 10, 10, 10, tzinfo=dt.UTC)
    assert hash_item(fetched.text) == hash_item(body)


def test_an_edit_stored_as_sent_is_served_as_sent(live, owner):
    path = calendar_path(owner) + "own-b.ics"
    assert put(live, owner, path, own_event("b")).status_code == 201
    etag = live.request("GET", path, user=owner.username, password=PASSWORD).headers["ETag"]
    edited = own_event("b").replace("Gruppe B", "Gruppe C").replace("T160000", "T170000")
    response = put(live, owner, path, edited, **{"If-Match": etag})
    assert response.status_code == 204 and response.headers["ETag"] != etag
    fetched = live.request("GET", path, user=owner.username, password=PASSWORD)
    assert fetched.content == edited.encode() and fetched.headers["ETag"] == response.headers["ETag"]
    appt = row(owner, "own-b")
    assert (appt.subject, appt.start_local.hour) == ("Intervision, Gruppe C", 17)


def test_a_delegate_with_the_same_clear_view_gets_it_rendered_under_opaque_names(live, owner):
    """The upload holds the device's own name and UID, which only the owner's clear view
    shows (opaque_names.py): a clear delegate gets the rendering, texts as sent."""
    delegate = api.create_practitioner(owner.practice, f"delegate {owner.id}", PASSWORD)
    api.grant_access(owner, delegate, can_write=False)
    shared = f"/{api.url_segment(delegate.username)}/shared-{api.url_segment(owner.username)}/"
    auth = {"user": delegate.username, "password": PASSWORD}
    assert live.request("GET", shared + "own-a.ics", **auth).status_code == 404
    response = live.request("GET", shared + opaque_names.shown_name(owner.id, "own-a.ics"), **auth)
    assert response.status_code == 200
    assert response.content != own_event("a").encode()
    served = icalendar.Calendar.from_ical(response.content).walk("VEVENT")[0]
    sent = icalendar.Calendar.from_ical(own_event("a")).walk("VEVENT")[0]
    assert str(served["UID"]) == opaque_names.shown_uid(owner.id, str(sent["UID"])) != str(sent["UID"])
    assert str(served["SUMMARY"]) == str(sent["SUMMARY"])


def test_a_practice_edit_is_rendered_from_the_row_and_keeps_the_device_extras(live, owner):
    path = calendar_path(owner) + "own-c.ics"
    assert put(live, owner, path, own_event("c")).status_code == 201
    appt = row(owner, "own-c")
    api.update_appointment(
        appt,
        api.AppointmentFields(
            start_local=appt.start_local + dt.timedelta(hours=1),
            end_local=appt.end_local + dt.timedelta(hours=1),
            subject=appt.subject,
        ),
    )
    fetched = live.request("GET", path, user=owner.username, password=PASSWORD)
    event = icalendar.Calendar.from_ical(fetched.content).walk("VEVENT")[0]
    assert event.decoded("DTSTART").hour == 17  # the practice's time, not the upload's
    assert str(event["X-WR-ALT"]) == "kept as sent" and len(event.walk("VALARM")) == 1


def test_a_linked_patient_or_a_pseudonymized_view_is_never_served_the_upload(live):
    user = new_practitioner("fidelity-pseudo", pseudonymize=True)
    path = calendar_path(user) + "own-p.ics"
    assert put(live, user, path, own_event("p")).status_code == 201
    fetched = live.request("GET", path, user=user.username, password=PASSWORD)
    assert fetched.content != own_event("p").encode()
    assert b"PRODID:-//praxis-caldav" in fetched.content


def test_vdirsyncer_create_edit_sync_never_conflicts_and_then_rests(live, tmp_path):
    """Create locally, sync, edit locally, sync: the local edit reaches the server even with
    "b wins" (no conflict), and a further sync copies nothing and rewrites no local file."""
    user = new_practitioner("fidelity-vdir")
    sync = Sync(live, user, tmp_path)
    (sync.local / "own.ics").write_text(own_event("vdir"))
    sync.run("b wins")
    (sync.local / "own.ics").write_text(own_event("vdir").replace("Gruppe B", "Gruppe lokal"))
    sync.run("b wins")
    assert row(user, "own-vdir").subject == "Intervision, Gruppe lokal"
    assert "Gruppe lokal" in sync.files()["own.ics"]
    mtime = (sync.local / "own.ics").stat().st_mtime_ns
    sync.assert_noop("b wins")
    assert (sync.local / "own.ics").stat().st_mtime_ns == mtime


KHAL = str(Path(sys.executable).with_name("khal"))


def test_khal_edits_synced_by_vdirsyncer_never_conflict_and_then_rest(live, tmp_path):
    """khal creates and edits on the vdir, vdirsyncer syncs it: the edit wins without a
    conflict (even with "b wins"), and then nothing moves on either side."""
    user = new_practitioner("fidelity-khal")
    sync = Sync(live, user, tmp_path)
    config = tmp_path / "khal.conf"
    config.write_text(f"""[calendars]
[[praxis]]
path = {sync.local}/
[locale]
default_timezone = Europe/Vienna
local_timezone = Europe/Vienna
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
[sqlite]
path = {tmp_path / "khal.db"}
""")

    def khal(*args: str, stdin: str = "") -> None:
        done = subprocess.run(
            [KHAL, "-c", str(config), *args], input=stdin, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr

    khal("new", "-a", "praxis", "2026-03-17", "16:00", "17:30", "Intervision Gruppe B", "::", "Raum 2")
    sync.run("b wins")
    [appt] = Appointment.select().where(Appointment.practitioner == user.id)
    assert (appt.subject, appt.notes) == ("Intervision Gruppe B", "Raum 2")
    khal("edit", "--show-past", "Intervision", stdin="s\nIntervision Gruppe lokal\nn\n")
    sync.run("b wins")
    assert Appointment.get_by_id(appt.id).subject == "Intervision Gruppe lokal"
    [name] = sync.files()
    assert "SUMMARY:Intervision Gruppe lokal" in sync.files()[name]
    mtime = (sync.local / name).stat().st_mtime_ns
    sync.assert_noop("b wins")
    assert (sync.local / name).stat().st_mtime_ns == mtime
