"""Protocol defects of issue 22 (items 5-11), each as the exact request to the real server
on SQLite and PostgreSQL: the answer the RFC asks for, and nothing stored by a refusal."""

from __future__ import annotations

import datetime as dt
import re
import socket

import pytest
from lxml import etree

from providers.practice import api
from tests.conftest import DEMO_PASSWORD, DEMO_USER
from tests.test_http_robustness import AUTH, raw_exchange, status_of
from tests.test_put_preconditions import put
from tests.two_way import PASSWORD, calendar, calendar_path, event, new_practitioner, snapshot, vevent

C = "urn:ietf:params:xml:ns:caldav"
D = "DAV:"
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}
XML = {"Content-Type": "application/xml"}


@pytest.fixture(scope="module")
def user(live):
    return new_practitioner("proto")


def request(live, user, method, path, body=None, **headers):
    return live.request(method, path, body, user=user.username, password=PASSWORD, headers={**XML, **headers})


def precondition(r) -> str:
    root = etree.fromstring(r.content)
    assert root.tag == f"{{{D}}}error", r.text
    return root[0].tag


# ------------------------------------------------------------------ 6. UID change


def test_put_changing_the_uid_of_an_existing_resource_is_refused(live, user):
    assert put(live, user, "uid.ics", event("uid-one")).status_code == 201
    before = snapshot(user)
    r = put(live, user, "uid.ics", event("uid-two"))
    assert r.status_code == 403
    assert precondition(r) == f"{{{C}}}no-uid-conflict"
    assert snapshot(user) == before


# ------------------------------------------------------------------ 7. overrides


def test_thisandfuture_override_is_refused(live, user):
    body = calendar(
        vevent("range", extra="RRULE:FREQ=DAILY;COUNT=5"),
        vevent(
            "range",
            start="20260312T120000",
            end="20260312T130000",
            extra="RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Vienna:20260312T100000",
        ),
    )
    before = snapshot(user)
    r = put(live, user, "range.ics", body)
    assert r.status_code == 403, r.text
    assert precondition(r) == f"{{{C}}}valid-calendar-data"
    assert "THISANDFUTURE" in r.text
    assert snapshot(user) == before


def test_override_with_its_own_description_is_refused_not_dropped(live, user):
    body = calendar(
        vevent("own-notes", extra="RRULE:FREQ=DAILY;COUNT=5\nDESCRIPTION:Serie"),
        vevent(
            "own-notes",
            start="20260312T120000",
            end="20260312T130000",
            extra="RECURRENCE-ID;TZID=Europe/Vienna:20260312T100000\nDESCRIPTION:Nur heute anders",
        ),
    )
    before = snapshot(user)
    r = put(live, user, "own-notes.ics", body)
    assert r.status_code == 403, r.text
    assert precondition(r) == f"{{{C}}}valid-calendar-data"
    assert snapshot(user) == before
    same = body.replace("Nur heute anders", "Serie")
    assert put(live, user, "own-notes.ics", same).status_code == 201


# ------------------------------------------------------------------ 8. C:timezone

NEW_YORK = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n"
    "BEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"
    "TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\nEND:VCALENDAR\r\n"
)


def _query_with_timezone(tz: str, start: str, end: str) -> str:
    return (
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}"><D:prop><D:getetag/></D:prop><C:filter>'
        f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" '
        f'end="{end}"/></C:comp-filter></C:comp-filter></C:filter><C:timezone>{tz}</C:timezone>'
        "</C:calendar-query>"
    )


def test_calendar_query_timezone_places_floating_times(live):
    user = new_practitioner("proto-tz")
    start = dt.datetime(2026, 7, 1, 9)  # floating 09:00: Vienna 07:00Z, New York 13:00Z
    api.create_appointment(user, api.AppointmentFields(start, start + dt.timedelta(hours=1), tzid=None))
    path = calendar_path(user)
    morning_utc = ("20260701T065000Z", "20260701T081000Z")
    r = request(
        live,
        user,
        "REPORT",
        path,
        _query_with_timezone("", *morning_utc).replace("<C:timezone></C:timezone>", ""),
        Depth="1",
    )
    assert len(etree.fromstring(r.content).findall(f"{{{D}}}response")) == 1
    r = request(live, user, "REPORT", path, _query_with_timezone(_escape(NEW_YORK), *morning_utc), Depth="1")
    assert r.status_code == 207, r.text
    assert etree.fromstring(r.content).findall(f"{{{D}}}response") == []
    r = request(
        live,
        user,
        "REPORT",
        path,
        _query_with_timezone(_escape(NEW_YORK), "20260701T125000Z", "20260701T141000Z"),
        Depth="1",
    )
    assert len(etree.fromstring(r.content).findall(f"{{{D}}}response")) == 1


