"""Push registrations per device login, on SQLite and PostgreSQL: the settings page shows
"Push aktiv" / "Push active" for each device password (and the practice password) that holds a
live registration, and revoking the device, the grant, or the login deletes the registrations
that it made possible, so no message goes out for them any more."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from providers import push_properties
from providers.practice import accounts, api, device_passwords
from providers.practice import push_subscriptions as subs
from providers.practice.models import DevicePassword, Grant, PushSubscription
from tests.conftest import wait_until
from tests.test_push import PushService, _fields, push_server, register_body
from tests.test_settings_page_logins import post
from tests.two_way import PASSWORD, calendar_path, new_practitioner

PAGE = "/settings/"
ACTIVE = {"de": "Push aktiv", "en": "Push active"}


@pytest.fixture(scope="module")
def pushed(db_url):
    with push_server(db_url) as served:
        yield served


def _register(live, user, service: PushService, path: str, password: str = PASSWORD, calendar: str = ""):
    return live.request(
        "POST",
        calendar or calendar_path(user),
        register_body(service.base + path, service),
        user=user.username,
        password=password,
        headers={"Content-Type": "application/xml"},
    )


def _rows(viewer) -> dict[str, int | None]:
    """{push resource path: device id} of the viewer's registrations."""
    query = PushSubscription.select().where(PushSubscription.viewer == viewer.id)
    return {row.push_resource.rsplit("/", 1)[1]: row.device_id for row in query}


def _device_item(page: str, device_id: int) -> str:
    return re.search(rf'<li id="device-{device_id}">.*?</li>', page, re.S).group(0)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_the_page_shows_push_active_per_device_login_and_revoking_the_device_ends_it(pushed, lang):
    live, service = pushed
    user = new_practitioner(f"dev{lang}")
    phone, phone_password = device_passwords.create(user, "Phone")
    tablet, _ = device_passwords.create(user, "Tablet")
    page = live.request("GET", f"{PAGE}?lang={lang}", user=user.username, password=PASSWORD).text
    assert ACTIVE[lang] not in page and 'id="push-practice-login"' not in page

    assert _register(live, user, service, f"/{lang}-phone", password=phone_password).status_code == 201
    assert _rows(user) == {f"{lang}-phone": phone.id}
    page = live.request("GET", f"{PAGE}?lang={lang}", user=user.username, password=PASSWORD).text
    assert ACTIVE[lang] in _device_item(page, phone.id)
    assert ACTIVE[lang] not in _device_item(page, tablet.id)
    assert 'id="push-practice-login"' not in page

    assert _register(live, user, service, f"/{lang}-practice").status_code == 201  # practice password
    assert _rows(user) == {f"{lang}-phone": phone.id, f"{lang}-practice": None}
    page = live.request("GET", f"{PAGE}?lang={lang}", user=user.username, password=PASSWORD).text
    practice_line = re.search(r'<p class="card" id="push-practice-login">.*?</p>', page, re.S).group(0)
    assert ACTIVE[lang] in practice_line

    # Revoked on the page: its registration is deleted, the practice password's stays.
    revoked = post(live, "devices", {"action": "revoke", "device": phone.id}, lang, user.username, PASSWORD)
    assert revoked.status_code == 200
    assert _rows(user) == {f"{lang}-practice": None}
    api.create_appointment(user, _fields(dt.datetime(2031, 9, 1, 9), "x"))
    wait_until(lambda: len(service.to(f"/{lang}-practice")) == 1)
    assert service.to(f"/{lang}-phone") == []

    # With push switched off the registration stays until it expires, but nothing is sent.
    push_properties.disable()
    try:
        page = live.request("GET", f"{PAGE}?lang={lang}", user=user.username, password=PASSWORD).text
        assert ACTIVE[lang] not in page
    finally:
        push_properties.enable()
    page = live.request("GET", f"{PAGE}?lang={lang}", user=user.username, password=PASSWORD).text
    assert ACTIVE[lang] in page

    # An expired registration is not "active".
    PushSubscription.update(expires=dt.datetime(2020, 1, 1)).where(
        PushSubscription.viewer == user.id
    ).execute()
    page = live.request("GET", f"{PAGE}?lang={lang}", user=user.username, password=PASSWORD).text
    assert ACTIVE[lang] not in page


