"""Every entrance refuses what would later break a calendar (issue 22, items 1, 2, 4, 5).

Each reproducer is sent to the real server (SQLite and PostgreSQL): 403
CALDAV:valid-calendar-data with a reason, nothing stored. The JSON import and the data API
refuse the same values with a one-line message naming the record and field.
"""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from providers.practice import api, importer
from providers.practice.validation import InvalidValue, check_rrule
from tests.fuzz import nested
from tests.test_proppatch import NAME, ORDER, proppatch
from tests.test_proppatch import body as proppatch_body
from tests.two_way import PASSWORD, calendar_path, event, new_practitioner, snapshot

C = "{urn:ietf:params:xml:ns:caldav}"
D = "{DAV:}"
ICAL = {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("validate")


REFUSED = {
    "interval 0": event("i0", extra="RRULE:FREQ=DAILY;INTERVAL=0"),
    "impossible rule": event("feb30", extra="RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=2"),
    "impossible endless rule": event("feb30b", extra="RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
    "BYMONTH 13": event("m13", extra="RRULE:FREQ=YEARLY;BYMONTH=13"),
    "bell in SUMMARY": event("bell", summary="Ter\x07min"),
    "vertical tab in DESCRIPTION": event("vt", extra="DESCRIPTION:a@@b").replace("@@", "\x0b"),
    "nested 2000 deep": event("nested", extra=nested(2000)),
    "DURATION of 99999999 weeks": event("dur", end=None, extra="DURATION:P99999999W"),
    "DTSTART 9999-12-31 with DURATION": event(
        "late", start="99991231T230000", end=None, extra="DURATION:PT2H"
    ),
    "TZID of 500 characters": event("tz", tzid="Z" * 500),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_put_refuses_and_stores_nothing(live, user, case):
    before = snapshot(user)
    r = live.request(
        "PUT",
        calendar_path(user) + case.replace(" ", "-") + ".ics",
        REFUSED[case],
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    assert r.status_code == 403, r.text
    root = etree.fromstring(r.content)
    assert root[0].tag == C + "valid-calendar-data"
    assert root.findtext("{urn:praxis-caldav}message")
    assert snapshot(user) == before


def test_put_of_a_normal_series_still_works(live, user):
    body = event("weekly-ok", extra="RRULE:FREQ=MONTHLY;BYDAY=-1FR;COUNT=12")
    r = live.request(
        "PUT",
        calendar_path(user) + "weekly-ok.ics",
        body,
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    assert r.status_code == 201, r.text


def test_put_with_a_deep_but_allowed_nesting_works(live, user):
    r = live.request(
        "PUT",
        calendar_path(user) + "nest5.ics",
        event("nested", extra=nested(5)),
        user=user.username,
        password=PASSWORD,
        headers=ICAL,
    )
    assert r.status_code == 201, r.text


def test_proppatch_refuses_a_40_digit_order_and_a_control_character(live, user):
    before = snapshot(user)
    statuses = proppatch(live, user, proppatch_body({ORDER: "1" * 40}))
    assert statuses == {ORDER: 409}
    statuses = proppatch(live, user, proppatch_body({NAME: "Kal\x1bender"[:3] + "x"}))
    assert statuses == {NAME: 200}  # sanity: a plain name is set
    before = snapshot(user)
    raw = proppatch_body({NAME: "PLACEHOLDER"}).replace(b"PLACEHOLDER", b"Kal&#x1;ender")
    r = live.request(
        "PROPPATCH",
        calendar_path(user),
        raw,
        user=user.username,
        password=PASSWORD,
        headers={"Content-Type": "application/xml"},
    )
    # XML 1.0 cannot carry U+0001 at all: the body is refused as not well-formed.
    assert r.status_code == 400
    raw = proppatch_body({NAME: "PLACEHOLDER"}).replace(b"PLACEHOLDER", b"Kal\xc2\x85ender&#x7f;")
    statuses = proppatch(live, user, raw)
    assert statuses == {NAME: 409}
    assert snapshot(user) == before


def _import_doc(**appointment) -> dict:
    return {
        "practice": {"id": "val-practice", "name": "Praxis Validierung"},
        "practitioners": [{"id": "val-1", "username": "validierung eins", "password": "x"}],
        "patients": [{"id": "p1", "patient_number": "77", "first_name": "Maria", "last_name": "Muster"}],
        "appointments": [
            {
                "id": "a1",
                "practitioner": "val-1",
                "patient": "p1",
                "start": "2026-12-01T09:00",
                "end": "2026-12-01T10:00",
                **appointment,
            }
        ],
    }


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"patients": [{"id": "p1", "patient_number": "77", "first_name": "Geheimnis\u001bvoll"}]},
            "patients[0]: first_name: control character U+001B",
        ),
        (
            {
                "appointments": [
                    {
                        "id": "a1",
                        "practitioner": "val-1",
                        "start": "2026-12-01T09:00",
                        "end": "2026-12-01T10:00",
                        "rrule": "FREQ=DAILY;INTERVAL=0",
                    }
                ]
            },
            "appointments[0]: rrule: INTERVAL must be",
        ),
        (
            {
                "appointments": [
                    {
                        "id": "a1",
                        "practitioner": "val-1",
                        "start": "9999-12-31T09:00",
                        "end": "9999-12-31T10:00",
                    }
                ]
            },
            "appointments[0]: start: dates are limited",
        ),
        (
            {
                "appointments": [
                    {
                        "id": "a1",
                        "practitioner": "val-1",
                        "start": "2026-12-01T09:00",
                        "end": "2026-12-01T10:00",
                        "notes": "a\u0007b",
                    }
                ]
            },
            "appointments[0]: notes: control character U+0007",
        ),
        (
            {
                "appointments": [
                    {
                        "id": "a1",
                        "practitioner": "val-1",
                        "start": "2026-12-01T09:00",
                        "end": "2026-12-01T10:00",
                        "tzid": "Z" * 500,
                    }
                ]
            },
            "appointments[0].tzid: time zone names are limited",
        ),
    ],
)
def test_import_refuses_with_one_line_naming_the_path(live, change, message):
    doc = {**_import_doc(), **change}
    with pytest.raises(importer.ImportError_) as info:
        importer.import_data(doc)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text and "Geheimnis" not in text


def test_data_api_refuses_directly():
    practice = api.get_or_create_practice("Praxis API", "val-api")
    with pytest.raises(api.DataError, match="phone: control character"):
        api.upsert_patient(practice, "1", "A", "B", phone="0664\x00123")
    with pytest.raises(api.DataError, match="name: control character"):
        api.upsert_location(practice, "Raum\x0c1")


@pytest.mark.parametrize(
    "rule, ok",
    [
        ("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10", True),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", True),  # once in 28 years is fine
        ("FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR", True),
        ("FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=4", False),
        ("FREQ=DAILY;COUNT=0", False),
        ("FREQ=DAILY;BYHOUR=24", False),
        ("FREQ=WEEKLY;BYDAY=9MO", True),  # a position is ignored in WEEKLY by dateutil
        ("FREQ=MONTHLY;BYDAY=54MO", False),
        ("FREQ=DAILY;X-FOO=1", False),
        ("FREQ=DAILY;COUNT=2;UNTIL=20270101T000000Z", False),
        ("FREQ=DAILY;COUNT=10001", False),
        ("FREQ=DAILY;UNTIL=21000101T000000Z", False),
        ("FREQ=WEEKLY;UNTIL=21000101T000000Z", True),
    ],
)
def test_rule_checks(rule, ok):
    start = dt.datetime(2026, 3, 2, 9)
    if ok:
        check_rrule(rule, start)
    else:
        with pytest.raises(InvalidValue):
            check_rrule(rule, start)
