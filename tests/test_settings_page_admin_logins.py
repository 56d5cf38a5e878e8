"""The admin view's login actions through the real server, on SQLite and PostgreSQL, German
and English: add a person (password shown once), disable/enable, reset a password, revoke a
device, privacy policy; all limited to the admin's own practice. Each action's answer is
checked in both languages (the notice after the redirect, or the page it renders)."""

from __future__ import annotations

import re

import pytest
import requests

from davserver.settings_page.i18n import translator
from providers.practice import api, device_passwords
from providers.practice.models import LoginCounter
from tests import test_settings_page_admin as admin_tests
from tests.conftest import COLLEAGUE, DEMO_PASSWORD
from tests.test_settings_page import csrf_token
from tests.test_settings_page_admin import ADMIN, OTHER_PRACTICE_USER, post_admin

admin_live = admin_tests.admin_live  # the same fixture: anna maier is the demo practice's admin

TEXTS = {"de": ("Neue Person", "Anmeldung sperren"), "en": ("New person", "Disable login")}


def propfind(live, user: str, password: str) -> int:
    return requests.request(
        "PROPFIND", live.url("/"), headers={"Depth": "0"}, auth=(user.encode(), password.encode()), timeout=30
    ).status_code


@pytest.fixture(autouse=True)
def fresh_counters(admin_live):
    LoginCounter.delete().execute()


def act_in(live, lang: str, fields: dict) -> requests.Response:
    """An admin action from the page in `lang`; a redirect is followed to the notice it shows."""
    token = csrf_token(live.request("GET", f"{ADMIN}?lang={lang}").text)
    session = live.session()
    response = session.post(
        live.url(f"{ADMIN}?lang={lang}"), data={"csrf": token, **fields}, allow_redirects=False, timeout=30
    )
    if response.status_code == 303:
        location = response.headers["Location"]
        assert (f"lang={lang}" in location) == (lang != "de"), location  # the language is kept
        done = session.get(requests.compat.urljoin(live.url(ADMIN), location), timeout=30)
        assert done.status_code == 200
        return done
    return response


def notice(lang: str, key: str) -> str:
    text = translator(lang)(key)
    assert text != key and text != translator("en" if lang == "de" else "de")(key)  # translated
    return text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_admin_adds_a_person_with_a_password_shown_once(admin_live, lang):
    live = admin_live
    page = live.request("GET", f"{ADMIN}?lang={lang}").text
    assert all(text in page for text in TEXTS[lang])
    name = f"neu {lang}"
    made = post_admin(live, {"action": "add", "username": name, "display_name": f"Neu {lang}", "lang": lang})
    assert made.status_code == 200
    password = re.search(r'<code id="new-password"[^>]*>([a-z2-9-]+)</code>', made.text).group(1)
    person = api.find_practitioner(name)
    assert person.practice_id == api.find_practitioner(COLLEAGUE).practice_id
    assert propfind(live, name, password) == 207
    assert password not in live.request("GET", ADMIN).text
    taken = post_admin(live, {"action": "add", "username": name})
    assert taken.status_code == 400


@pytest.mark.parametrize("lang", ["de", "en"])
def test_admin_disables_and_enables_a_colleague_but_not_themselves(admin_live, lang):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    disabled = act_in(live, lang, {"action": "disable", "practitioner": str(bernd.id)})
    try:
        assert notice(lang, "admin.disable.done") in disabled.text
        assert f"({notice(lang, 'admin.disabled')})" in disabled.text
        assert propfind(live, COLLEAGUE, DEMO_PASSWORD) == 401
    finally:
        enabled = act_in(live, lang, {"action": "enable", "practitioner": str(bernd.id)})
    assert notice(lang, "admin.enable.done") in enabled.text
    assert propfind(live, COLLEAGUE, DEMO_PASSWORD) == 207
    anna = api.find_practitioner("anna maier")
    refused = act_in(live, lang, {"action": "disable", "practitioner": str(anna.id)})
    assert refused.status_code == 400 and notice(lang, "admin.self") in refused.text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_admin_resets_a_colleagues_password_shown_once(admin_live, lang):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    _, phone = device_passwords.create(bernd, f"Handy {lang}")
    try:
        reset = act_in(live, lang, {"action": "reset", "practitioner": str(bernd.id)})
        assert reset.status_code == 200 and notice(lang, "password.once") in reset.text
        new = re.search(r'<code id="new-password"[^>]*>([a-z2-9-]+)</code>', reset.text).group(1)
        assert propfind(live, COLLEAGUE, DEMO_PASSWORD) == 401 and propfind(live, COLLEAGUE, phone) == 401
        assert propfind(live, COLLEAGUE, new) == 207
        assert new not in live.request("GET", f"{ADMIN}?lang={lang}").text
    finally:
        api.set_password(api.find_practitioner(COLLEAGUE), DEMO_PASSWORD)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_admin_revokes_one_device_of_a_colleague(admin_live, lang):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    lost, lost_password = device_passwords.create(bernd, "Verlorenes Handy")
    _, kept = device_passwords.create(bernd, "Tablet")
    assert propfind(live, COLLEAGUE, lost_password) == 207  # cached in the server from now on
    fields = {"action": "revoke_device", "practitioner": str(bernd.id), "device": str(lost.id)}
    assert notice(lang, "admin.revoke_device.done") in act_in(live, lang, fields).text
    assert lost.id not in [d.id for d in device_passwords.devices_of(bernd.id)]
    assert propfind(live, COLLEAGUE, lost_password) == 401
    assert propfind(live, COLLEAGUE, kept) == 207
    # A device id of another person, or a person of another practice: not found.
    anna = api.find_practitioner("anna maier")
    wrong = act_in(live, lang, {**fields, "practitioner": str(anna.id)})
    assert wrong.status_code == 404
    carla = api.find_practitioner(OTHER_PRACTICE_USER)
    foreign = act_in(live, lang, {"action": "disable", "practitioner": str(carla.id)})
    assert foreign.status_code == 404 and not api.find_practitioner(OTHER_PRACTICE_USER).disabled


@pytest.mark.parametrize("lang", ["de", "en"])
def test_admin_sets_the_privacy_policy(admin_live, lang):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    fields = {"action": "policy", "practitioner": str(bernd.id), "pseudonymize": "on", "may_relax": "on"}
    assert notice(lang, "admin.policy.done") in act_in(live, lang, fields).text
    bernd = api.find_practitioner(COLLEAGUE)
    assert (bernd.pseudonymize, bernd.include_phone, bernd.may_relax) == (True, False, True)
    assert (
        notice(lang, "admin.policy.done")
        in act_in(live, lang, {"action": "policy", "practitioner": str(bernd.id)}).text
    )
    bernd = api.find_practitioner(COLLEAGUE)
    assert (bernd.pseudonymize, bernd.include_phone, bernd.may_relax) == (False, False, False)
