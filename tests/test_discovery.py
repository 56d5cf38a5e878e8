"""Discovery as real clients do it: well-known, current-user-principal everywhere, OPTIONS, Depth.

Runs against the real server on SQLite and PostgreSQL (`live`).
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, urlparse

import caldav
import pytest
from lxml import etree

from providers.practice import api
from providers.practice.models import Practice
from tests.conftest import DEMO_PASSWORD, DEMO_USER

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
ANNA = "/anna_maier/"
ANNA_CAL = "/anna_maier/calendar/"

UMLAUT_USER = "jürgen öztürk"
UMLAUT_PASSWORD = "pässwört-1"
UMLAUT_HREF = quote("/jürgen_öztürk/")


def propfind_body(*props: tuple[str, str]) -> str:
    inner = "".join(f'<x:{name} xmlns:x="{ns}"/>' for ns, name in props)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f'<D:propfind xmlns:D="DAV:"><D:prop>{inner}</D:prop></D:propfind>'
    )


def responses(resp) -> dict[str, dict[str, tuple[str, etree._Element]]]:
    """href -> {clark name -> (status line, element)} of a 207."""
    assert resp.status_code == 207, (resp.status_code, resp.text[:500])
    root = etree.fromstring(resp.content)
    out: dict[str, dict] = {}
    for r in root.findall(f"{{{DAV}}}response"):
        href = r.findtext(f"{{{DAV}}}href")
        props = out.setdefault(href, {})
        for ps in r.findall(f"{{{DAV}}}propstat"):
            status = ps.findtext(f"{{{DAV}}}status")
            for el in ps.find(f"{{{DAV}}}prop"):
                props[el.tag] = (status, el)
    return out


def cup_hrefs(live, path: str, **kw) -> list[str]:
    resp = live.request(
        "PROPFIND", path, propfind_body((DAV, "current-user-principal")), headers={"Depth": "0"}, **kw
    )
    (props,) = responses(resp).values()
    status, el = props[f"{{{DAV}}}current-user-principal"]
    assert "200" in status
    return [h.text for h in el.findall(f"{{{DAV}}}href")]


def event_paths(live) -> list[str]:
    resp = live.request("PROPFIND", ANNA_CAL, propfind_body((DAV, "getetag")), headers={"Depth": "1"})
    return sorted(h for h in responses(resp) if h.endswith(".ics"))


@pytest.fixture(scope="module")
def umlaut_user(live):
    practice = Practice.get(Practice.external_id == "demo-practice")
    if api.find_practitioner(UMLAUT_USER) is None:
        api.create_practitioner(practice, UMLAUT_USER, UMLAUT_PASSWORD, email="juergen@example.org")
    return UMLAUT_USER


# ---------------------------------------------------------------- well-known


@pytest.mark.parametrize("path", ["/.well-known/caldav", "/.well-known/caldav/"])
@pytest.mark.parametrize("method", ["GET", "PROPFIND"])
def test_well_known_is_a_301_to_the_dav_root(live, path, method):
    resp = live.request(method, path, headers={"Depth": "0"})
    assert resp.status_code == 301
    assert urlparse(resp.headers["Location"]).path == "/"
    # Also before the client has sent credentials (DAVx5 probes it first).
    anonymous = live.request(method, path, user=None)
    assert anonymous.status_code == 301


def test_following_the_well_known_redirect_finds_the_principal(live):
    s = live.session()
    resp = s.request(
        "PROPFIND",
        live.url("/.well-known/caldav"),
        headers={"Depth": "0"},
        data=propfind_body((DAV, "current-user-principal")),
        timeout=30,
    )
    assert resp.history and resp.history[0].status_code == 301
    assert resp.status_code == 207
    assert f"<D:href>{ANNA}</D:href>" in resp.text


# ---------------------------------------------------------------- current-user-principal


def test_current_user_principal_on_every_resource(live):
    paths = ["/", ANNA, ANNA_CAL, event_paths(live)[0]]
    for path in paths:
        assert cup_hrefs(live, path) == [ANNA], path


def test_current_user_principal_is_the_viewers_own(live):
    assert cup_hrefs(live, "/", user="bernd huber") == ["/bernd_huber/"]


# ---------------------------------------------------------------- OPTIONS


def test_options_on_every_resource_advertises_calendar_access(live):
    paths = ["/", ANNA, ANNA.rstrip("/"), ANNA_CAL, ANNA_CAL.rstrip("/"), event_paths(live)[0]]
    for path in paths:
        resp = live.request("OPTIONS", path)
        assert resp.status_code == 200, path
        dav = [t.strip() for t in resp.headers["DAV"].split(",")]
        assert dav == ["1", "3", "calendar-access"], (path, dav)
        allow = {m.strip() for m in resp.headers["Allow"].split(",")}
        assert {"OPTIONS", "PROPFIND", "REPORT", "GET"} <= allow, path


# ---------------------------------------------------------------- Depth


def _hrefs(live, path, headers):
    resp = live.request("PROPFIND", path, propfind_body((DAV, "resourcetype")), headers=headers)
    return set(responses(resp))


@pytest.mark.parametrize(
    "headers", [{"Depth": "infinity"}, {"Depth": "Infinity"}, {}], ids=["infinity", "Infinity", "no-depth"]
)
def test_depth_infinity_or_missing_is_answered_as_depth_1(live, headers):
    assert _hrefs(live, "/", headers) == {"/", ANNA}
    assert _hrefs(live, ANNA, headers) == {ANNA, ANNA_CAL}
    on_calendar = _hrefs(live, ANNA_CAL, headers)
    assert ANNA_CAL in on_calendar and len(on_calendar) == 1 + len(event_paths(live))


def test_depth_0_and_1(live):
    assert _hrefs(live, ANNA, {"Depth": "0"}) == {ANNA}
    assert _hrefs(live, ANNA, {"Depth": "1"}) == {ANNA, ANNA_CAL}
    assert len(event_paths(live)) == 5


# ---------------------------------------------------------------- URLs and user names


def test_calendar_url_without_trailing_slash_is_served_not_redirected(live):
    resp = live.request(
        "PROPFIND", ANNA_CAL.rstrip("/"), propfind_body((DAV, "resourcetype")), headers={"Depth": "0"}
    )
    assert resp.status_code == 207
    assert set(responses(resp)) == {ANNA_CAL}


def test_hrefs_are_path_absolute_and_collections_end_in_slash(live):
    resp = live.request("PROPFIND", ANNA_CAL, propfind_body((DAV, "resourcetype")), headers={"Depth": "1"})
    for href, props in responses(resp).items():
        assert href.startswith("/") and "://" not in href
        is_collection = props[f"{{{DAV}}}resourcetype"][1].find(f"{{{DAV}}}collection") is not None
        assert href.endswith("/") == is_collection, href


@pytest.mark.parametrize(
    "path",
    [
        "/anna_maier/",
        "/anna%20maier/",
        "/Anna_Maier/",
        "/ANNA%20MAIER",
        "/anna_MAIER/calendar",
        "/Anna%20Maier/calendar/",
    ],
)
def test_space_and_underscore_and_case_variants_resolve(live, path):
    resp = live.request("PROPFIND", path, propfind_body((DAV, "displayname")), headers={"Depth": "0"})
    hrefs = set(responses(resp))
    assert hrefs == ({ANNA_CAL} if "calendar" in path else {ANNA})


def test_umlaut_user_urls_resolve_in_every_form(live, umlaut_user):
    assert cup_hrefs(live, "/", user=umlaut_user, password=UMLAUT_PASSWORD) == [UMLAUT_HREF]
    nfd = unicodedata.normalize("NFD", "/jürgen_öztürk/")
    forms = [
        UMLAUT_HREF,
        quote("/jürgen öztürk/"),
        quote("/JÜRGEN_ÖZTÜRK/"),
        quote(nfd),
        quote("/Jürgen Öztürk/calendar/"),
    ]
    for path in forms:
        resp = live.request(
            "PROPFIND",
            path,
            propfind_body((DAV, "displayname")),
            headers={"Depth": "0"},
            user=umlaut_user,
            password=UMLAUT_PASSWORD,
        )
        expected = UMLAUT_HREF + ("calendar/" if "calendar" in path else "")
        assert set(responses(resp)) == {expected}, path


def test_at_sign_and_plus_in_user_names(live):
    """`%40` and `@` are the same; `+` is a literal plus, never a space."""
    practice = Practice.get(Practice.external_id == "demo-practice")
    for name in ("dr.x@praxis", "c+d"):
        if api.find_practitioner(name) is None:
            api.create_practitioner(practice, name, "pw-" + name)
    for user, path, expected in [
        ("dr.x@praxis", "/dr.x@praxis/", "/dr.x@praxis/"),
        ("dr.x@praxis", "/dr.x%40praxis/", "/dr.x@praxis/"),
        ("c+d", "/c+d/", "/c+d/"),
        ("c+d", "/c%2Bd/", "/c+d/"),
    ]:
        resp = live.request(
            "PROPFIND",
            path,
            propfind_body((DAV, "displayname")),
            headers={"Depth": "0"},
            user=user,
            password="pw-" + user,
        )
        assert set(responses(resp)) == {expected}, path
    resp = live.request("PROPFIND", "/c%20d/", headers={"Depth": "0"}, user="c+d", password="pw-c+d")
    assert resp.status_code == 404


# ---------------------------------------------------------------- the caldav library


def _check_caldav_client(url: str) -> None:
    client = caldav.DAVClient(url=url, username=DEMO_USER, password=DEMO_PASSWORD)
    principal = client.principal()
    assert urlparse(str(principal.url)).path == ANNA
    calendars = principal.calendars()
    assert [urlparse(str(c.url)).path for c in calendars] == [ANNA_CAL]


def test_caldav_library_discovers_from_the_bare_base_url(live):
    _check_caldav_client(live.base_url)


def test_caldav_library_discovers_from_well_known(live):
    _check_caldav_client(live.url("/.well-known/caldav"))
