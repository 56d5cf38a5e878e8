"""Settings page over HTTP: same login as the DAV tree, values from setup_info, CSRF, headers.

Runs on SQLite and PostgreSQL (the form writes through practice_api; the CSRF secret is a row).
"""

from __future__ import annotations

import html
import plistlib
import re
import time

import pytest

from davserver.settings_page.csrf import CsrfTokens
from davserver.setup_info import setup_info
from providers.practice import api, demo
from tests.conftest import COLLEAGUE, DEMO_PASSWORD, DEMO_USER
from tests.leak_scanner import LeakScanner

PAGE = "/settings/"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def csrf_token(page_html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page_html)
    assert match, "the page has no CSRF field"
    return html.unescape(match.group(1))


def shown_value(page_html: str, field_id: str) -> str:
    """The text of a setup value as the browser shows (and copies) it."""
    match = re.search(rf'<code id="{field_id}"[^>]*>(.*?)</code>', page_html, re.S)
    assert match, f"no value {field_id}"
    return html.unescape(match.group(1).replace("<wbr>", ""))


def save(live, fields: dict, user: str = DEMO_USER, token: str | None = None):
    if token is None:
        token = csrf_token(live.request("GET", PAGE, user=user).text)
    data = {"csrf": token, **fields}
    return live.session(user).post(live.url(PAGE), data=data, allow_redirects=False, timeout=30)


def demo_patient_secrets() -> list[str]:
    data = demo.demo_data()
    secrets = []
    for p in data["patients"]:
        secrets += [p["first_name"], p["last_name"], p["phone"]]
    return [s for s in secrets if s] + ["MaMu 1042", "JüÖz 7"]


@pytest.fixture(autouse=True)
def forget_language(live):
    """A test that switches to English leaves the next one a German page (no cookie)."""
    yield
    for session in live.sessions.values():
        session.cookies.clear()


def test_anonymous_and_wrong_password_get_the_dav_trees_401(live):
    dav = live.request("GET", "/anna_maier/calendar/", user=None)
    assert dav.status_code == 401
    for method, path in [
        ("GET", PAGE),
        ("GET", "/settings"),
        ("POST", PAGE),
        ("GET", "/settings/admin"),
        ("GET", "/settings/profile.mobileconfig"),
        ("GET", "/settings/static/settings.css"),
    ]:
        response = live.request(method, path, user=None)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == dav.headers["WWW-Authenticate"]
        assert DEMO_USER not in response.text
    wrong = live.request("GET", PAGE, password="not-the-password")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == dav.headers["WWW-Authenticate"]


def test_german_by_default_with_an_english_switch(live):
    de = live.request("GET", PAGE)
    assert de.status_code == 200
    assert de.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<html lang="de">' in de.text and "Kalender-Synchronisation" in de.text
    assert 'href="/settings/?lang=en"' in de.text
    en = live.request("GET", PAGE + "?lang=en")
    assert '<html lang="en">' in en.text and "Calendar sync" in en.text
    # The way back names German explicitly, so that it is remembered too.
    assert 'href="/settings/?lang=de"' in en.text and "Kalender-Synchronisation" not in en.text
    # The form keeps the language across the save.
    assert 'name="lang" value="en"' in en.text


def test_every_client_value_is_the_one_setup_info_gives(live):
    page = live.request("GET", PAGE).text
    anna = api.find_practitioner(DEMO_USER)
    info = setup_info(anna, live.base_url)
    expected = {
        "login": info.login,
        "ios-server": info.base_url,
        "android-base-url": info.base_url,
        "macos-host": info.host,
        "macos-path": info.path,
        "macos-port": str(info.port),
        "macos-ssl": "Nein",
        "thunderbird-location": info.calendar_url,
        "outlook-url": info.calendar_url,
        "page-url": info.settings_url,
    }
    for field_id, value in expected.items():
        assert shown_value(page, field_id) == value, field_id
    # Nothing the `urls` command prints is missing from the page.
    shown = {shown_value(page, field_id) for field_id in expected}
    for label, value in info.lines():
        assert value in shown or value == "no", label
    assert info.path == "/anna_maier/" and info.host == "127.0.0.1"