def test_a_renewal_by_another_login_moves_the_registration_to_it(pushed):
    live, service = pushed
    user = new_practitioner("renew")
    phone, phone_password = device_passwords.create(user, "Phone")
    assert _register(live, user, service, "/renew").status_code == 201
    assert _register(live, user, service, "/renew", password=phone_password).status_code == 204
    assert _rows(user) == {"renew": phone.id}
    assert subs.push_logins(user.id) == {phone.id}


def test_revoking_every_device_keeps_the_practice_passwords_registration(pushed):
    live, service = pushed
    user = new_practitioner("all")
    _, phone_password = device_passwords.create(user, "Phone")
    assert _register(live, user, service, "/all-phone", password=phone_password).status_code == 201
    assert _register(live, user, service, "/all-practice").status_code == 201
    device_passwords.revoke_all(user.id)
    assert _rows(user) == {"all-practice": None}


def test_revoking_a_grant_deletes_the_grantees_registrations_on_that_calendar_only(pushed):
    live, service = pushed
    owner = new_practitioner("lend")
    grantee = api.create_practitioner(owner.practice, f"borrow {owner.id}", PASSWORD)
    api.grant_access(owner, grantee, can_write=False)
    shared = f"/{api.url_segment(grantee.username)}/shared-{api.url_segment(owner.username)}/"
    assert _register(live, grantee, service, "/borrowed", calendar=shared).status_code == 201
    assert _register(live, grantee, service, "/own").status_code == 201
    assert _register(live, owner, service, "/lent").status_code == 201
    assert api.revoke_access(owner, grantee)
    assert _rows(grantee) == {"own": None}
    assert _rows(owner) == {"lent": None}


def test_disabling_or_archiving_a_login_deletes_its_registrations(pushed):
    live, service = pushed
    owner = new_practitioner("leave")
    grantee = api.create_practitioner(owner.practice, f"stay {owner.id}", PASSWORD)
    api.grant_access(owner, grantee, can_write=False)
    shared = f"/{api.url_segment(grantee.username)}/shared-{api.url_segment(owner.username)}/"
    assert _register(live, owner, service, "/leave").status_code == 201
    assert _register(live, grantee, service, "/stay", calendar=shared).status_code == 201

    accounts.set_disabled(owner, True)
    assert _rows(owner) == {}
    assert _rows(grantee) == {"stay": None}  # the grant stands: the calendar still changes
    accounts.set_disabled(owner, False)
    assert _register(live, owner, service, "/leave").status_code == 201

    api.create_appointment(owner, _fields(dt.datetime(2031, 9, 2, 9), "x"))  # so it is archived
    assert accounts.delete(owner, keep_appointments=True) == "archived"
    assert _rows(owner) == {} and _rows(grantee) == {}


def test_the_periodic_clean_up_deletes_what_another_path_left(pushed):
    """A grant deleted, a login disabled or a device revoked without the providers' functions
    (by hand in SQL, or by an older release): the clean-up deletes the registrations."""
    live, service = pushed
    owner = new_practitioner("stale")
    grantee = api.create_practitioner(owner.practice, f"gone {owner.id}", PASSWORD)
    api.grant_access(owner, grantee, can_write=False)
    shared = f"/{api.url_segment(grantee.username)}/shared-{api.url_segment(owner.username)}/"
    phone, phone_password = device_passwords.create(owner, "Phone")
    assert _register(live, grantee, service, "/stale-grantee", calendar=shared).status_code == 201
    assert _register(live, owner, service, "/stale-phone", password=phone_password).status_code == 201
    assert _register(live, owner, service, "/stale-practice").status_code == 201
    Grant.delete().where(Grant.owner == owner.id).execute()
    DevicePassword.update(revoked_at=dt.datetime(2030, 1, 1)).where(DevicePassword.id == phone.id).execute()
    subs.delete_stale()
    assert _rows(grantee) == {} and _rows(owner) == {"stale-practice": None}
