"""The write-back matrix (issue 16): every view x every edit kind x every client's serialisation.

For each cell a practice appointment (patient, notes, a Location row) is served to the
device, edited and written back the way that client writes; the test then checks the
database row (only the legitimate change applied, patient link and patients untouched),
the clear rendering (no pseudonym ever stored) and the device's next sync (the PUT answer
carries an ETag only when the server now serves exactly the upload, otherwise the ETag has
moved; the server's form, sent back unchanged, changes nothing more).
"""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata
import uuid
from dataclasses import dataclass

import icalendar
import pytest

from davserver.ical import render
from providers.practice import api, store
from providers.practice.models import Appointment, Patient, Practitioner
from providers.practice.pseudonym import pseudonym
from tests.two_way import ICAL, PASSWORD, calendar_path
from tests.writeback_clients import CLIENTS, write_back

START = dt.datetime(2026, 3, 10, 9)
MOVED = START + dt.timedelta(hours=1)
SUBJECT = "Gespräch über Befund"
NOTES = "Kollegin: Befund abwarten"
MARIA = pseudonym("Maria", "Muster", "1042")
MARIO = pseudonym("Mario", "Mustermann", "1016")


@dataclass
class View:
    device: Practitioner  # whose device writes
    owner: Practitioner  # whose calendar holds the appointment
    collection: str
    pseudonymized: bool


@dataclass
class World:
    views: dict[str, View]
    patients: list[Patient]
    maria: Patient
    home: object


@pytest.fixture(scope="module")
def world(live) -> World:
    practice = api.get_or_create_practice("Praxis Matrix", f"matrix-{uuid.uuid4().hex[:6]}")
    maria = api.upsert_patient(practice, "1042", "Maria", "Muster", "+43 664 1234567")
    mario = api.upsert_patient(practice, "1016", "Mario", "Mustermann")
    home = api.upsert_location(practice, "Hausbesuch bei Muster", "Gasse 3")

    def person(name: str, **settings) -> Practitioner:
        user = api.create_practitioner(practice, f"{name} {uuid.uuid4().hex[:6]}", PASSWORD)
        return api.update_practitioner(user, **settings) if settings else user

    def shared(delegate: Practitioner, owner: Practitioner) -> str:
        api.grant_access(owner, delegate, can_write=True)
        return f"/{api.url_segment(delegate.username)}/shared-{api.url_segment(owner.username)}/"

    own_clear = person("clear")
    own_pseudo = person("pseudo", pseudonymize=True)
    owner, delegate = person("owner"), person("delegate")
    # Stricter: the owner pseudonymizes, the delegate does not; the delegate sees masks.
    strict_owner, strict_delegate = person("strict owner", pseudonymize=True), person("strict delegate")
    views = {
        "own clear": View(own_clear, own_clear, calendar_path(own_clear), False),
        "own pseudonymized": View(own_pseudo, own_pseudo, calendar_path(own_pseudo), True),
        "delegated rw clear": View(delegate, owner, shared(delegate, owner), False),
        "stricter": View(strict_delegate, strict_owner, shared(strict_delegate, strict_owner), True),
    }
    return World(views, [maria, mario], maria, home)


# ---------------------------------------------------------------- edit kinds


def _summary(event: icalendar.Event) -> str:
    return str(event["SUMMARY"])


def _label(event: icalendar.Event) -> str:
    return _summary(event).split(" – ")[0]


def _move(event: icalendar.Event) -> None:
    for name in ("DTSTART", "DTEND"):
        value = event.decoded(name) + dt.timedelta(hours=1)
        event.pop(name)
        event.add(name, value)


def _replace(event: icalendar.Event, name: str, value: str | None) -> None:
    event.pop(name, None)
    if value is not None:
        event.add(name, value)


def _nfd_and_move(event: icalendar.Event) -> None:
    _replace(event, "SUMMARY", unicodedata.normalize("NFD", _summary(event)))
    _move(event)


def _drop_description_and_move(event: icalendar.Event) -> None:
    _replace(event, "DESCRIPTION", None)
    _move(event)


def _tentative_with_alarm(event: icalendar.Event) -> None:
    _replace(event, "STATUS", "TENTATIVE")
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", dt.timedelta(minutes=-10))
    alarm.add("description", "Termin")
    event.add_component(alarm)


@dataclass
class Edit:
    change: object  # (event) -> None
    # Expected row changes in a clear view and in a pseudonymized one (a callable of the
    # world's location gives the location columns).
    clear: dict
    masked: dict
    subject: str = SUBJECT


