"""Every property shared/design/clients.md lists, and GET/HEAD of the appointments themselves.

Runs against the real server on SQLite and PostgreSQL (`live`).
"""

from __future__ import annotations

import datetime as dt
import re

import icalendar
import pytest
from lxml import etree

from providers.practice import api
from providers.practice.models import Practice

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
ANNA = "/anna_maier/"
ANNA_CAL = "/anna_maier/calendar/"
CONTENT_TYPE = "text/calendar; charset=utf-8; component=vevent"


def c(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def propfind(live, path: str, *props: tuple[str, str], depth: str = "0", **kw):
    inner = "".join(f'<x:{name} xmlns:x="{ns}"/>' for ns, name in props)
    body = (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f'<D:propfind xmlns:D="DAV:"><D:prop>{inner}</D:prop></D:propfind>'
    )
    resp = live.request("PROPFIND", path, body, headers={"Depth": depth}, **kw)
    assert resp.status_code == 207, (resp.status_code, resp.text[:500])
    out: dict[str, dict[str, tuple[int, etree._Element]]] = {}
    for r in etree.fromstring(resp.content).findall(c(DAV, "response")):
        props_of = out.setdefault(r.findtext(c(DAV, "href")), {})
        for ps in r.findall(c(DAV, "propstat")):
            status = int(ps.findtext(c(DAV, "status")).split()[1])
            for el in ps.find(c(DAV, "prop")):
                props_of[el.tag] = (status, el)
    return out


def prop(live, path: str, ns: str, name: str, **kw) -> etree._Element:
    """The value element of one property; asserts that it came back with 200."""
    (props,) = propfind(live, path, (ns, name), **kw).values()
    status, el = props[c(ns, name)]
    assert status == 200, (path, name, status)
    return el


def hrefs(el: etree._Element) -> list[str]:
    return [h.text for h in el.findall(c(DAV, "href"))]


def privileges(el: etree._Element) -> set[str]:
    return {child.tag for p in el.findall(c(DAV, "privilege")) for child in p}


@pytest.fixture(scope="module")
def events(live) -> dict[str, bytes]:
    """Resource path -> body of every appointment in anna's calendar (GET)."""
    listing = propfind(live, ANNA_CAL, (DAV, "getetag"), depth="1")
    out = {}
    for href in sorted(h for h in listing if h != ANNA_CAL):
        resp = live.request("GET", href)
        assert resp.status_code == 200
        out[href] = resp.content
    return out


def by_summary(events: dict[str, bytes], needle: str) -> tuple[str, icalendar.Calendar]:
    for href, body in events.items():
        cal = icalendar.Calendar.from_ical(body)
        if any(needle in str(e.get("SUMMARY")) for e in cal.walk("VEVENT")):
            return href, cal
    raise AssertionError(f"no event with {needle!r} in SUMMARY")


# ---------------------------------------------------------------- principal


def test_principal_properties(live):
    found = propfind(
        live,
        ANNA,
        (DAV, "current-user-principal"),
        (DAV, "principal-URL"),
        (CALDAV, "calendar-home-set"),
        (CALDAV, "calendar-user-address-set"),
        (DAV, "displayname"),
        (DAV, "resourcetype"),
        (DAV, "principal-collection-set"),
    )[ANNA]
    assert all(status == 200 for status, _ in found.values()), found
    assert hrefs(found[c(DAV, "principal-URL")][1]) == [ANNA]
    assert hrefs(found[c(CALDAV, "calendar-home-set")][1]) == [ANNA]  # exactly one
    addresses = hrefs(found[c(CALDAV, "calendar-user-address-set")][1])
    assert addresses == ["mailto:anna.maier@example.org", ANNA]
    assert found[c(DAV, "displayname")][1].text == "Dr. Anna Maier"
    types = {child.tag for child in found[c(DAV, "resourcetype")][1]}
    assert c(DAV, "principal") in types and c(DAV, "collection") in types
    assert hrefs(found[c(DAV, "principal-collection-set")][1]) == ["/"]


def test_address_set_without_email_is_only_the_principal(live):
    el = prop(live, "/bernd_huber/", CALDAV, "calendar-user-address-set", user="bernd huber")
    assert hrefs(el) == ["/bernd_huber/"]
    text = etree.tostring(el).decode().lower()
    assert "mailto" not in text and "null" not in text


# ---------------------------------------------------------------- calendar collection


CALENDAR_PROPS = [
    (DAV, "resourcetype"),
    (DAV, "displayname"),
    (DAV, "owner"),
    (DAV, "current-user-principal"),
    (CALDAV, "supported-calendar-component-set"),
    (CALDAV, "supported-calendar-data"),
    (DAV, "current-user-privilege-set"),
    (DAV, "principal-collection-set"),
    (CS, "getctag"),
    (DAV, "sync-token"),
    (DAV, "supported-report-set"),
]


def test_calendar_collection_properties(live):
    found = propfind(live, ANNA_CAL, *CALENDAR_PROPS)[ANNA_CAL]
    missing = [name for name, (status, _) in found.items() if status != 200]
    assert not missing
    types = {child.tag for child in found[c(DAV, "resourcetype")][1]}
    assert types == {c(DAV, "collection"), c(CALDAV, "calendar")}
    assert "Dr. Anna Maier" in found[c(DAV, "displayname")][1].text
    # owner is identical to current-user-principal on the own calendar.
    assert hrefs(found[c(DAV, "owner")][1]) == hrefs(found[c(DAV, "current-user-principal")][1])
    assert hrefs(found[c(DAV, "owner")][1]) == [ANNA]
    comps = [e.get("name") for e in found[c(CALDAV, "supported-calendar-component-set")][1]]
    assert comps == ["VEVENT"]
    data = found[c(CALDAV, "supported-calendar-data")][1].find(c(CALDAV, "calendar-data"))
    assert data.get("content-type") == "text/calendar" and data.get("version") == "2.0"
    assert hrefs(found[c(DAV, "principal-collection-set")][1]) == ["/"]
    assert found[c(CS, "getctag")][1].text
    token = found[c(DAV, "sync-token")][1].text
    assert token and re.match(r"^[a-z][a-z0-9+.-]*:", token), "sync-token must be a URI"


def test_own_two_way_calendar_is_writable_for_outlook(live):
    el = prop(live, ANNA_CAL, DAV, "current-user-privilege-set")
    names = privileges(el)
    assert {c(DAV, "read"), c(DAV, "write"), c(DAV, "write-content")} <= names


def test_server_to_device_calendar_is_read_only(live):
    practice = Practice.get(Practice.external_id == "demo-practice")
    readonly = api.find_practitioner("lesend nur") or api.create_practitioner(
        practice, "lesend nur", "pw-lesend"
    )
    api.update_practitioner(readonly, direction="server-to-device")
    el = prop(
        live,
        "/lesend_nur/calendar/",
        DAV,
        "current-user-privilege-set",
        user="lesend nur",
        password="pw-lesend",
    )
    names = privileges(el)
    assert c(DAV, "read") in names
    assert not names & {c(DAV, "write"), c(DAV, "write-content"), c(DAV, "all")}


def test_supported_report_set_lists_what_clients_need(live):
    el = prop(live, ANNA_CAL, DAV, "supported-report-set")
    reports = {
        r.tag
        for sr in el.findall(c(DAV, "supported-report"))
        for rep in sr.findall(c(DAV, "report"))
        for r in rep
    }
    # Outlook refuses a calendar whose supported-report-set lacks calendar-query.
    assert {c(CALDAV, "calendar-query"), c(CALDAV, "calendar-multiget")} <= reports


def test_ctag_and_sync_token_move_on_a_practice_side_change(live):
    before = propfind(live, ANNA_CAL, (CS, "getctag"), (DAV, "sync-token"))[ANNA_CAL]
    anna = api.find_practitioner("anna maier")
    api.update_practitioner(
        anna, calendar_color="#FF0000FF" if anna.calendar_color != "#FF0000FF" else "#00FF00FF"
    )
    after = propfind(live, ANNA_CAL, (CS, "getctag"), (DAV, "sync-token"))[ANNA_CAL]
    for name in (c(CS, "getctag"), c(DAV, "sync-token")):
        assert before[name][1].text != after[name][1].text


def test_unknown_properties_come_back_as_404_propstat(live):
    found = propfind(
        live,
        ANNA_CAL,
        (DAV, "displayname"),
        ("urn:example:nope", "colour"),
        (DAV, "no-such-dav-property"),
        (CALDAV, "calendar-home-set"),
    )[ANNA_CAL]
    assert found[c(DAV, "displayname")][0] == 200
    assert found[c("urn:example:nope", "colour")][0] == 404
    assert found[c(DAV, "no-such-dav-property")][0] == 404
    assert found[c(CALDAV, "calendar-home-set")][0] == 404  # principal-only property


def test_allprop_and_propname_do_not_fail(live):
    allprop = live.request("PROPFIND", ANNA_CAL, b"", headers={"Depth": "1"})
    assert allprop.status_code == 207
    assert "<D:getetag>" in allprop.text
    propname = live.request(
        "PROPFIND",
        ANNA_CAL,
        '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>',
        headers={"Depth": "0"},
    )
    assert propname.status_code == 207


# ---------------------------------------------------------------- calendar objects


def test_getetag_is_quoted_and_byte_identical_to_get_and_head(live, events):
    listing = propfind(live, ANNA_CAL, (DAV, "getetag"), (DAV, "getcontenttype"), depth="1")
    assert set(events) == {h for h in listing if h != ANNA_CAL}
    for href in events:
        status, el = listing[href][c(DAV, "getetag")]
        assert status == 200
        etag = el.text
        assert re.fullmatch(r'"[^"]+"', etag), etag
        assert live.request("GET", href).headers["ETag"] == etag
        assert live.request("HEAD", href).headers["ETag"] == etag
        depth0 = prop(live, href, DAV, "getetag")
        assert depth0.text == etag
        assert listing[href][c(DAV, "getcontenttype")][1].text == CONTENT_TYPE


def test_get_and_head_headers(live, events):
    href, body = next(iter(events.items()))
    get = live.request("GET", href)
    head = live.request("HEAD", href)
    for resp in (get, head):
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == CONTENT_TYPE
        assert int(resp.headers["Content-Length"]) == len(body)
    assert head.content == b""


def test_resource_names_are_opaque(events):
    assert len(events) == 5
    for href in events:
        name = href.rsplit("/", 1)[1]
        assert re.fullmatch(r"[0-9a-f]{32}\.ics", name), name


def test_every_appointment_is_valid_icalendar_without_organizer(events):
    for href, body in events.items():
        cal = icalendar.Calendar.from_ical(body)
        assert cal.get("VERSION") == "2.0" and cal.get("PRODID")
        vevents = list(cal.walk("VEVENT"))
        assert vevents, href
        assert len({str(e["UID"]) for e in vevents}) == 1, "one UID per resource"
        for e in vevents:
            assert "ORGANIZER" not in e and "ATTENDEE" not in e
            assert e.get("DTSTAMP") is not None
        # Every TZID used has its VTIMEZONE.
        used = set(re.findall(rb"TZID=([^:;]+)[:;]", body))
        defined = {str(tz["TZID"]).encode() for tz in cal.walk("VTIMEZONE")}
        assert used <= defined, (href, used, defined)


def test_single_appointment_fields(events):
    _, cal = by_summary(events, "Maria Muster")
    (event,) = cal.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Maria Muster – Erstgespräch"  # patient and subject
    assert str(event["LOCATION"]).startswith("Praxis am Park")
    assert event["DTSTART"].params.get("TZID") == "Europe/Vienna"
    assert event.decoded("DTEND") - event.decoded("DTSTART") == dt.timedelta(minutes=50)


def test_notes_are_the_description(events):
    _, cal = by_summary(events, "Kontrolle")
    (event,) = cal.walk("VEVENT")
    assert "Befund mitbringen" in str(event["DESCRIPTION"])
    assert "RRULE" in event


def test_all_day_is_a_date_with_exclusive_end(events):
    href, cal = by_summary(events, "Fortbildung")
    (event,) = cal.walk("VEVENT")
    assert b"DTSTART;VALUE=DATE:" in events[href]
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert type(start) is dt.date and type(end) is dt.date
    assert end - start == dt.timedelta(days=1)
    assert b"BEGIN:VTIMEZONE" not in events[href]  # nothing refers to a zone


def test_series_with_exdate_and_override_is_one_resource(events):
    href, cal = by_summary(events, "Physiotherapie")
    vevents = list(cal.walk("VEVENT"))
    masters = [e for e in vevents if "RECURRENCE-ID" not in e]
    overrides = [e for e in vevents if "RECURRENCE-ID" in e]
    assert len(masters) == 1 and len(overrides) == 1
    master, override = masters[0], overrides[0]
    assert str(master["RRULE"].to_ical().decode()) == "FREQ=WEEKLY;COUNT=12"
    assert "EXDATE" in master
    assert str(master["UID"]) == str(override["UID"])
    rid = override.decoded("RECURRENCE-ID")
    assert rid.tzinfo is not None and override.decoded("DTSTART") != rid
    assert str(override["SUMMARY"]) == "Jürgen Öztürk – Physiotherapie"
    # Nowhere else: no other resource carries this UID.
    others = [b for h, b in events.items() if h != href]
    assert not any(str(master["UID"]).encode() in b for b in others)
