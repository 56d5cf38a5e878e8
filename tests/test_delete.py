"""DELETE from a device: cancel (default) or delete the row, gone from every device either
way; If-Match honoured; a later PUT to the URL revives a cancelled appointment."""

from __future__ import annotations

import datetime as dt

import pytest

from providers.practice import api
from providers.practice.models import STATUS_CANCELLED, Appointment, AppointmentOverride, Change
from tests.two_way import (
    ICAL,
    PASSWORD,
    calendar,
    calendar_path,
    event,
    new_practitioner,
    row,
    settings_of,
    snapshot,
    vevent,
)


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("delete")


def req(live, user, method, name, body=None, headers=None):
    return live.request(
        method,
        calendar_path(user) + name,
        body,
        user=user.username,
        password=PASSWORD,
        headers={**ICAL, **(headers or {})},
    )


def create(live, user, uid, body=None) -> str:
    assert req(live, user, "PUT", uid + ".ics", body or event(uid)).status_code == 201
    return req(live, user, "GET", uid + ".ics").headers["ETag"]


def listed(live, user) -> bytes:
    r = live.request(
        "PROPFIND", calendar_path(user), b"", user=user.username, password=PASSWORD, headers={"Depth": "1"}
    )
    assert r.status_code == 207
    return r.content


def test_delete_cancels_and_hides(live, user):
    etag = create(live, user, "gone")
    assert b"gone.ics" in listed(live, user)
    response = req(live, user, "DELETE", "gone.ics", headers={"If-Match": etag})
    assert response.status_code == 204
    assert req(live, user, "GET", "gone.ics").status_code == 404
    assert b"gone.ics" not in listed(live, user)
    assert row(user, "gone").status == STATUS_CANCELLED  # the practice keeps the record
    last = Change.select().where(Change.practitioner == user.id).order_by(Change.id.desc()).get()
    assert (last.resource_name, last.deleted) == ("gone.ics", True)
    assert req(live, user, "DELETE", "gone.ics").status_code == 404


def test_delete_mode_removes_the_row_with_its_overrides(live, user):
    body = calendar(
        vevent("series", extra="RRULE:FREQ=DAILY;COUNT=3"),
        vevent(
            "series",
            start="20260311T120000",
            end="20260311T130000",
            extra="RECURRENCE-ID;TZID=Europe/Vienna:20260311T100000",
        ),
    )
    create(live, user, "series", body)
    appt_id = row(user, "series").id
    settings = settings_of(live)
    settings.delete_mode = "delete"
    try:
        assert req(live, user, "DELETE", "series.ics").status_code == 204
    finally:
        settings.delete_mode = "cancel"
    assert row(user, "series") is None
    assert AppointmentOverride.select().where(AppointmentOverride.appointment == appt_id).count() == 0


@pytest.mark.parametrize("case", ["stale", "missing", "missing-star"])
def test_if_match_failures_change_nothing(live, user, case):
    name = "kept.ics"
    if row(user, "kept") is None:
        create(live, user, "kept")
    headers = {
        "stale": {"If-Match": '"1-cn"'},
        "missing": {"If-Match": '"1-cn"'},
        "missing-star": {"If-Match": "*"},
    }[case]
    target = name if case == "stale" else "nothing-here.ics"
    before = snapshot(user)
    assert req(live, user, "DELETE", target, headers=headers).status_code == 412
    assert snapshot(user) == before


@pytest.mark.parametrize(
    "where,status",
    [
        ("calendar", 403),
        ("home", 403),
        ("foreign", 404),
        ("unknown", 404),
        ("deeper", 409),
    ],
)
def test_delete_outside_an_object(live, user, where, status):
    other = new_practitioner("delete-other") if where == "foreign" else None
    path = {
        "calendar": calendar_path(user),
        "home": f"/{api.url_segment(user.username)}/",
        "foreign": calendar_path(other) + "x.ics" if other else "",
        "unknown": calendar_path(user) + "unknown.ics",
        "deeper": calendar_path(user) + "a/b.ics",
    }[where]
    before = snapshot(user)
    r = live.request("DELETE", path, user=user.username, password=PASSWORD)
    assert r.status_code == status
    assert snapshot(user) == before


def test_read_only_calendar(live):
    reader = new_practitioner("delete-ro")
    api.create_appointment(
        reader,
        api.AppointmentFields(start_local=dt.datetime(2026, 3, 1, 9), end_local=dt.datetime(2026, 3, 1, 10)),
        uid="ro",
        resource_name="ro.ics",
    )
    api.update_practitioner(reader, direction="server-to-device")
    before = snapshot(reader)
    r = req(live, reader, "DELETE", "ro.ics")
    assert r.status_code == 403 and b"need-privileges" in r.content
    assert snapshot(reader) == before


def test_put_revives_a_cancelled_practice_appointment(live, user):
    patient = api.upsert_patient(user.practice, f"D{user.id}", "Eva", "Beispiel")
    appt = api.create_appointment(
        user,
        api.AppointmentFields(
            start_local=dt.datetime(2026, 3, 2, 9), end_local=dt.datetime(2026, 3, 2, 10), subject="Kontrolle"
        ),
        patient=patient,
        uid="revive",
        resource_name="revive.ics",
    )
    old = req(live, user, "GET", "revive.ics").content
    assert req(live, user, "DELETE", "revive.ics").status_code == 204
    response = req(live, user, "PUT", "revive.ics", old, {"If-None-Match": "*"})
    assert response.status_code == 201
    revived = Appointment.get_by_id(appt.id)
    assert (revived.status, revived.patient_id, revived.subject) == ("confirmed", patient.id, "Kontrolle")
    assert req(live, user, "GET", "revive.ics").status_code == 200


def test_new_object_at_a_cancelled_url_keeps_the_old_record(live, user):
    create(live, user, "slot")
    old_id = row(user, "slot").id
    assert req(live, user, "DELETE", "slot.ics").status_code == 204
    response = req(live, user, "PUT", "slot.ics", event("other-object"), {"If-None-Match": "*"})
    assert response.status_code == 201
    parked = Appointment.get_by_id(old_id)
    assert parked.status == STATUS_CANCELLED and parked.resource_name != "slot.ics"
    assert row(user, "other-object").resource_name == "slot.ics"


def test_cancelled_uid_comes_back_at_a_new_url(live, user):
    create(live, user, "moving")
    old_id = row(user, "moving").id
    assert req(live, user, "DELETE", "moving.ics").status_code == 204
    response = req(live, user, "PUT", "moving-new.ics", event("moving"), {"If-None-Match": "*"})
    assert response.status_code == 201
    moved = row(user, "moving")
    assert (moved.id, moved.resource_name, moved.status) == (old_id, "moving-new.ics", "confirmed")


def test_served_cancelled_appointments_stay_visible(live, user):
    etag = create(live, user, "visible-cancel")
    settings = settings_of(live)
    settings.serve_cancelled = True
    try:
        assert req(live, user, "DELETE", "visible-cancel.ics", headers={"If-Match": etag}).status_code == 204
        fetched = req(live, user, "GET", "visible-cancel.ics")
        assert fetched.status_code == 200 and b"STATUS:CANCELLED" in fetched.content
    finally:
        settings.serve_cancelled = False
    assert req(live, user, "GET", "visible-cancel.ics").status_code == 404
