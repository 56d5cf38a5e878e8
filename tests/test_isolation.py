"""A practitioner sees only their own calendar: every other path answers 404.

Runs against the real server on SQLite and PostgreSQL (`live`). The demo practice has
"anna maier" and "bernd huber"; anna probes bernd's resources in every way a client could.
"""

from __future__ import annotations

import base64
import http.client
import re

import pytest
from lxml import etree

from providers.practice import api
from providers.practice.models import Practice
from tests.conftest import COLLEAGUE, DEMO_PASSWORD

DAV = "DAV:"
ANNA_CAL = "/anna_maier/calendar/"
BERND_CAL = "/bernd_huber/calendar/"


def listing(live, path: str, user: str) -> set[str]:
    resp = live.request("PROPFIND", path, headers={"Depth": "1"}, user=user)
    assert resp.status_code == 207, resp.status_code
    root = etree.fromstring(resp.content)
    return {r.findtext(f"{{{DAV}}}href") for r in root.findall(f"{{{DAV}}}response")}


@pytest.fixture(scope="module")
def bernd_event(live) -> tuple[str, bytes]:
    """Path and body of bernd's one appointment, as bernd sees it."""
    (path,) = {h for h in listing(live, BERND_CAL, COLLEAGUE) if h.endswith(".ics")}
    resp = live.request("GET", path, user=COLLEAGUE)
    assert resp.status_code == 200
    return path, resp.content


def uid_of(body: bytes) -> bytes:
    return re.search(rb"^UID:(.+?)\r?$", body, re.M).group(1)


def foreign_paths(bernd_event) -> list[str]:
    path, _ = bernd_event
    name = path.rsplit("/", 1)[1]
    return [
        "/bernd_huber/",
        "/bernd_huber",
        "/Bernd_Huber/",
        "/bernd%20huber/",
        "/BERND%20HUBER/calendar/",
        BERND_CAL,
        BERND_CAL.rstrip("/"),
        path,
        "/bernd%20huber/calendar/" + name,
        ANNA_CAL + name,  # bernd's resource name inside anna's calendar
        "/anna_maier/shared-bernd_huber/",
        "/anna_maier/shared-bernd_huber/" + name,
    ]


def test_demo_password_sanity(live):
    """The colleague really can read his own calendar (so the 404s above are not an outage)."""
    assert (
        live.request(
            "PROPFIND", BERND_CAL, headers={"Depth": "0"}, user=COLLEAGUE, password=DEMO_PASSWORD
        ).status_code
        == 207
    )


@pytest.mark.parametrize("method", ["PROPFIND", "GET", "HEAD", "PROPPATCH", "REPORT"])
def test_foreign_paths_are_404(live, bernd_event, method):
    _, body = bernd_event
    for path in foreign_paths(bernd_event):
        resp = live.request(method, path, headers={"Depth": "0"})
        assert resp.status_code == 404, (method, path, resp.status_code)
        assert uid_of(body) not in resp.content


def test_foreign_write_attempts_change_nothing(live, bernd_event):
    path, body = bernd_event
    new_event = body.replace(uid_of(body), b"intruder-uid@example.org")
    for method, target, data in [
        ("DELETE", path, None),
        ("PUT", path, body),
        ("PUT", BERND_CAL + "intruder.ics", new_event),
    ]:
        resp = live.request(method, target, data, headers={"Content-Type": "text/calendar"})
        assert resp.status_code in (403, 404), (method, target, resp.status_code)
    after = live.request("GET", path, user=COLLEAGUE)
    assert after.status_code == 200 and after.content == body
    assert listing(live, BERND_CAL, COLLEAGUE) == {BERND_CAL, path}


def test_root_lists_only_the_own_principal(live):
    assert listing(live, "/", "anna maier") == {"/", "/anna_maier/"}
    assert listing(live, "/", COLLEAGUE) == {"/", "/bernd_huber/"}
    assert listing(live, "/anna_maier/", "anna maier") == {"/anna_maier/", ANNA_CAL}


