"""The settings page's login parts through the real server, on SQLite and PostgreSQL, in
German and English: device passwords (new, shown once, revoke), password change, logout."""

from __future__ import annotations

import re

import pytest
import requests

from davserver.settings_page.i18n import translator
from providers.practice.models import LoginCounter
from tests.conftest import COLLEAGUE, DEMO_PASSWORD, DEMO_USER
from tests.test_settings_page import csrf_token

PAGE = "/settings/"
TEXTS = {
    "de": {"new": "Neues Gerät", "once": "nur dieses eine Mal", "revoked": "gesperrt", "out": "abgemeldet"},
    "en": {"new": "New device", "once": "this one time only", "revoked": "revoked", "out": "logged out"},
}


def post(live, path: str, fields: dict, lang: str, user: str = DEMO_USER, password: str = DEMO_PASSWORD):
    token = csrf_token(live.request("GET", f"{PAGE}?lang={lang}", user=user, password=password).text)
    return live.request(
        "POST",
        f"{PAGE}{path}?lang={lang}",
        body="&".join(f"{k}={requests.utils.quote(str(v))}" for k, v in {"csrf": token, **fields}.items()),
        user=user,
        password=password,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def propfind(live, user: str, password: str) -> int:
    return requests.request(
        "PROPFIND",
        live.url("/"),
        headers={"Depth": "0"},
        auth=(user.encode(), password.encode()),
        timeout=30,
    ).status_code


@pytest.fixture(autouse=True)
def fresh_counters(live):
    LoginCounter.delete().execute()


@pytest.mark.parametrize("lang", ["de", "en"])
def test_new_device_shows_its_password_once_and_revoking_it_on_the_page_cuts_it(live, lang):
    shown = live.request("GET", f"{PAGE}?lang={lang}")
    assert TEXTS[lang]["new"] in shown.text
    made = post(live, "devices", {"action": "new", "label": f"Handy {lang}"}, lang)
    assert made.status_code == 200 and TEXTS[lang]["once"] in made.text
    password = re.search(r'<code id="device-password"[^>]*>([^<]+)</code>', made.text).group(1)
    assert propfind(live, DEMO_USER, password) == 207
    page = live.request("GET", f"{PAGE}?lang={lang}").text
    assert f"Handy {lang}" in page and password not in page  # listed, never shown again
    device_id = re.search(rf'id="device-(\d+)"><strong>Handy {lang}</strong>', page).group(1)
    # A colleague cannot revoke Anna's device: it is not found for them.
    foreign = post(live, "devices", {"action": "revoke", "device": device_id}, lang, user=COLLEAGUE)
    assert foreign.status_code == 404
    assert propfind(live, DEMO_USER, password) == 207
    revoked = post(live, "devices", {"action": "revoke", "device": device_id}, lang)
    assert revoked.status_code == 200 and TEXTS[lang]["revoked"] in revoked.text
    assert propfind(live, DEMO_USER, password) == 401


@pytest.mark.parametrize("lang", ["de", "en"])
def test_device_forms_refuse_bad_input(live, lang):
    bad_label = translator(lang)("apppw.bad_label")
    for label in ("   ", "x" * 101):
        refused = post(live, "devices", {"action": "new", "label": label}, lang)
        assert refused.status_code == 400 and bad_label in refused.text
    assert post(live, "devices", {"action": "revoke", "device": "abc"}, lang).status_code == 400
    assert post(live, "devices", {"action": "explode"}, lang).status_code == 400
    no_token = live.request(
        "POST",
        f"{PAGE}devices",
        body="action=new&label=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert no_token.status_code == 403


@pytest.mark.parametrize("lang", ["de", "en"])
def test_password_change_checks_current_repeat_and_policy(live, lang):
    new = "Zimmer-Lampe-Wolke-93"
    t = translator(lang)
    wrong = post(live, "password", {"current": "falsch", "new": new, "repeat": new}, lang)
    assert wrong.status_code == 403 and t("account.wrong") in wrong.text
    mismatch = post(live, "password", {"current": DEMO_PASSWORD, "new": new, "repeat": new + "x"}, lang)
    assert mismatch.status_code == 400 and t("account.mismatch") in mismatch.text
    weak = post(
        live, "password", {"current": DEMO_PASSWORD, "new": "anna maier1", "repeat": "anna maier1"}, lang
    )
    assert weak.status_code == 400 and t("account.weak") in weak.text
    assert propfind(live, DEMO_USER, DEMO_PASSWORD) == 207
    changed = post(live, "password", {"current": DEMO_PASSWORD, "new": new, "repeat": new}, lang)
    assert changed.status_code == 200 and t("account.changed") in changed.text
    try:
        assert propfind(live, DEMO_USER, DEMO_PASSWORD) == 401
        assert propfind(live, DEMO_USER, new) == 207
    finally:
        back = post(
            live,
            "password",
            {"current": new, "new": DEMO_PASSWORD, "repeat": DEMO_PASSWORD},
            lang,
            password=new,
        )
        if back.status_code != 200:  # the policy refuses the demo password: set it directly
            from providers.practice import api

            api.set_password(api.find_practitioner(DEMO_USER), DEMO_PASSWORD)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_logout_answers_401_with_the_challenge(live, lang):
    response = live.request("GET", f"{PAGE}logout?lang={lang}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="praxis-caldav"')
    assert TEXTS[lang]["out"] in response.text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_profile_with_its_own_device_password(live, lang):
    import plistlib

    response = post(live, "devices", {"action": "profile", "label": f"iPad {lang}"}, lang)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-apple-aspen-config"
    account = plistlib.loads(response.content)["PayloadContent"][0]
    password = account["CalDAVPassword"]
    assert propfind(live, account["CalDAVUsername"], password) == 207
    page = live.request("GET", f"{PAGE}?lang={lang}").text
    assert f"iPad {lang}" in page and password not in page
