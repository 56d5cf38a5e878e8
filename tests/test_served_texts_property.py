"""Property: whatever Unicode the database holds in any text, every response is
well-formed XML and parseable iCalendar without control characters (issue 22, render-side
guarantee). Texts are written by SQL, as the practice software may, then read through GET,
multiget (fast path), calendar-query, sync-collection and PROPFIND on the real server.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from providers.practice import api
from providers.practice.models import Appointment, Location, Patient, Practice, Practitioner
from providers.sql import practitioner_cache
from tests.two_way import PASSWORD, calendar_path, new_practitioner

C = "urn:ietf:params:xml:ns:caldav"
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_revisions = itertools.count(20_000_000)
# PostgreSQL cannot store NUL in text at all; everything else may be there.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)


@pytest.fixture(scope="module")
def world(live):
    user = new_practitioner("anytext", pseudonymize=False, include_phone=True)
    patient = api.upsert_patient(user.practice, "9", "Maria", "Muster", phone="1")
    location = api.upsert_location(user.practice, "Raum", "Gasse 1")
    start = dt.datetime(2026, 3, 10, 10)
    fields = api.AppointmentFields(
        start, start + dt.timedelta(hours=1), location=location, rrule="FREQ=WEEKLY;COUNT=3"
    )
    appt = api.create_appointment(user, fields, patient=patient, uid="any")
    return user, patient, location, appt


def _device(extra: str, param: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:any\r\n"
        f"DTSTART:20260310T090000Z\r\nX-EXTRA;X-P={param}:{extra}\r\nCATEGORIES:{extra}\r\n"
        f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:{extra}\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _check(r) -> None:
    assert r.status_code < 500, r.text[:300]
    if r.headers.get("Content-Type", "").startswith("text/calendar"):
        texts = [r.content.decode("utf-8")]
    else:
        root = etree.fromstring(r.content)
        texts = [el.text or "" for el in root.iter(f"{{{C}}}calendar-data")]
        assert not any(CONTROL.search(el.text or "") for el in root.iter())
    for text in texts:
        assert not CONTROL.search(text.replace("\r\n", ""))
        assert "\r" not in text.replace("\r\n", "") and "\n" not in text.replace("\r\n", "")
        cal = icalendar.Calendar.from_ical(text)
        assert [c.name for c in cal.walk("VEVENT")]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.fixed_dictionaries({k: TEXT for k in "abcdefghijk"}), pseudonymize=st.booleans())
def test_any_stored_text_is_served_well_formed(live, world, texts, pseudonymize):
    user, patient, location, appt = world
    t = texts
    Appointment.update(
        subject=t["a"],
        notes=t["b"],
        location_text=t["c"] or None,
        device_ical=_device(t["d"], t["e"]),
        revision=next(_revisions),
    ).where(Appointment.id == appt.id).execute()
    Patient.update(first_name=t["f"], last_name=t["g"], phone=t["h"]).where(
        Patient.id == patient.id
    ).execute()
    Location.update(name=t["i"], address=t["j"]).where(Location.id == location.id).execute()
    Practitioner.update(display_name=t["k"], pseudonymize=pseudonymize).where(
        Practitioner.id == user.id
    ).execute()
    Practice.update(name=t["k"]).where(Practice.id == user.practice_id).execute()
    practitioner_cache.forget_all()
    path = calendar_path(user)
    href = path + appt.resource_name
    xml = {"Content-Type": "application/xml"}
    requests = [
        ("GET", href, None, {}),
        (
            "REPORT",
            path,
            f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{C}"><D:prop><D:getetag/>'
            f"<C:calendar-data/></D:prop><D:href>{href}</D:href></C:calendar-multiget>",
            xml,
        ),
        (
            "REPORT",
            path,
            f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}"><D:prop><D:getetag/>'
            '<C:calendar-data><C:expand start="20260101T000000Z" end="20270101T000000Z"/></C:calendar-data>'
            '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            '<C:time-range start="20260101T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
            "</C:calendar-query>",
            xml,
        ),
        (
            "REPORT",
            path,
            '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/>"
            "</D:prop></D:sync-collection>",
            xml,
        ),
        ("PROPFIND", path, '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>', {**xml, "Depth": "1"}),
        ("PROPFIND", f"/{api.url_segment(user.username)}/", None, {"Depth": "1"}),
    ]
    for method, target, body, headers in requests:
        _check(live.request(method, target, body, user=user.username, password=PASSWORD, headers=headers))
