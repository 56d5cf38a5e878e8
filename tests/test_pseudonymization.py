"""Pseudonymized sync: no patient name or phone reaches a device, and switching is safe any time.

A full client session runs through the leak scanner (every response byte, headers included,
and every log line), for a practice whose staff typed patient names into subjects, notes and
a home-visit location.
"""

from __future__ import annotations

import datetime as dt
import re

import caldav
import pytest

from davserver.config import ServerConfig
from providers.practice import api
from providers.practice.models import Patient
from tests.conftest import start_server
from tests.leak_scanner import LeakScanner

USER, PASSWORD = "clara pseudo", "pw-clara-1"

PATIENTS = [
    # (external id, number, first, last, phone)
    ("ps-1", "1042", "Maria", "Muster", "+43 664 1234567"),
    ("ps-2", "7", "Jürgen", "Öztürk", "+43 676 7654321"),
    ("ps-3", "2001", "Anna-Lena", "von Berg", "+43 1 5559876"),
]
SECRETS = [
    "Maria",
    "Muster",
    "+43 664 1234567",
    "Jürgen",
    "Öztürk",
    "+43 676 7654321",
    "Anna",
    "Lena",
    "Berg",
    "+43 1 5559876",
]


def _populate():
    practice = api.get_or_create_practice("Praxis Pseudo", "pseudo-practice")
    clara = api.create_practitioner(
        practice, USER, PASSWORD, display_name="Dr. Clara P", email="clara@example.org"
    )
    api.update_practitioner(clara, pseudonymize=True, include_phone=True)
    patients = [api.upsert_patient(practice, n, f, last, ph, ext) for ext, n, f, last, ph in PATIENTS]
    home = api.upsert_location(practice, "Hausbesuch bei Muster", "Gasse 3", "ps-loc")
    start = dt.datetime(2026, 12, 1, 9, 0)
    fields = [
        api.AppointmentFields(
            start,
            start + dt.timedelta(minutes=50),
            subject="Kontrolle Maria Muster",
            notes="Rückruf 0664/123 45 67",
            location=home,
        ),
        api.AppointmentFields(
            start + dt.timedelta(days=1),
            start + dt.timedelta(days=1, minutes=50),
            subject="Befund für Herrn Öztürk",
            notes="Jürgen bringt Röntgen mit",
            rrule="FREQ=WEEKLY;COUNT=5",
        ),
        api.AppointmentFields(
            start + dt.timedelta(days=2),
            start + dt.timedelta(days=2, minutes=50),
            subject="Erstgespräch",
            location_text="bei Anna-Lena von Berg zuhause",
        ),
    ]
    for patient, f in zip(patients, fields, strict=True):
        api.create_appointment(clara, f, patient=patient)
    return clara


@pytest.fixture(scope="module")
def scanned(db_url):
    scanner = LeakScanner(SECRETS)
    with scanner.debug_log():
        live = start_server(db_url, ServerConfig(), load_demo=False, wrap=scanner.wsgi)
        clara = _populate()
        try:
            yield live, scanner, clara
        finally:
            live.server.stop()


def _etags(live) -> dict[str, str]:
    body = live.request(
        "PROPFIND",
        f"/{USER.replace(' ', '_')}/calendar/",
        user=USER,
        password=PASSWORD,
        headers={"Depth": "1"},
        body='<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>',
    ).text
    pairs = re.findall(r"<D:href>([^<]+\.ics)</D:href>.*?<D:getetag>([^<]+)</D:getetag>", body, re.S)
    return dict(pairs)


def _ctag(live) -> str:
    body = live.request(
        "PROPFIND",
        f"/{USER.replace(' ', '_')}/calendar/",
        user=USER,
        password=PASSWORD,
        headers={"Depth": "0"},
        body='<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
        "<d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>",
    ).text
    return re.search(r"getctag[^>]*>([^<]+)<", body).group(1)


def test_full_caldav_session_leaks_nothing(scanned):
    live, scanner, _ = scanned
    client = caldav.DAVClient(url=live.base_url, username=USER, password=PASSWORD)
    (calendar,) = client.principal().calendars()
    events = calendar.search(
        start=dt.datetime(2026, 11, 1), end=dt.datetime(2027, 2, 1), event=True, expand=False
    )
    assert len(events) == 3
    texts = [e.data for e in events]
    assert any("MaMu 1042" in t for t in texts)
    assert any("JüÖz 7" in t for t in texts)
    expanded = calendar.search(
        start=dt.datetime(2026, 11, 1), end=dt.datetime(2027, 2, 1), event=True, expand=True
    )
    assert len(expanded) == 7  # 1 + 5 weekly + 1
    calendar.objects_by_sync_token(load_objects=True)
    # Error responses and a device-created event go through the scanner too.
    assert (
        live.request(
            "GET", f"/{USER.replace(' ', '_')}/calendar/nope.ics", user=USER, password=PASSWORD
        ).status_code
        == 404
    )
    calendar.save_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:dev-1\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART:20261210T100000Z\r\nDTEND:20261210T110000Z\r\n"
        "SUMMARY:Teambesprechung\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    scanner.assert_clean()


def test_session_in_clear_mode_is_caught_by_the_scanner(scanned):
    """The scanner is no blind check: with pseudonymization off, names do show up."""
    live, _, clara = scanned
    probe = LeakScanner(["Muster"])
    api.update_practitioner(clara, pseudonymize=False)
    try:
        for href in _etags(live):
            probe.record(live.request("GET", href, user=USER, password=PASSWORD).content, href)
        assert probe.leaks()
    finally:
        api.update_practitioner(clara, pseudonymize=True)


def test_switching_changes_every_etag_and_the_ctag(scanned):
    live, _, clara = scanned
    before, ctag_before = _etags(live), _ctag(live)
    api.update_practitioner(clara, pseudonymize=False)
    after, ctag_after = _etags(live), _ctag(live)
    assert set(before) == set(after) and len(before) >= 3
    assert all(before[h] != after[h] for h in before)
    assert ctag_before != ctag_after
    api.update_practitioner(clara, include_phone=False)
    assert all(after[h] != e for h, e in _etags(live).items())
    api.update_practitioner(clara, pseudonymize=True, include_phone=True)


def test_patient_rows_untouched_by_the_session(scanned):
    rows = {(p.first_name, p.last_name, p.phone) for p in Patient.select()}
    assert {(f, last, ph) for _, _, f, last, ph in PATIENTS} <= rows
