"""Admin view: device sync status, delegations and lock-out, limited to the admin's practice."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from providers.practice import api, device_passwords
from providers.practice.models import DeviceSeen, Grant, utcnow
from tests.conftest import COLLEAGUE, DEMO_PASSWORD, DEMO_USER
from tests.leak_scanner import LeakScanner
from tests.test_settings_page import csrf_token, demo_patient_secrets

ADMIN = "/settings/admin"
IOS = "iOS/17.4 (21E219) dataaccessd/1.0"
DAVX5 = "DAVx5/4.3.13-ose (2024/02/05; dav4jvm; okhttp/4.12.0) Android/14"
OTHER_PRACTICE_USER = "carla nord"


@pytest.fixture(scope="module")
def admin_live(live):
    """The demo practice with anna maier as its admin, and a second practice next door."""
    api.update_practitioner(api.find_practitioner(DEMO_USER), is_admin=True)
    if api.find_practitioner(OTHER_PRACTICE_USER) is None:
        other = api.get_or_create_practice("Praxis Nord")
        api.create_practitioner(other, OTHER_PRACTICE_USER, "nord-pw", is_admin=True)
    return live


def post_admin(live, fields: dict, user: str = DEMO_USER, password: str = DEMO_PASSWORD):
    token = csrf_token(live.request("GET", ADMIN, user=user, password=password).text)
    session = live.session(user, password)
    return session.post(live.url(ADMIN), data={"csrf": token, **fields}, allow_redirects=False, timeout=30)


@pytest.fixture(autouse=True)
def forget_language(admin_live):
    """A test that switches to English leaves the next one a German page (no cookie)."""
    yield
    for session in admin_live.sessions.values():
        session.cookies.clear()


def test_only_admins_get_the_admin_view(admin_live):
    live = admin_live
    assert live.request("GET", ADMIN, user=COLLEAGUE).status_code == 403
    bernd_token = csrf_token(live.request("GET", "/settings/", user=COLLEAGUE).text)
    refused = live.session(COLLEAGUE).post(
        live.url(ADMIN),
        data={
            "csrf": bernd_token,
            "action": "reset",
            "practitioner": str(api.find_practitioner(DEMO_USER).id),
        },
        timeout=30,
    )
    assert refused.status_code == 403
    page = live.request("GET", "/settings/", user=COLLEAGUE).text
    assert 'href="/settings/admin"' not in page
    assert 'href="/settings/admin"' in live.request("GET", "/settings/").text


def test_admin_sees_only_their_own_practice(admin_live):
    live = admin_live
    page = live.request("GET", ADMIN).text
    assert "Bernd Huber" in page and "Dr. Anna Maier" in page
    assert OTHER_PRACTICE_USER not in page
    carla = api.find_practitioner(OTHER_PRACTICE_USER)
    bernd = api.find_practitioner(COLLEAGUE)
    hash_before = carla.password_hash
    assert post_admin(live, {"action": "reset", "practitioner": str(carla.id)}).status_code == 404
    assert api.find_practitioner(OTHER_PRACTICE_USER).password_hash == hash_before
    grant = {"action": "grant", "owner": str(carla.id), "grantee": str(bernd.id), "level": "read"}
    assert post_admin(live, grant).status_code == 404
    # The other practice's admin does not see ours either.
    theirs = live.request("GET", ADMIN, user=OTHER_PRACTICE_USER, password="nord-pw").text
    assert "Bernd Huber" not in theirs and OTHER_PRACTICE_USER in theirs
    assert post_admin(live, {"action": "nonsense"}).status_code == 400


def test_admin_view_carries_no_patient_data(admin_live):
    scanner = LeakScanner(demo_patient_secrets())
    for path in (ADMIN, ADMIN + "?lang=en"):
        scanner.record(admin_live.request("GET", path).content, path)
    scanner.assert_clean()


def test_device_status_is_recorded_per_family_at_most_once_a_minute(admin_live):
    live = admin_live
    anna = api.find_practitioner(DEMO_USER)
    DeviceSeen.delete().execute()
    for agent in (IOS, IOS, DAVX5):
        response = live.request(
            "PROPFIND", "/anna_maier/calendar/", headers={"User-Agent": agent, "Depth": "0"}
        )
        assert response.status_code == 207
    rows = {r.family: r.last_seen for r in DeviceSeen.select().where(DeviceSeen.practitioner == anna.id)}
    assert set(rows) == {"ios", "davx5"}
    # Within the minute another process's write leaves the row alone; later it moves.
    api.record_device_seen(anna.id, "ios", now=rows["ios"] + dt.timedelta(seconds=30))
    assert DeviceSeen.get(family="ios", practitioner=anna.id).last_seen == rows["ios"]
    later = rows["ios"] + dt.timedelta(minutes=2)
    api.record_device_seen(anna.id, "ios", now=later)
    assert DeviceSeen.get(family="ios", practitioner=anna.id).last_seen == later
    # Visiting the settings page is not a device sync; failed logins are not recorded.
    live.request("GET", "/settings/", headers={"User-Agent": "Mozilla/5.0 Firefox/128.0"})
    live.request(
        "PROPFIND",
        "/anna_maier/calendar/",
        password="wrong",
        headers={"User-Agent": "Thunderbird/128.0", "Depth": "0"},
    )
    assert DeviceSeen.select().where(DeviceSeen.practitioner == anna.id).count() == 2
    admin_page = live.request("GET", ADMIN).text
    assert "iPhone/iPad" in admin_page and "Android (DAVx⁵)" in admin_page
    assert "iPhone/iPad" in live.request("GET", "/settings/").text
    assert utcnow() - rows["davx5"] < dt.timedelta(minutes=5)


def test_admin_grants_and_revokes_delegation(admin_live):
    live = admin_live
    anna, bernd = api.find_practitioner(DEMO_USER), api.find_practitioner(COLLEAGUE)
    shared = "/bernd_huber/shared-anna_maier/"
    grant = {"action": "grant", "owner": str(anna.id), "grantee": str(bernd.id), "level": "read"}
    response = post_admin(live, grant)
    assert response.status_code == 303 and "done=grant" in response.headers["Location"]
    assert Grant.get(owner=anna.id, grantee=bernd.id).can_write is False
    assert live.request("PROPFIND", shared, user=COLLEAGUE, headers={"Depth": "0"}).status_code == 207
    page = live.request("GET", ADMIN).text
    assert "Bernd Huber sieht den Kalender von Dr. Anna Maier" in page
    revoke = {"action": "revoke", "owner": str(anna.id), "grantee": str(bernd.id)}
    assert post_admin(live, revoke).status_code == 303
    assert Grant.select().where(Grant.owner == anna.id).count() == 0
    assert live.request("PROPFIND", shared, user=COLLEAGUE, headers={"Depth": "0"}).status_code == 404
    to_self = {**grant, "grantee": str(anna.id)}
    assert post_admin(live, to_self).status_code == 400


def test_grant_form_starts_empty_and_revoke_looks_destructive(admin_live):
    live = admin_live
    anna, bernd = api.find_practitioner(DEMO_USER), api.find_practitioner(COLLEAGUE)
    api.grant_access(anna, bernd, can_write=False)
    try:
        page = live.request("GET", ADMIN).text
        form = page[page.index('class="grant"') :]
        for name in ("owner", "grantee"):
            select = re.search(rf'<select name="{name}" required>(.*?)</select>', form, re.S)
            assert select, name
            # The first, preselected choice is empty: nobody is granted anything by one click.
            first = re.search(r"<option ([^>]*)>", select.group(1)).group(1)
            assert first == 'value="" selected', first
            assert select.group(1).count(" selected") == 1
        revoke = re.search(r'<button type="submit"([^>]*)>Freigabe entziehen</button>', page)
        assert revoke and 'class="danger"' in revoke.group(1)
        grant_button = re.search(r'<button type="submit"([^>]*)>Freigeben</button>', page)
        assert grant_button and "danger" not in grant_button.group(1)
        # Sent empty anyway (a browser ignoring `required`): a clear 400, nothing granted.
        empty = post_admin(live, {"action": "grant", "owner": "", "grantee": "", "level": "read"})
        assert empty.status_code == 400
        assert "Bitte wählen Sie aus, wessen Kalender wer sehen soll." in empty.text
        assert Grant.select().where(Grant.owner == bernd.id).count() == 0
    finally:
        api.revoke_access(anna, bernd)


def test_lock_out_sets_a_new_password_shown_once(admin_live):
    live = admin_live
    bernd = api.find_practitioner(COLLEAGUE)
    assert (
        live.request("PROPFIND", "/bernd_huber/calendar/", user=COLLEAGUE, headers={"Depth": "0"}).status_code
        == 207
    )
    _, phone = device_passwords.create(bernd, "Berndes Handy")
    assert (
        live.request("PROPFIND", "/", user=COLLEAGUE, password=phone, headers={"Depth": "0"}).status_code
        == 207
    )
    response = post_admin(live, {"action": "reset", "practitioner": str(bernd.id)})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    # Lock-out means every device: device passwords too.
    assert (
        live.request("PROPFIND", "/", user=COLLEAGUE, password=phone, headers={"Depth": "0"}).status_code
        == 401
    )
    new = re.search(r'<code id="new-password"[^>]*>([a-z2-9-]+)</code>', response.text).group(1)
    assert len(new) == 19
    # Every device with the old password is out at once (the credential cache included).
    old = live.request("PROPFIND", "/bernd_huber/calendar/", user=COLLEAGUE, headers={"Depth": "0"})
    assert old.status_code == 401
    assert (
        live.request(
            "PROPFIND", "/bernd_huber/calendar/", user=COLLEAGUE, password=new, headers={"Depth": "0"}
        ).status_code
        == 207
    )
    assert new not in live.request("GET", ADMIN).text
    api.set_password(api.find_practitioner(COLLEAGUE), DEMO_PASSWORD)
