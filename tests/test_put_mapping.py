"""Device iCalendar -> practice rows: device-created events, what real clients bend (times,
zones, missing properties), ETags after PUT, and the stored form a device reads back."""

from __future__ import annotations

import datetime as dt

import icalendar
import pytest

from davserver.ical import device_extras
from providers.practice import api
from providers.practice.models import Appointment
from tests.two_way import ICAL, PASSWORD, calendar, calendar_path, event, new_practitioner, row, settings_of

OUTLOOK_TZ = """BEGIN:VTIMEZONE
TZID:{name}
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:{dst}
TZOFFSETTO:{std}
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:{std}
TZOFFSETTO:{dst}
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""
FIXED_TZ = """BEGIN:VTIMEZONE
TZID:{name}
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:{offset}
TZOFFSETTO:{offset}
END:STANDARD
END:VTIMEZONE
"""


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("mapping")


def put(live, user, name, body, headers=None):
    return live.request(
        "PUT",
        calendar_path(user) + name,
        body,
        user=user.username,
        password=PASSWORD,
        headers={**ICAL, **(headers or {})},
    )


def get(live, user, name):
    return live.request("GET", calendar_path(user) + name, user=user.username, password=PASSWORD)


def with_tz(tz_block: str, uid: str, tzid: str, **kwargs) -> str:
    body = event(uid, tzid=tzid, **kwargs)
    return body.replace("BEGIN:VEVENT", tz_block.replace("\n", "\r\n") + "BEGIN:VEVENT", 1)


def test_device_created_event_becomes_an_appointment_without_patient(live, user):
    body = event(
        "created-1",
        summary="Supervision",
        extra="""LOCATION:Seminarraum 2