def test_security_headers_on_every_response_and_nothing_external(live):
    bernd_page = live.request("GET", "/settings/admin", user=COLLEAGUE)
    assert bernd_page.status_code == 403
    for response in [
        live.request("GET", PAGE),
        live.request("GET", "/settings/static/copy.js"),
        live.request("GET", "/settings/profile.mobileconfig"),
        live.request("GET", "/settings/nothing-here"),
        bernd_page,
        save(live, {"direction": "two-way"}, token="forged"),
    ]:
        for name, value in HEADERS.items():
            assert value in response.headers.get(name, ""), (response.url, name)
    page = live.request("GET", PAGE).text
    # Only same-origin resources, no inline script or style (the CSP would block them anyway).
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', page):
        assert url.startswith(("/settings/", "?")), url
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None
    assert " style=" not in page and "<style" not in page


def test_qr_code_is_made_on_the_server_from_the_page_url(live):
    import segno

    page = live.request("GET", PAGE).text
    match = re.search(r'<svg[^>]*class="qr".*?</svg>', page, re.S)
    assert match, "no inline QR code"
    expected = segno.make(live.base_url + "settings/", error="m")
    assert match.group(0) == expected.svg_inline(scale=4, svgclass="qr", title="QR-Code dieser Seite")


def test_profile_downloads_as_a_mobileconfig_for_the_logged_in_user(live):
    response = live.request("GET", "/settings/profile.mobileconfig", user=COLLEAGUE)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    profile = plistlib.loads(response.content)
    (account,) = profile["PayloadContent"]
    assert account["CalDAVUsername"] == COLLEAGUE
    assert account["CalDAVPrincipalURL"] == "/bernd_huber/"
    assert account["CalDAVHostName"] == "127.0.0.1"
    assert account["CalDAVPort"] == live.config.port
    assert "CalDAVPassword" not in account


