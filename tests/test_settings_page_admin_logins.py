"""The admin view's login actions through the real server, on SQLite and PostgreSQL, German
and English: add a person (password shown once), disable/enable, revoke a device, privacy
policy; all limited to the admin's own practice."""

from __future__ import annotations

import re

import pytest
import requests

from providers.practice import api, device_passwords
from providers.practice.models import LoginCounter
from tests import test_settings_page_admin as admin_tests
from tests.conftest import COLLEAGUE, DEMO_PASSWORD
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


def test_admin_disables_and_enables_a_colleague_but_not_themselves(admin_live):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    assert post_admin(live, {"action": "disable", "practitioner": str(bernd.id)}).status_code == 303
    try:
        assert propfind(live, COLLEAGUE, DEMO_PASSWORD) == 401
        assert "(gesperrt)" in live.request("GET", f"{ADMIN}?lang=de").text
    finally:
        assert post_admin(live, {"action": "enable", "practitioner": str(bernd.id)}).status_code == 303
    assert propfind(live, COLLEAGUE, DEMO_PASSWORD) == 207
    anna = api.find_practitioner("anna maier")
    assert post_admin(live, {"action": "disable", "practitioner": str(anna.id)}).status_code == 400


def test_admin_revokes_one_device_of_a_colleague(admin_live):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    lost, _ = device_passwords.create(bernd, "Verlorenes Handy")
    _, kept = device_passwords.create(bernd, "Tablet")
    lost_password = None
    # The lost device's password is unknown to the test; its row must become revoked.
    response = post_admin(
        live, {"action": "revoke_device", "practitioner": str(bernd.id), "device": str(lost.id)}
    )
    assert response.status_code == 303 and lost_password is None
    assert device_passwords.devices_of(bernd.id) and lost.id not in [
        d.id for d in device_passwords.devices_of(bernd.id)
    ]
    assert propfind(live, COLLEAGUE, kept) == 207
    # A device id of another person, or a person of another practice: not found.
    anna = api.find_practitioner("anna maier")
    wrong = post_admin(
        live, {"action": "revoke_device", "practitioner": str(anna.id), "device": str(lost.id)}
    )
    assert wrong.status_code == 404
    carla = api.find_practitioner(OTHER_PRACTICE_USER)
    foreign = post_admin(live, {"action": "disable", "practitioner": str(carla.id)})
    assert foreign.status_code == 404 and not api.find_practitioner(OTHER_PRACTICE_USER).disabled


def test_admin_sets_the_privacy_policy(admin_live):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    fields = {"action": "policy", "practitioner": str(bernd.id), "pseudonymize": "on", "may_relax": "on"}
    assert post_admin(live, fields).status_code == 303
    bernd = api.find_practitioner(COLLEAGUE)
    assert (bernd.pseudonymize, bernd.include_phone, bernd.may_relax) == (True, False, True)
    assert post_admin(live, {"action": "policy", "practitioner": str(bernd.id)}).status_code == 303
    bernd = api.find_practitioner(COLLEAGUE)
    assert (bernd.pseudonymize, bernd.include_phone, bernd.may_relax) == (False, False, False)