DROPPED_LINK = dict(location=None, location_text="Hausbesuch bei Muster, Gasse 3 (2. Stock)")
EDITS = {
    "move": Edit(_move, dict(start_local=MOVED), dict(start_local=MOVED)),
    "pseudonym in subject": Edit(
        lambda e: _replace(e, "SUMMARY", f"{_label(e)} – Kontrolle bei {MARIA}"), {}, {}
    ),
    "hyphen separator": Edit(
        lambda e: _replace(e, "SUMMARY", f"{_label(e)} - Nachkontrolle"),
        dict(subject="Nachkontrolle"),
        dict(subject="Nachkontrolle"),
    ),
    "unchanged summary in NFD": Edit(_nfd_and_move, dict(start_local=MOVED), dict(start_local=MOVED)),
    "pseudonym in notes": Edit(
        lambda e: _replace(e, "DESCRIPTION", str(e.get("DESCRIPTION", "")) + f"\n{MARIO} zurückrufen"),
        {},
        {},
    ),
    "description left out": Edit(
        _drop_description_and_move, dict(start_local=MOVED, notes=""), dict(start_local=MOVED)
    ),
    "location suffix": Edit(
        lambda e: _replace(e, "LOCATION", str(e["LOCATION"]) + " (2. Stock)"), DROPPED_LINK, {}
    ),
    "edit of a subject holding names": Edit(
        lambda e: _replace(e, "SUMMARY", _summary(e) + " (dringend)"),
        dict(subject="Anruf Maria wegen Befund (dringend)"),
        {},
        subject="Anruf Maria wegen Befund",
    ),
    "status and alarm": Edit(_tentative_with_alarm, dict(status="tentative"), dict(status="tentative")),
}


# ---------------------------------------------------------------- the matrix


def _get(live, view: View, path: str) -> tuple[bytes, str]:
    r = live.request("GET", path, user=view.device.username, password=PASSWORD)
    assert r.status_code == 200, path
    return r.content, r.headers["ETag"]


@pytest.mark.parametrize(
    "view_name,edit_name,client",
    list(
        itertools.product(
            ["own clear", "own pseudonymized", "delegated rw clear", "stricter"], EDITS, CLIENTS
        )
    ),
)
def test_write_back(live, world, view_name, edit_name, client):
    view, edit = world.views[view_name], EDITS[edit_name]
    name = f"{uuid.uuid4().hex}.ics"  # a practice appointment: a server-made name
    appt = api.create_appointment(
        view.owner,
        api.AppointmentFields(
            start_local=START,
            end_local=START + dt.timedelta(minutes=50),
            subject=edit.subject,
            notes=NOTES,
            location=world.home,
        ),
        patient=world.maria,
        resource_name=name,
    )
    patients = [Patient.get_by_id(p.id).__data__ for p in world.patients]
    path = view.collection + name

    served, etag = _get(live, view, path)
    assert (MARIA.encode() in served) == view.pseudonymized
    upload = write_back(client, served, edit.change)
    response = live.request(
        "PUT", path, upload, user=view.device.username, password=PASSWORD, headers={**ICAL, "If-Match": etag}
    )
    assert response.status_code == 204, response.text

    # The database row: only the legitimate change.
    expected = dict(
        subject=edit.subject,
        notes=NOTES,
        location=world.home.id,
        location_text=None,
        start_local=START,
        status="confirmed",
        patient=world.maria.id,
    )
    expected.update(edit.masked if view.pseudonymized else edit.clear)
    row = Appointment.get_by_id(appt.id)
    assert {
        key: getattr(row, f"{key}_id" if key in ("location", "patient") else key) for key in expected
    } == expected
    assert [Patient.get_by_id(p.id).__data__ for p in world.patients] == patients

    # The clear rendering: the real texts, never a pseudonym.
    clear = render.render_appointment(store.load_one(view.owner.id, name), render.RenderPolicy())
    event = icalendar.Calendar.from_ical(clear).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == f"Maria Muster – {expected['subject']}"
    assert MARIA.encode() not in clear and MARIO.encode() not in clear

    # The device's next sync: an ETag only for an object served exactly as uploaded, else a
    # moved one; the server's form sent back unchanged is a no-op.
    fetched, new_etag = _get(live, view, path)
    if "ETag" in response.headers:
        assert response.headers["ETag"] == new_etag and fetched == upload
    else:
        assert new_etag != etag and fetched != upload
    revision = Appointment.get_by_id(appt.id).revision
    again = live.request(
        "PUT",
        path,
        fetched,
        user=view.device.username,
        password=PASSWORD,
        headers={**ICAL, "If-Match": new_etag},
    )
    assert again.status_code == 204 and again.headers.get("ETag") == new_etag
    assert Appointment.get_by_id(appt.id).revision == revision
    if edit_name == "status and alarm":
        assert b"TRIGGER:-PT10M" in fetched
