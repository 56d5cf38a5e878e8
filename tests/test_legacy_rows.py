"""Rows that bypassed validation (old versions, direct SQL by the practice software) never
break a response (issue 22: "a stored legacy row of each harmful kind no longer breaks any
request"). Each kind is written by SQL, then every read a client makes is sent to the real
server on SQLite and PostgreSQL: no 5xx, well-formed XML, parseable iCalendar without
control characters, and an answer within seconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import time

import icalendar
import pytest
from lxml import etree

from providers.practice import api
from providers.practice.models import Appointment, Patient, Practitioner
from tests.fuzz import nested
from tests.two_way import PASSWORD, calendar_path, new_practitioner

D, C = "DAV:", "urn:ietf:params:xml:ns:caldav"
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_revisions = itertools.count(10_000_000)


def _device(uid: str, inner: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//legacy//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTART:20260310T100000Z\r\n{inner}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


# kind -> (Appointment columns, Patient columns, Practitioner columns) written by SQL
KINDS = {
    "bell in subject": ({"subject": "Ter\x07min"}, {}, {}),
    "vertical tab in notes": ({"notes": "a\x0bb\x0cc"}, {}, {}),
    "escape in location": ({"location_text": "Raum\x1b1"}, {}, {}),
    "escape in patient name": ({}, {"first_name": "Geheimnis\x1bvoll"}, {}),
    "noncharacter in subject": ({"subject": "a\ufffeb\uffff"}, {}, {}),
    "control in device extra": (
        {"device_ical": _device("U", "X-FOO:a\x07b\r\nCATEGORIES:x\x01y\r\n")},
        {},
        {},
    ),
    "device extra nested 2000 deep": ({"device_ical": _device("U", nested(2000))}, {}, {}),
    "device extra not iCalendar": ({"device_ical": "\x01garbage\r\nBEGIN:VEVENT"}, {}, {}),
    "INTERVAL=0": ({"rrule": "FREQ=DAILY;INTERVAL=0", "is_recurring": True}, {}, {}),
    "impossible rule": ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "is_recurring": True}, {}, {}),
    "impossible counted rule": (
        {"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=2", "is_recurring": True},
        {},
        {},
    ),
    "garbage rule": ({"rrule": "FREQ=SOMETIMES;;=", "is_recurring": True}, {}, {}),
    "garbage exdates": ({"exdates": "nope", "rrule": "FREQ=DAILY", "is_recurring": True}, {}, {}),
    "year 9999": (
        {"start_local": dt.datetime(9999, 12, 31, 22), "end_local": dt.datetime(9999, 12, 31, 23)},
        {},
        {},
    ),
    "ends in 9999": ({"end_local": dt.datetime(9999, 12, 31, 23, 59)}, {}, {}),
    "unknown zone": ({"tzid": "Mars/Olympus_Mons"}, {}, {}),
    "control in display name": ({}, {}, {"display_name": "Dr\x07 Who", "calendar_displayname": None}),
}


def _legacy_practitioner(kind: str):
    """A practitioner whose calendar holds one normal series and one harmful row."""
    appt_cols, patient_cols, user_cols = KINDS[kind]
    user = new_practitioner("legacy")
    practice = user.practice
    patient = api.upsert_patient(practice, f"p{user.id}", "Maria", "Muster", phone="0664 1")
    start = dt.datetime(2026, 3, 10, 10)
    fields = api.AppointmentFields(start, start + dt.timedelta(hours=1), subject="normal")
    api.create_appointment(user, fields, patient=patient)
    fields = api.AppointmentFields(start, start + dt.timedelta(hours=1), subject="harmful")
    appt = api.create_appointment(user, fields, patient=patient, uid="U")
    if appt_cols:
        Appointment.update(revision=next(_revisions), **appt_cols).where(Appointment.id == appt.id).execute()
    if patient_cols:
        Patient.update(**patient_cols).where(Patient.id == patient.id).execute()
        Appointment.update(revision=next(_revisions)).where(Appointment.id == appt.id).execute()
    if user_cols:
        Practitioner.update(**user_cols).where(Practitioner.id == user.id).execute()
    return user, appt.resource_name


@pytest.fixture(scope="module")
def legacy_rows(live) -> dict:
    """Every kind at once, each in its own practitioner's calendar (so one cannot hide another).

    Built per server rather than as a module fixture parametrized by kind: two parametrized
    module fixtures made pytest interleave them and start the server and database 31 times.
    """
    return {kind: _legacy_practitioner(kind) for kind in sorted(KINDS)}


@pytest.fixture(params=sorted(KINDS))
def legacy(legacy_rows, request):
    """The practitioner and harmful resource of one kind."""
    return legacy_rows[request.param]


def _range(start="20260101T000000Z", end="20270101T000000Z") -> str:
    return f'<C:time-range start="{start}" end="{end}"/>'


def _query(inner: str, data: str = "<C:calendar-data/>") -> str:
    return (
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}"><D:prop><D:getetag/>{data}</D:prop>'
        f'<C:filter><C:comp-filter name="VCALENDAR">{inner}</C:comp-filter></C:filter></C:calendar-query>'
    )


VEVENT_IN_RANGE = f'<C:comp-filter name="VEVENT">{_range()}</C:comp-filter>'
REPORTS = {
    "query plain": _query(VEVENT_IN_RANGE),
    "query open end": _query(
        '<C:comp-filter name="VEVENT"><C:time-range start="20260101T000000Z"/></C:comp-filter>'
    ),
    "query text": _query(
        '<C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">'
        '<C:text-match negate-condition="yes">zzz</C:text-match></C:prop-filter></C:comp-filter>'
    ),
    "query expand": _query(
        VEVENT_IN_RANGE,
        '<C:calendar-data><C:expand start="20260101T000000Z" end="20270101T000000Z"/></C:calendar-data>',
    ),
    "query limit-recurrence-set": _query(
        VEVENT_IN_RANGE,
        '<C:calendar-data><C:limit-recurrence-set start="20260101T000000Z" end="20270101T000000Z"/>'
        "</C:calendar-data>",
    ),
    "query all": _query(""),
    "sync": '<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token/>'
    "<D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>",
    "free-busy": f'<C:free-busy-query xmlns:C="{C}">{_range()}</C:free-busy-query>',
}
PROPFIND_MEMBERS = '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:displayname/></D:prop></D:propfind>'


def _check_answer(r, started: float) -> None:
    assert r.status_code < 500, r.text[:500]
    assert time.monotonic() - started < 10
    texts = []
    if "xml" in r.headers.get("Content-Type", ""):
        root = etree.fromstring(r.content)
        texts = [el.text or "" for el in root.iter(f"{{{C}}}calendar-data")]
        for el in root.iter():
            assert not CONTROL.search(el.text or ""), el.tag
    elif r.headers.get("Content-Type", "").startswith("text/calendar"):
        texts = [r.content.decode("utf-8")]
    for text in texts:
        assert not CONTROL.search(text.replace("\r\n", "").replace("\n", ""))
        icalendar.Calendar.from_ical(text)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_reports(live, legacy, name):
    user, _ = legacy
    started = time.monotonic()
    r = live.request(
        "REPORT",
        calendar_path(user),
        REPORTS[name],
        user=user.username,
        password=PASSWORD,
        headers={"Content-Type": "application/xml", "Depth": "1"},
    )
    _check_answer(r, started)


def test_multiget_get_and_propfind(live, legacy):
    user, name = legacy
    href = calendar_path(user) + name
    requests = [
        (
            "REPORT",
            calendar_path(user),
            f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{C}"><D:prop><D:getetag/><C:calendar-data/>'
            f"</D:prop><D:href>{href}</D:href></C:calendar-multiget>",
            "1",
        ),
        ("GET", href, None, "0"),
        ("PROPFIND", calendar_path(user), PROPFIND_MEMBERS, "1"),
        ("PROPFIND", calendar_path(user), '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>', "1"),
        ("PROPFIND", f"/{api.url_segment(user.username)}/", PROPFIND_MEMBERS, "1"),
    ]
    for method, path, body, depth in requests:
        started = time.monotonic()
        r = live.request(
            method,
            path,
            body,
            user=user.username,
            password=PASSWORD,
            headers={"Content-Type": "application/xml", "Depth": depth},
        )
        _check_answer(r, started)
        assert r.status_code in (200, 207), (method, path, r.status_code)