@pytest.mark.parametrize(
    "tz", ["not a calendar", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", NEW_YORK + NEW_YORK]
)
def test_invalid_calendar_query_timezone_is_refused(live, user, tz):
    r = request(
        live,
        user,
        "REPORT",
        calendar_path(user),
        _query_with_timezone(_escape(tz), "20260101T000000Z", "20270101T000000Z"),
        Depth="1",
    )
    assert r.status_code == 403, r.text
    assert precondition(r) == f"{{{C}}}valid-calendar-data"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("\r", "&#13;")


# ------------------------------------------------------------------ 9. propstat / 400


def test_sync_collection_with_empty_prop_answers_a_propstat(live, user):
    put(live, user, "sync-empty.ics", event("sync-empty"))
    body = (
        '<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>'
        "<D:prop/></D:sync-collection>"
    )
    r = request(live, user, "REPORT", calendar_path(user), body)
    assert r.status_code == 207
    responses = etree.fromstring(r.content).findall(f"{{{D}}}response")
    assert responses
    for response in responses:
        assert response.find(f"{{{D}}}propstat") is not None or response.find(f"{{{D}}}status") is not None


@pytest.mark.parametrize(
    "body",
    [
        '<D:propfind xmlns:D="DAV:"><D:allprop/><D:propname/></D:propfind>',
        '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:propname/></D:propfind>',
        '<D:propfind xmlns:D="DAV:"><D:unknown-thing/></D:propfind>',
        '<D:propfind xmlns:D="DAV:"/>',
        '<D:propertyupdate xmlns:D="DAV:"/>',
    ],
)
def test_malformed_propfind_is_400(live, user, body):
    r = request(live, user, "PROPFIND", calendar_path(user), body, Depth="1")
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("depth", ["0", "1"])
@pytest.mark.parametrize(
    "prop",
    [
        "<D:prop/>",
        '<D:prop><X:unknown xmlns:X="urn:x"/></D:prop>',
        '<D:prop><D:getetag/><X:unknown xmlns:X="urn:x"/></D:prop>',
        "<D:prop><D:unknown-dav-property/></D:prop>",
    ],
)
def test_propfind_answers_a_propstat_in_every_response(live, user, depth, prop):
    put(live, user, "propstat.ics", event("propstat"))
    r = request(
        live,
        user,
        "PROPFIND",
        calendar_path(user),
        f'<D:propfind xmlns:D="DAV:">{prop}</D:propfind>',
        Depth=depth,
    )
    assert r.status_code == 207
    responses = etree.fromstring(r.content).findall(f"{{{D}}}response")
    assert len(responses) >= int(depth) + 1
    for response in responses:
        assert response.find(f"{{{D}}}propstat") is not None or response.find(f"{{{D}}}status") is not None


# ------------------------------------------------------------------ 10. media type, filters


def test_put_as_text_xml_is_unsupported_calendar_data(live, user):
    r = put(live, user, "xml.ics", event("as-xml"), {"Content-Type": "text/xml"})
    assert r.status_code == 403
    assert precondition(r) == f"{{{C}}}supported-calendar-data"


@pytest.mark.parametrize(
    "inner",
    [
        '<C:comp-filter name="VALARM"/>',
        '<C:comp-filter name="VEVENT"><C:comp-filter name="VEVENT"/></C:comp-filter>',
        '<C:comp-filter name="VEVENT"><C:comp-filter name="VCALENDAR"/></C:comp-filter>',
        '<C:comp-filter name="VTIMEZONE"><C:comp-filter name="VALARM"/></C:comp-filter>',
    ],
)
def test_invalid_filter_nesting_is_valid_filter(live, user, inner):
    body = (
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}"><D:prop><D:getetag/></D:prop><C:filter>'
        f'<C:comp-filter name="VCALENDAR">{inner}</C:comp-filter></C:filter></C:calendar-query>'
    )
    r = request(live, user, "REPORT", calendar_path(user), body, Depth="1")
    assert r.status_code == 403, r.text
    assert precondition(r) == f"{{{C}}}valid-filter"