DESCRIPTION:Unterlagen\\, Laptop\\nmitnehmen
STATUS:TENTATIVE""",
    )
    response = put(live, user, "created-1.ics", body, {"If-None-Match": "*"})
    assert response.status_code == 201
    # Stored as sent: the device's own form is served back, so PUT gives the ETag (§5.3.4).
    fetched = get(live, user, "created-1.ics")
    assert response.headers["ETag"] == fetched.headers["ETag"] and fetched.content == body.encode()
    appt = row(user, "created-1")
    assert appt.resource_name == "created-1.ics" and appt.uid == "created-1"
    assert appt.patient_id is None and appt.location_id is None
    assert (appt.subject, appt.location_text, appt.notes) == (
        "Supervision",
        "Seminarraum 2",
        "Unterlagen, Laptop\nmitnehmen",
    )
    assert appt.status == "tentative"
    assert (appt.start_local, appt.end_local, appt.tzid, appt.all_day) == (
        dt.datetime(2026, 3, 10, 10),
        dt.datetime(2026, 3, 10, 11),
        "Europe/Vienna",
        False,
    )
    fetched = get(live, user, "created-1.ics")
    assert fetched.status_code == 200
    ev = icalendar.Calendar.from_ical(fetched.content).walk("VEVENT")[0]
    assert str(ev["SUMMARY"]) == "Supervision" and str(ev["UID"]) == "created-1"


@pytest.mark.parametrize("case", ["all-day", "floating", "utc", "duration", "no-end", "no-dtstamp"])
def test_what_clients_bend_is_accepted(live, user, case):
    uid = f"bend-{case}"
    bodies = {
        "all-day": event(uid, start="20260320", end=None, tzid=None).replace(
            "DTSTART:", "DTSTART;VALUE=DATE:"
        ),
        "floating": event(uid, tzid=None),
        "utc": event(uid, start="20260310T090000Z", end="20260310T100000Z", tzid=None),
        "duration": event(uid, end=None, extra="DURATION:PT45M"),
        "no-end": event(uid, end=None),
        "no-dtstamp": event(uid).replace("DTSTAMP:20260301T000000Z\r\n", ""),
    }
    assert put(live, user, uid + ".ics", bodies[case]).status_code == 201
    appt = row(user, uid)
    expected = {
        "all-day": (dt.datetime(2026, 3, 20), dt.datetime(2026, 3, 21), None, True),
        "floating": (dt.datetime(2026, 3, 10, 10), dt.datetime(2026, 3, 10, 11), None, False),
        "utc": (dt.datetime(2026, 3, 10, 9), dt.datetime(2026, 3, 10, 10), "UTC", False),
        "duration": (dt.datetime(2026, 3, 10, 10), dt.datetime(2026, 3, 10, 10, 45), "Europe/Vienna", False),
        "no-end": (dt.datetime(2026, 3, 10, 10), dt.datetime(2026, 3, 10, 10), "Europe/Vienna", False),
        "no-dtstamp": (dt.datetime(2026, 3, 10, 10), dt.datetime(2026, 3, 10, 11), "Europe/Vienna", False),
    }[case]
    assert (appt.start_local, appt.end_local, appt.tzid, appt.all_day) == expected
    assert get(live, user, uid + ".ics").status_code == 200


def _instant(appt: Appointment) -> dt.datetime:
    from zoneinfo import ZoneInfo

    zone = dt.UTC if appt.tzid == "UTC" else ZoneInfo(appt.tzid)
    return appt.start_local.replace(tzinfo=zone).astimezone(dt.UTC)


@pytest.mark.parametrize(
    "name,block,expected_tzid,utc_start",
    [
        (
            "W. Europe Standard Time",
            OUTLOOK_TZ.format(name="W. Europe Standard Time", std="+0100", dst="+0200"),
            "Europe/Berlin",
            9,
        ),
        (
            "Mitteleuropa (eigene)",
            OUTLOOK_TZ.format(name="Mitteleuropa (eigene)", std="+0100", dst="+0200"),
            "Europe/Vienna",
            9,
        ),
        ("India custom", FIXED_TZ.format(name="India custom", offset="+0530"), None, 4),
        ("Odd offset", FIXED_TZ.format(name="Odd offset", offset="+0123"), "UTC", 8),
        ("/vendor.example/Europe/London", "", "Europe/London", 10),
        ("Nowhere/Unknown", "", None, None),
    ],
)
def test_device_time_zones_map_to_iana_or_utc(live, user, name, block, expected_tzid, utc_start):
    uid = "tz-" + "".join(c for c in name if c.isalnum())
    assert put(live, user, uid + ".ics", with_tz(block, uid, name)).status_code == 201
    appt = row(user, uid)
    if utc_start is None:  # unknown name, no VTIMEZONE: the wall clock, floating
        assert (appt.tzid, appt.start_local) == (None, dt.datetime(2026, 3, 10, 10))
        return
    if expected_tzid is not None:
        assert appt.tzid == expected_tzid
    assert _instant(appt).hour == utc_start and _instant(appt).minute in (0, 30, 37)
    rendered = get(live, user, uid + ".ics").content
    assert name.encode() not in rendered  # every TZID we serve has our own VTIMEZONE


def test_identical_reupload_keeps_revision_and_returns_the_etag(live, user):
    assert put(live, user, "same.ics", event("same")).status_code == 201
    fetched = get(live, user, "same.ics")
    revision = row(user, "same").revision
    response = put(live, user, "same.ics", fetched.content, {"If-Match": fetched.headers["ETag"]})
    assert response.status_code == 204
    assert response.headers["ETag"] == fetched.headers["ETag"]
    assert row(user, "same").revision == revision


def test_changed_upload_stored_as_sent_returns_the_etag(live, user):
    assert put(live, user, "as-sent.ics", event("as-sent")).status_code == 201
    etag = get(live, user, "as-sent.ics").headers["ETag"]
    body = event("as-sent", summary="Neu", extra="X-CLIENT-ONLY;X-B=2;X-A=1:1")
    response = put(live, user, "as-sent.ics", body, {"If-Match": etag})
    assert response.status_code == 204
    fetched = get(live, user, "as-sent.ics")
    assert fetched.headers["ETag"] == response.headers["ETag"] != etag
    assert fetched.content == body.encode()


@pytest.mark.parametrize(
    "change",
    [
        dict(summary="Neu  "),  # trailing blanks are not stored
        dict(tzid="W. Europe Standard Time"),  # served as the IANA zone it maps to
        dict(extra="LOCATION:" + "x" * 400),  # cut to the column
    ],
)
def test_changed_upload_not_stored_as_sent_has_no_etag_and_get_returns_stored_form(live, user, change):
    change = dict(change)
    name = f"stored-{sorted(change)[0]}.ics"
    assert put(live, user, name, event(name)).status_code == 201
    etag = get(live, user, name).headers["ETag"]
    body = event(name, extra="X-CLIENT-ONLY:1\n" + change.pop("extra", ""), **change)
    response = put(live, user, name, body, {"If-Match": etag})
    assert response.status_code == 204 and "ETag" not in response.headers
    fetched = get(live, user, name)
    assert fetched.headers["ETag"] != etag and fetched.content != body.encode()
    ev = icalendar.Calendar.from_ical(fetched.content).walk("VEVENT")[0]
    assert str(ev["X-CLIENT-ONLY"]) == "1"
    assert "LAST-MODIFIED" in ev and "DTSTAMP" in ev


def test_uid_of_a_resource_is_never_rewritten(live, user):
    body = event("Keep-This_UID@device.example")
    assert put(live, user, "Mixed%20Case+name.ics", body).status_code == 201
    appt = row(user, "Keep-This_UID@device.example")
    assert appt.resource_name == "Mixed Case+name.ics"
    fetched = get(live, user, "Mixed%20Case+name.ics")
    assert b"UID:Keep-This_UID@device.example" in fetched.content


def test_long_text_and_unicode_round_trip(live, user):
    summary = "Gespräch über Ärztekammer – Öffnungszeiten ✓ " + "x" * 200
    body = event("unicode", summary=summary, extra="LOCATION:" + "Straße " * 60)
    assert put(live, user, "unicode.ics", body).status_code == 201
    appt = row(user, "unicode")
    assert appt.subject == summary and len(appt.location_text) <= 300
    assert get(live, user, "unicode.ics").status_code == 200


def test_calendar_of_one_with_x_components_is_kept(live, user):
    body = calendar(
        event("xcomp").split("PRODID:-//tests//two-way//EN\r\n")[1].replace("END:VCALENDAR\r\n", ""),
        "BEGIN:X-PRAXIS-NOTE\r\nX-NOTE:kept\r\nEND:X-PRAXIS-NOTE\r\n",
    )
    assert put(live, user, "xcomp.ics", body).status_code == 201
    assert b"X-NOTE:kept" in get(live, user, "xcomp.ics").content


def test_events_with_the_same_device_extras_share_one_parse_and_keep_their_own_data(live, user):
    """Devices send the same alarm and categories with many events: the extras are parsed
    once per distinct text, and every object still renders its own UID, times and alarm."""
    alarm = (
        "CATEGORIES:Praxis\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Erinnerung\r\n"
        "TRIGGER:-PT15M\r\nEND:VALARM"
    )
    names = []
    for i, start in enumerate(("20260311T090000", "20260312T140000")):
        name = f"shared-extras-{i}.ics"
        body = event(
            f"shared-extras-{i}", summary=f"Termin {i}", start=start, end=start[:9] + "235900", extra=alarm
        )
        assert put(live, user, name, body).status_code == 201
        names.append(name)
        appt = row(user, f"shared-extras-{i}")  # the practice edits it: rendered from the row
        fields = api.AppointmentFields(appt.start_local, appt.end_local, subject=f"Termin {i}!")
        api.update_appointment(appt, fields)
    settings_of(live).render_cache.clear()  # rendered on write: render again on read
    device_extras._parse_extras.cache_clear()
    served = [icalendar.Calendar.from_ical(get(live, user, n).content) for n in names]
    info = device_extras._parse_extras.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    for i, cal in enumerate(served):
        (vevent,) = cal.walk("VEVENT")
        assert str(vevent["UID"]) == f"shared-extras-{i}"
        assert str(vevent["SUMMARY"]) == f"Termin {i}!"
        assert vevent.decoded("DTSTART").day == 11 + i
        assert [str(a["TRIGGER"].to_ical(), "ascii") for a in vevent.walk("VALARM")] == ["-PT15M"]
        assert vevent.get("CATEGORIES").cats == ["Praxis"]
