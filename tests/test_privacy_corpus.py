"""Privacy by construction (issue 15): a practice built from a hostile corpus, every rendering
of every policy, full client sessions and the server log, through the leak scanner."""

from __future__ import annotations

import datetime as dt
import logging
import re
from zoneinfo import ZoneInfo

import icalendar
import pytest

from davserver.config import ServerConfig
from davserver.ical import privacy_allowlist
from davserver.ical.render import RenderPolicy, render_appointment
from davserver.ical.representation import policy_for
from providers.practice import api, opaque_names, store
from providers.practice.models import Practice
from providers.sql import practitioner_cache
from tests import privacy_corpus as corpus
from tests.conftest import start_server
from tests.leak_scanner import LeakScanner
from tests.two_way import PASSWORD, calendar_path, new_practitioner

PHONES = [phone for *_, phone in corpus.PATIENTS]


def _scanner(extra: list[str] | None = None) -> LeakScanner:
    return LeakScanner(corpus.SECRETS + corpus.EXTRA_SECRETS + (extra or []))


@pytest.fixture(scope="module")
def practice(live):
    owner = new_practitioner("corpus")
    rows = corpus.build(owner, owner.practice)
    delegate = api.create_practitioner(
        owner.practice, f"corpus delegate {owner.id}", PASSWORD, email="corpus-delegate@example.org"
    )
    api.update_practitioner(delegate, pseudonymize=True)
    api.grant_access(owner, delegate, can_write=False)
    return owner, delegate, rows


def _loaded(owner, name):
    return store.load_one(owner.id, name, True)


def _renderings(owner, rows, policy):
    for row in rows:
        yield row.resource_name, render_appointment(_loaded(owner, row.resource_name), policy)


def test_every_pseudonymized_rendering_holds_no_name_phone_or_address(practice):
    owner, _, rows = practice
    fresh = api.find_practitioner(owner.username)
    for phone in (False, True):
        api.update_practitioner(fresh, pseudonymize=True, include_phone=phone)
        policy = policy_for(api.find_practitioner(owner.username), fresh)
        assert policy.pseudonymize and policy.names is not None
        scanner = _scanner()
        for name, data in _renderings(owner, rows, policy):
            scanner.record(data, f"{policy.tag} {name}")
            assert corpus.LANDLINE.encode() not in data
        scanner.assert_clean()
    api.update_practitioner(fresh, pseudonymize=False, include_phone=False)


def test_pseudonymized_rendering_is_built_from_the_allowlist_only(practice):
    owner, _, rows = practice
    policy = RenderPolicy(True, False)
    allowed = {"BEGIN", "END", "VERSION", "PRODID"}
    allowed |= set(privacy_allowlist.SERVER_PROPERTIES)
    allowed |= set(privacy_allowlist.EVENT_EXTRAS)
    allowed |= set(privacy_allowlist.ALARM_PROPERTIES)
    allowed |= {"DESCRIPTION"}  # alarms only: the event's own summary (checked below)
    for name, data in _renderings(owner, rows, policy):
        cal = icalendar.Calendar.from_ical(data)
        components = {c.name for c in cal.walk()}
        assert components <= {"VCALENDAR", "VEVENT", "VALARM", "VTIMEZONE", "STANDARD", "DAYLIGHT"}, name
        for event in cal.walk("VEVENT"):
            assert "DESCRIPTION" not in event, name
            props = {p for p, _ in event.property_items(recursive=True)}
            assert props <= allowed | {"TZID", "TZOFFSETFROM", "TZOFFSETTO", "TZNAME", "DTSTART"}, (
                name,
                props - allowed,
            )
            for alarm in event.walk("VALARM"):
                assert str(alarm["ACTION"]) in ("DISPLAY", "AUDIO")
                if "DESCRIPTION" in alarm:
                    assert str(alarm["DESCRIPTION"]) == str(event["SUMMARY"])
                assert "X-WR-ALARMUID" not in alarm  # "maria-muster-alarm" names a patient
            if "COLOR" in event:
                assert str(event["COLOR"]) == "turquoise"  # "Muster" is a name, not a colour


def test_device_extras_pass_in_clear_views_with_today_s_fidelity(practice):
    owner, _, rows = practice
    data = render_appointment(_loaded(owner, rows[0].resource_name), RenderPolicy(False, True))
    for kept in (b"ATTENDEE", b"X-ALT-DESC", b"BEGIN:X-PATIENT", b"X-APPLE-STRUCTURED-LOCATION", b"Maria"):
        assert kept in data