# ------------------------------------------------------------------ 5. 500s


def test_nresults_of_23_digits_is_refused(live, user):
    body = (
        '<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>'
        "<D:limit><D:nresults>12345678901234567890123</D:nresults></D:limit><D:prop><D:getetag/></D:prop>"
        "</D:sync-collection>"
    )
    r = request(live, user, "REPORT", calendar_path(user), body)
    assert r.status_code < 500


@pytest.mark.parametrize("path", ["/anna_maier/calendar/%00.ics", "/%00/", "/anna_maier/%00/"])
def test_nul_in_a_path_is_not_a_server_error(live, path):
    r = live.request("GET", path)
    assert 400 <= r.status_code < 500


def test_invalid_utf8_in_the_path_is_answered_before_login(live):
    port = live.server.bind_addr[1]
    response = raw_exchange(port, b"GET /%ff%fe/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert 400 <= status_of(response) < 500
    response = raw_exchange(
        port,
        b"PROPFIND /%ff%fe/ HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + AUTH.encode()
        + b"\r\nDepth: 0\r\nContent-Length: 0\r\n\r\n",
    )
    assert 400 <= status_of(response) < 500


# ------------------------------------------------------------------ 11. framing


def _second_complete(data: bytes) -> bool:
    """Two responses, the second with its whole body: waiting on would only wait for the
    timeout (the connection stays open), e.g. 5 s per test for a 401 with a body."""
    if data.count(b"HTTP/1.1 ") < 2:
        return False
    head, end, body = data[data.rindex(b"HTTP/1.1 ") :].partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:[ \t]*(\d+)[ \t\r]*$", head)
    return bool(end) and len(body) >= (int(length.group(1)) if length else 0)


def _two_requests(port: int, first: bytes) -> bytes:
    """Send `first` and a plain OPTIONS on one connection; everything the server sends."""
    second = b"OPTIONS / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(first + second)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if _second_complete(data):
                    break
        except TimeoutError:
            pass
    return data


def test_unauthenticated_head_has_no_body(live):
    data = _two_requests(live.server.bind_addr[1], b"HEAD /anna_maier/calendar/ HTTP/1.1\r\nHost: x\r\n\r\n")
    first_end = data.index(b"\r\n\r\n") + 4
    assert data.startswith(b"HTTP/1.1 401")
    assert data[first_end:].startswith(b"HTTP/1.1 "), data[:400]


@pytest.mark.parametrize(
    "head",
    [
        b"PROPFIND / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n",
        b"PROPFIND / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Evil: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Evil: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    ],
)
def test_ambiguous_framing_is_400_and_the_connection_closes(live, head):
    data = _two_requests(live.server.bind_addr[1], head)
    assert data.startswith(b"HTTP/1.1 400"), data[:300]
    assert data.count(b"HTTP/1.1 ") == 1, data  # nothing after it is read as a request


@pytest.mark.parametrize("chunks", [b"-5\r\nhello\r\n0\r\n\r\n", b"5 x\r\nhello\r\n0\r\n\r\n"])
@pytest.mark.parametrize("login", [True, False])
def test_malformed_chunks_are_never_read_as_a_request(live, chunks, login):
    """With a login the body is read and refused (400); without one it is never read (401
    before the body); either way the connection closes and nothing after it is a request."""
    auth = b"Authorization: " + AUTH.encode() + b"\r\n" if login else b""
    head = b"PROPFIND / HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n"
    data = _two_requests(live.server.bind_addr[1], head + chunks)
    assert data.startswith(b"HTTP/1.1 400" if login else b"HTTP/1.1 401"), data[:300]
    assert b"\r\nConnection: close\r\n" in data
    assert data.count(b"HTTP/1.1 ") == 1, data


def test_duplicate_equal_content_length_is_accepted(live):
    body = b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    head = (
        b"PROPFIND /anna_maier/calendar/ HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + AUTH.encode()
        + b"\r\nDepth: 0\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body))
    )
    assert status_of(raw_exchange(live.server.bind_addr[1], head + body)) == 207


def test_demo_login_still_works(live):
    assert (
        live.request(
            "PROPFIND", "/anna_maier/calendar/", None, DEMO_USER, DEMO_PASSWORD, {"Depth": "0"}
        ).status_code
        == 207
    )