def test_dot_segments_do_not_escape_the_own_calendar(live, bernd_event):
    path, body = bernd_event
    name = path.rsplit("/", 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", live.server.bind_addr[1], timeout=10)
    auth = live.session().auth
    header = "Basic " + base64.b64encode(auth[0] + b":" + auth[1]).decode()
    try:
        for raw in (
            f"/anna_maier/../bernd_huber/calendar/{name}",
            f"/anna_maier/calendar/../../bernd_huber/calendar/{name}",
            f"/anna_maier/calendar/..%2F..%2Fbernd_huber%2Fcalendar%2F{name}",
        ):
            conn.request("GET", raw, headers={"Authorization": header})
            resp = conn.getresponse()
            content = resp.read()
            assert resp.status in (400, 404), (raw, resp.status)
            assert uid_of(body) not in content
    finally:
        conn.close()


def test_delegation_grant_is_what_opens_a_shared_calendar(live, bernd_event):
    anna, bernd = api.find_practitioner("anna maier"), api.find_practitioner(COLLEAGUE)
    shared = "/anna_maier/shared-bernd_huber/"
    assert live.request("PROPFIND", shared, headers={"Depth": "0"}).status_code == 404
    api.grant_access(bernd, anna, can_write=False)
    try:
        assert live.request("PROPFIND", shared, headers={"Depth": "0"}).status_code == 207
    finally:
        api.revoke_access(bernd, anna)
    assert live.request("PROPFIND", shared, headers={"Depth": "0"}).status_code == 404


# ---------------------------------------------------------------- names that collide in URLs


@pytest.mark.parametrize("name", ["anna_maier", "Anna_Maier", "ANNA MAIER", " anna maier ", "bernd_Huber"])
def test_names_that_collide_are_refused_at_creation(live, name):
    practice = Practice.get(Practice.external_id == "demo-practice")
    with pytest.raises(api.DataError) as err:
        api.create_practitioner(practice, name, "pw")
    assert "exists" in str(err.value) or "URL" in str(err.value)
    assert api.find_practitioner(name) is None or api.find_practitioner(name).username in (
        "anna maier",
        COLLEAGUE,
    )


@pytest.mark.parametrize("name", ["a/b", "a?b", "a#b", "a%b", "a\\b", "a:b", "tab\there", ""])
def test_names_that_cannot_be_url_segments_are_refused(live, name):
    practice = Practice.get(Practice.external_id == "demo-practice")
    with pytest.raises(api.DataError):
        api.create_practitioner(practice, name, "pw")


# ---------------------------------------------------------------- multiget (last: reworked elsewhere)


def test_multiget_does_not_serve_foreign_hrefs(live, bernd_event):
    bernd_path, bernd_body = bernd_event
    own = sorted(h for h in listing(live, ANNA_CAL, "anna maier") if h.endswith(".ics"))
    name = bernd_path.rsplit("/", 1)[1]
    foreign = [
        bernd_path,
        ANNA_CAL + name,
        "/bernd%20huber/calendar/" + name,
        live.url(bernd_path),
        ANNA_CAL + "../../bernd_huber/calendar/" + name,
    ]
    hrefs = "".join(f"<D:href>{h}</D:href>" for h in [own[0], *foreign])
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"
    )
    resp = live.request("REPORT", ANNA_CAL, body, headers={"Depth": "1"})
    assert resp.status_code == 207
    assert uid_of(bernd_body) not in resp.content
    statuses = {}
    for r in etree.fromstring(resp.content).findall(f"{{{DAV}}}response"):
        texts = [s.text for s in r.iter(f"{{{DAV}}}status")]
        statuses[r.findtext(f"{{{DAV}}}href")] = texts
    assert any("200" in s for s in statuses[own[0]])
    for href in foreign:
        assert href in statuses, href
        assert all("404" in s for s in statuses[href]), (href, statuses[href])
    # The same REPORT aimed at bernd's calendar is a plain 404.
    resp = live.request("REPORT", BERND_CAL, body, headers={"Depth": "1"})
    assert resp.status_code == 404
