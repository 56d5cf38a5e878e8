"""A device edits a practice appointment (one with a patient): times, status, location and
subject may change, the patient link and the patient's data never; pseudonymized text is
never written back; what only the device holds survives later practice-side edits."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest

from providers.practice import api
from providers.practice.models import Appointment, Patient
from tests.two_way import ICAL, PASSWORD, calendar_path, new_practitioner

NAME = "5a6f1c2e9b8d4a7f8e3c2b1a0d9e8f7a.ics"  # a practice appointment: a server-made name


@pytest.fixture()
def setup(live, request):
    """A practitioner (clear names, phone shown) with one patient appointment."""
    pseudonymize = getattr(request, "param", False)
    user = new_practitioner("edits", include_phone=True, pseudonymize=pseudonymize)
    number = str(1000 + user.id)
    patient = api.upsert_patient(user.practice, number, "Maria", "Muster", "+43 664 1234567")
    location = api.upsert_location(user.practice, "Praxis am Park", "Parkring 1")
    fields = api.AppointmentFields(
        start_local=dt.datetime(2026, 3, 10, 9),
        end_local=dt.datetime(2026, 3, 10, 9, 50),
        tzid="Europe/Vienna",
        subject="Anruf Maria wegen Befund",
        notes="Befund mitbringen",
        location=location,
    )
    appt = api.create_appointment(user, fields, patient=patient, uid="practice-1", resource_name=NAME)
    return user, appt, patient


def get_event(live, user) -> tuple[icalendar.Calendar, str]:
    r = live.request("GET", calendar_path(user) + NAME, user=user.username, password=PASSWORD)
    assert r.status_code == 200
    return icalendar.Calendar.from_ical(r.content), r.headers["ETag"]


def put_back(live, user, cal: icalendar.Calendar, etag: str):
    return live.request(
        "PUT",
        calendar_path(user) + NAME,
        cal.to_ical(),
        user=user.username,
        password=PASSWORD,
        headers={**ICAL, "If-Match": etag},
    )


def edit(live, user, **props) -> Appointment:
    cal, etag = get_event(live, user)
    ev = cal.walk("VEVENT")[0]
    for key, value in props.items():
        key = key.upper().replace("_", "-")
        ev.pop(key, None)
        if value is not None:
            ev.add(key, value)
    assert put_back(live, user, cal, etag).status_code == 204
    return Appointment.get_by_id(ev_row_id(user))


def ev_row_id(user) -> int:
    return Appointment.get((Appointment.practitioner == user.id) & (Appointment.resource_name == NAME)).id


def test_time_change_keeps_texts_patient_and_location(live, setup):
    user, appt, patient = setup
    cal, _ = get_event(live, user)
    ev = cal.walk("VEVENT")[0]
    assert str(ev["SUMMARY"]) == "Maria Muster – Anruf Maria wegen Befund"
    assert "Tel.: +43 664 1234567" in str(ev["DESCRIPTION"])
    start = dt.datetime(2026, 3, 11, 14)
    changed = edit(live, user, dtstart=start, dtend=start + dt.timedelta(minutes=30), status="TENTATIVE")
    assert (changed.start_local, changed.end_local) == (start, start + dt.timedelta(minutes=30))
    assert changed.status == "tentative"
    assert (changed.subject, changed.notes) == (appt.subject, appt.notes)
    assert (changed.patient_id, changed.location_id, changed.location_text) == (
        patient.id,
        appt.location_id,
        None,
    )
    assert Patient.get_by_id(patient.id).__data__ == patient.__data__


@pytest.mark.parametrize(
    "summary,subject",
    [
        ("Maria Muster – Kontrolle", "Kontrolle"),
        ("Maria Muster –  Kontrolle ", "Kontrolle"),
        ("Ganz neuer Titel", "Ganz neuer Titel"),
        ("Maria Muster", ""),
    ],
)
def test_summary_edit_changes_subject_only(live, setup, summary, subject):
    user, appt, patient = setup
    changed = edit(live, user, summary=summary)
    assert changed.subject == subject
    assert changed.patient_id == patient.id
    assert Patient.get_by_id(patient.id).__data__ == patient.__data__


def test_location_and_description_edits(live, setup):
    user, appt, patient = setup
    changed = edit(
        live,
        user,
        location="Hausbesuch Gasse 3",
        description="Befund und Röntgen mitbringen\nTel.: +43 664 1234567",
    )
    assert (changed.location_id, changed.location_text) == (None, "Hausbesuch Gasse 3")
    assert changed.notes == "Befund und Röntgen mitbringen"
    cleared = edit(live, user, location=None)
    assert (cleared.location_id, cleared.location_text) == (None, None)


@pytest.mark.parametrize("setup", [True], indirect=True)
def test_pseudonymized_text_is_never_written_back(live, setup):
    user, appt, patient = setup
    patient_before = Patient.select().where(Patient.id == patient.id).dicts().get()
    cal, _ = get_event(live, user)
    summary = str(cal.walk("VEVENT")[0]["SUMMARY"])
    assert "Maria" not in summary and "Muster" not in summary
    moved = edit(live, user, dtstart=dt.datetime(2026, 3, 12, 8), dtend=dt.datetime(2026, 3, 12, 9))
    assert (moved.subject, moved.notes) == (appt.subject, appt.notes)
    # Notes never reach a pseudonymized device, so a description it sends cannot replace them.
    assert "DESCRIPTION" not in cal.walk("VEVENT")[0]
    # An edit of the masked text itself: the pseudonym must not replace the real name.
    changed = edit(live, user, summary=summary + " (verschoben)", description="dringend")
    assert changed.subject == appt.subject and "Maria" in changed.subject
    assert changed.notes == appt.notes
    # A wholly new text does not come from the masked one: it is taken.
    label = summary.split(" – ")[0]
    renamed = edit(live, user, summary=f"{label} – Kontrolle")
    assert renamed.subject == "Kontrolle" and renamed.patient_id == patient.id
    # The patient's row is byte-for-byte what it was before any device edit.
    assert Patient.select().where(Patient.id == patient.id).dicts().get() == patient_before


def test_device_extras_survive_practice_side_edits(live, setup):
    user, appt, patient = setup
    cal, etag = get_event(live, user)
    ev = cal.walk("VEVENT")[0]
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", dt.timedelta(minutes=-15))
    alarm.add("description", "Erinnerung")
    ev.add_component(alarm)
    ev.add("categories", ["Praxis", "Wichtig"])
    ev.add("class", "PRIVATE")
    ev.add("url", "https://example.org/termin")
    ev.add("x-device-flag", "42")
    assert put_back(live, user, cal, etag).status_code == 204
    current = Appointment.get_by_id(appt.id)
    fields = api.AppointmentFields(
        start_local=dt.datetime(2026, 3, 10, 11),
        end_local=dt.datetime(2026, 3, 10, 12),
        tzid="Europe/Vienna",
        subject="Praxisseitig geändert",
        notes=current.notes,
        location=current.location,
    )
    api.update_appointment(current, fields)  # the practice software, not a device
    cal, _ = get_event(live, user)
    ev = cal.walk("VEVENT")[0]
    assert str(ev["SUMMARY"]) == "Maria Muster – Praxisseitig geändert"
    assert ev.decoded("DTSTART") == dt.datetime(2026, 3, 10, 11, tzinfo=ev.decoded("DTSTART").tzinfo)
    assert [str(c) for c in ev["CATEGORIES"].cats] == ["Praxis", "Wichtig"]
    assert str(ev["CLASS"]) == "PRIVATE" and str(ev["X-DEVICE-FLAG"]) == "42"
    assert str(ev["URL"]) == "https://example.org/termin"
    alarms = ev.walk("VALARM")
    assert len(alarms) == 1 and str(alarms[0]["DESCRIPTION"]) == "Erinnerung"


def test_device_extras_naming_the_patient_stay_off_pseudonymized_devices(live, setup):
    user, appt, patient = setup
    cal, etag = get_event(live, user)
    ev = cal.walk("VEVENT")[0]
    ev.add("x-alt-desc", "<p>Anruf Maria Muster</p>", parameters={"FMTTYPE": "text/html"})
    ev.add("x-harmless", "bleibt")
    assert put_back(live, user, cal, etag).status_code == 204
    assert (
        b"X-ALT-DESC"
        in live.request("GET", calendar_path(user) + NAME, user=user.username, password=PASSWORD).content
    )
    api.update_practitioner(user, pseudonymize=True)
    data = live.request("GET", calendar_path(user) + NAME, user=user.username, password=PASSWORD).content
    # Pseudonymized views are built from an allowlist: no unknown property passes at all.
    assert b"Maria" not in data and b"Muster" not in data and b"X-HARMLESS" not in data