def test_form_saves_through_the_data_api_and_says_what_devices_do(live):
    before = api.find_practitioner(DEMO_USER)
    response = save(live, {"pseudonymize": "on", "direction": "server-to-device"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings/?saved=1&pseudonymize=on"
    after = api.find_practitioner(DEMO_USER)
    assert (after.pseudonymize, after.include_phone, after.direction) == (True, False, "server-to-device")
    assert before.include_phone is True  # the unchecked box switched the phone off
    notice = live.request("GET", response.headers["Location"]).text
    assert "jeden Termin neu" in notice and "kein Klarname" in notice
    # A second save without a change of pseudonymization says nothing about it; loosening
    # (phone on, pseudonymization off) is not the practitioner's to decide: the switches are
    # shown locked and what a form sends for them is not taken.
    page = live.request("GET", PAGE).text
    assert re.search(r'id="pseudonymize"[^>]* checked disabled', page) and "Von der Praxis festgelegt" in page
    again = save(live, {"pseudonymize": "on", "include_phone": "on", "direction": "two-way", "lang": "en"})
    assert again.headers["Location"] == "/settings/?lang=en&saved=1"
    # English is now remembered; the German form says "de" in its hidden field.
    locked = save(live, {"direction": "two-way", "include_phone": "on", "lang": "de"})
    assert locked.headers["Location"] == "/settings/?saved=1"
    still = api.find_practitioner(DEMO_USER)
    assert (still.pseudonymize, still.include_phone) == (True, False)
    with pytest.raises(api.PolicyError):  # the data API enforces it, not only the page
        api.update_own_settings(still, pseudonymize=False)
    api.update_practitioner(still, may_relax=True)  # the admin allows it
    off = save(live, {"direction": "two-way", "include_phone": "on", "lang": "de"})
    assert off.headers["Location"].endswith("pseudonymize=off")
    text = live.request("GET", off.headers["Location"]).text
    assert "wieder die vollen Patientennamen" in text
    final = api.find_practitioner(DEMO_USER)
    assert (final.pseudonymize, final.include_phone, final.direction) == (False, True, "two-way")
    assert save(live, {"direction": "sideways"}).status_code == 400
    api.update_practitioner(final, may_relax=False)


def test_form_without_a_valid_csrf_token_is_refused(live):
    anna = api.find_practitioner(DEMO_USER)
    bernd_token = csrf_token(live.request("GET", PAGE, user=COLLEAGUE).text)
    expired = CsrfTokens().mint(anna, now=time.time() - 13 * 3600)
    for token in ["", "garbage", "123.abc", bernd_token, expired]:
        response = save(live, {"pseudonymize": "on", "direction": "two-way"}, token=token)
        assert response.status_code == 403, token
        assert "abgelaufen oder ungültig" in response.text
    no_field = live.session().post(live.url(PAGE), data={"pseudonymize": "on"}, timeout=30)
    assert no_field.status_code == 403
    json_body = live.session().post(
        live.url(PAGE),
        json={"csrf": csrf_token(live.request("GET", PAGE).text), "direction": "two-way"},
        timeout=30,
    )
    assert json_body.status_code == 403
    assert api.find_practitioner(DEMO_USER).pseudonymize == anna.pseudonymize


def test_a_colleague_only_ever_sees_and_changes_their_own_settings(live):
    anna = api.find_practitioner(DEMO_USER)
    page = live.request("GET", PAGE, user=COLLEAGUE).text
    assert shown_value(page, "login") == COLLEAGUE
    assert shown_value(page, "macos-path") == "/bernd_huber/"
    assert "anna_maier" not in page and "Anna Maier" not in page
    # Naming another user in the form changes nothing of theirs: the form has no such field.
    response = save(
        live,
        {
            "pseudonymize": "on",
            "direction": "server-to-device",
            "username": DEMO_USER,
            "practitioner": str(anna.id),
            "id": str(anna.id),
        },
        user=COLLEAGUE,
    )
    assert response.status_code == 303
    assert api.find_practitioner(COLLEAGUE).direction == "server-to-device"
    after = api.find_practitioner(DEMO_USER)
    assert (after.pseudonymize, after.direction) == (anna.pseudonymize, anna.direction)
    assert live.request("GET", "/settings/anna_maier/", user=COLLEAGUE).status_code == 404
    assert live.request("GET", "/settings/admin", user=COLLEAGUE).status_code == 403
    save(live, {"direction": "two-way"}, user=COLLEAGUE)


def test_page_and_profile_carry_no_patient_data(live):
    scanner = LeakScanner(demo_patient_secrets())
    for user in (DEMO_USER, COLLEAGUE):
        for path in (PAGE, PAGE + "?lang=en", "/settings/profile.mobileconfig"):
            response = live.request("GET", path, user=user)
            scanner.record(response.content, f"{user} {path}")
            for name, value in response.headers.items():
                scanner.record(f"{name}: {value}", f"{user} {path} header")
    scanner.assert_clean()


def test_methods_paths_and_static_files(live):
    assert live.request("PUT", PAGE, body="x").status_code == 405
    assert live.request("POST", "/settings/profile.mobileconfig").headers["Allow"] == "GET, HEAD"
    head = live.request("HEAD", PAGE)
    assert head.status_code == 200 and head.content == b""
    moved = live.request("GET", "/settings?lang=en")
    assert moved.status_code == 301 and moved.headers["Location"] == "/settings/?lang=en"
    js = live.request("GET", "/settings/static/copy.js")
    assert js.headers["Content-Type"].startswith("text/javascript") and b"clipboard" in js.content
    assert live.request("GET", "/settings/static/settings.css").status_code == 200
    for path in (
        "/settings/static/nope.css",
        "/settings/static/../../wsgidav.yaml",
        "/settings/static/i18n.py",
        "/settings/templates/base.html",
    ):
        assert live.request("GET", path).status_code == 404, path


def test_csrf_secret_is_shared_by_every_process(live):
    """Two token checkers on one database stand for two server processes."""
    anna = api.find_practitioner(DEMO_USER)
    bernd = api.find_practitioner(COLLEAGUE)
    first, second = CsrfTokens(), CsrfTokens()
    token = first.mint(anna)
    assert second.valid(anna, token)
    assert not second.valid(bernd, token)
    assert not second.valid(anna, token.replace(".", ".0", 1))
    assert not first.valid(anna, first.mint(anna, now=time.time() - 13 * 3600))
    # The token of the running server is valid here too (same secret row).
    assert first.valid(anna, csrf_token(live.request("GET", PAGE).text))

    assert DEMO_PASSWORD not in live.request("GET", PAGE).text