def test_clear_view_without_phone_masks_every_phone_like_number(practice):
    owner, _, rows = practice
    scanner = LeakScanner(PHONES)
    for name, data in _renderings(owner, rows, RenderPolicy(False, False)):
        scanner.record(data, f"clear {name}")
        assert corpus.LANDLINE.encode() not in data
    scanner.assert_clean()
    data = render_appointment(_loaded(owner, rows[0].resource_name), RenderPolicy(False, False))
    assert b"Maria Muster" in data  # names stay in clear mode


def test_home_visit_shows_the_fixed_word_and_free_text_locations_are_left_out(practice):
    owner, _, rows = practice
    policy = policy_for(owner, api.find_practitioner(owner.username))
    policy = RenderPolicy(True, False, policy.names_version, policy.names)
    locations = {}
    for name, data in _renderings(owner, rows, policy):
        event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
        locations[name] = str(event.get("LOCATION", ""))
    assert locations[corpus.DEVICE_NAMED[0]] == "Hausbesuch"  # "Hausbesuch Familie Öztürk"
    assert locations["corpus-2.ics"] == "Praxis am Park"
    assert locations["corpus-4.ics"] == ""  # free text "bei Quellenstraße 88/14"


def test_subjects_name_other_patients_by_their_pseudonym(practice):
    owner, _, rows = practice
    policy = policy_for(owner, owner)
    policy = RenderPolicy(True, False, policy.names_version, policy.names)
    summaries = {}
    for name, data in _renderings(owner, rows, policy):
        summaries[name] = str(icalendar.Calendar.from_ical(data).walk("VEVENT")[0]["SUMMARY"])
    assert summaries["corpus-0.ics"] == "Telefonat mit … wegen Befund"  # two Maria Musters
    assert summaries["corpus-2.ics"] == "JüÖz 7 – Befund für Herrn JüÖz 7"
    assert summaries["corpus-6.ics"] == "LW 1008 – LW 1008 Kontrolle"
    assert summaries["corpus-14.ics"] == "Teambesprechung"


def test_a_new_patient_named_in_an_old_subject_republishes_it(practice):
    owner, _, rows = practice
    before = _loaded(owner, "corpus-14.ics").revision
    other = _loaded(owner, "corpus-3.ics").revision
    patient = api.upsert_patient(owner.practice, "1099", "Team", "Besprechung", None, "h-99")
    try:
        assert _loaded(owner, "corpus-14.ics").revision > before  # "Teambesprechung" mentions it
        assert _loaded(owner, "corpus-3.ics").revision == other
        policy = policy_for(api.find_practitioner(owner.username), owner)
        policy = RenderPolicy(True, False, policy.names_version, policy.names)
        data = render_appointment(_loaded(owner, "corpus-14.ics"), policy)
        assert b"Teambesprechung" not in data
    finally:
        _remove_patient(patient)


def _remove_patient(patient) -> None:
    """Take the test's patient away again (the data API deletes no patients: the practice
    software never does), moving the practice's names version as a change of names would."""
    patient.delete_instance()
    Practice.update(names_version=Practice.names_version + 1).where(
        Practice.id == patient.practice_id
    ).execute()
    practitioner_cache.forget_all()


@pytest.fixture(scope="module")
def session(db_url):
    scanner = _scanner()
    with scanner.debug_log():
        live = start_server(db_url, ServerConfig(), load_demo=False, wrap=scanner.wsgi)
        owner = new_practitioner("corpus-live")
        corpus.build(owner, owner.practice)
        delegate = api.create_practitioner(
            owner.practice, f"corpus reader {owner.id}", PASSWORD, email="corpus-reader@example.org"
        )
        api.update_practitioner(delegate, pseudonymize=True)
        api.grant_access(owner, delegate, can_write=False)
        api.update_practitioner(owner, pseudonymize=True, include_phone=True)
        try:
            yield live, scanner, owner, delegate
        finally:
            live.server.stop()


_PROPFIND = '<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>'
_QUERY = (
    '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
    '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter>'
    "</c:calendar-query>"
)
_SYNC = (
    '<d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/><c:calendar-data/></d:prop>"
    "</d:sync-collection>"
)


def _full_session(live, user, path):
    """What a device does: discover, list, query, sync, fetch every object, and some errors."""
    auth = {"user": user.username, "password": PASSWORD}
    live.request("PROPFIND", "/", headers={"Depth": "0"}, body=_PROPFIND, **auth)
    body = live.request("PROPFIND", path, headers={"Depth": "1"}, body=_PROPFIND, **auth).text
    live.request("REPORT", path, headers={"Depth": "1"}, body=_QUERY, **auth)
    live.request("REPORT", path, headers={"Depth": "1"}, body=_SYNC, **auth)
    hrefs = re.findall(r"<D:href>([^<]+\.ics)</D:href>", body)
    assert len(hrefs) == len(corpus.APPOINTMENTS)
    for href in hrefs:
        assert live.request("GET", href, **auth).status_code == 200
    live.request("GET", path + "missing.ics", **auth)
    live.request("PUT", path + "bad.ics", body="BEGIN:VCALENDAR", headers={"If-Match": '"1"'}, **auth)


def test_pseudonymized_device_session_and_log_hold_no_patient_data(session):
    live, scanner, owner, _ = session
    _full_session(live, owner, calendar_path(owner))
    scanner.assert_clean()


def test_pseudonymized_delegate_session_holds_no_patient_data(session):
    live, scanner, owner, delegate = session
    api.update_practitioner(owner, pseudonymize=False, include_phone=True)
    try:
        shared = f"/{api.url_segment(delegate.username)}/shared-{api.url_segment(owner.username)}/"
        _full_session(live, delegate, shared)
        scanner.assert_clean()
    finally:
        api.update_practitioner(owner, pseudonymize=True, include_phone=True)


def test_errors_and_the_access_log_never_echo_a_device_chosen_name(session):
    live, _, owner, _ = session
    scanner = LeakScanner(["Maria", "Muster"])
    handler = scanner.log_handler()
    handler.addFilter(lambda record: not record.name.startswith("urllib3"))  # the client's own log
    logging.getLogger().addHandler(handler)
    try:
        auth = {"user": owner.username, "password": PASSWORD}
        path = calendar_path(owner)
        for method, target in [
            ("GET", path + "Maria-Muster-Kontrolle.ics"),
            ("PROPFIND", path + "Maria-Muster-Kontrolle.ics"),
            ("DELETE", path + "Maria-Muster-Kontrolle.ics"),
            ("GET", path + "Maria-Muster/x.ics"),
        ]:
            response = live.request(method, target, headers={"Depth": "0"}, **auth)
            assert response.status_code == 404
            scanner.record(response.content, f"{method} body")
            assert b"WsgiDAV" not in response.content and b"4.4" not in response.content
    finally:
        logging.getLogger().removeHandler(handler)
    scanner.assert_clean()


def test_a_pseudonymized_device_edit_keeps_what_it_never_saw(session):
    """Moving an appointment and adding an alarm on a pseudonymized device changes times and
    alarms only: the real subject, notes and location stay, and the alarm shows the summary."""
    live, _, owner, _ = session
    auth = {"user": owner.username, "password": PASSWORD}
    name = corpus.DEVICE_NAMED[0]
    href = calendar_path(owner) + opaque_names.shown_name(owner.id, name)  # what the device sees
    before = _loaded(owner, name)
    response = live.request("GET", href, **auth)
    cal = icalendar.Calendar.from_ical(response.content)
    event = cal.walk("VEVENT")[0]
    assert str(event["LOCATION"]) == "Hausbesuch" and "DESCRIPTION" not in event
    zone = ZoneInfo("Europe/Vienna")
    event.pop("DTSTART")
    event.pop("DTEND")
    event.add("dtstart", before.start_local.replace(hour=15, tzinfo=zone))
    event.add("dtend", before.end_local.replace(hour=15, tzinfo=zone))
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", dt.timedelta(minutes=-10))
    alarm.add("description", str(event["SUMMARY"]))
    event.add_component(alarm)
    put = live.request(
        "PUT",
        href,
        cal.to_ical(),
        headers={"Content-Type": "text/calendar", "If-Match": response.headers["ETag"]},
        **auth,
    )
    assert put.status_code == 204, put.text
    after = _loaded(owner, name)
    assert (after.resource_name, after.uid) == corpus.DEVICE_NAMED
    assert (after.subject, after.notes, after.location_id) == (
        before.subject,
        before.notes,
        before.location_id,
    )
    assert after.patient_id == before.patient_id and after.start_local != before.start_local
    served = icalendar.Calendar.from_ical(live.request("GET", href, **auth).content).walk("VEVENT")[0]
    (alarm,) = served.walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == str(served["SUMMARY"])
