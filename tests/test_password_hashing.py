"""Issue 17 item 7: passwords hashed by a maintained library (argon2-cffi, Argon2id), the old
`scrypt$` hashes still verify and are replaced by the current format on the next successful
login (rehash on login), practice and device passwords alike. Through the real server on
SQLite and PostgreSQL."""

from __future__ import annotations

import os

import pytest
from argon2 import PasswordHasher

from providers.practice import accounts, api, device_passwords
from providers.practice.models import DevicePassword, LoginCounter, Practitioner
from providers.practice.passwords import hash_password, legacy_scrypt_hash, needs_rehash, verify_password
from tests.conftest import DEMO_PASSWORD, DEMO_USER
from tests.test_device_passwords import add_device, page, propfind

CURRENT = "$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.fixture(autouse=True)
def fresh_counters(live):
    LoginCounter.delete().execute()
    yield


def stored_hash(name: str) -> str:
    return Practitioner.get(Practitioner.login_key == api.login_key(name)).password_hash


def set_hash(name: str, value: str) -> None:
    Practitioner.update(password_hash=value).where(Practitioner.login_key == api.login_key(name)).execute()


def test_formats_verify_and_only_the_current_one_needs_no_rehash():
    current, legacy = hash_password("Geheim-123"), legacy_scrypt_hash("Geheim-123", os.urandom(16))
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("Geheim-123")
    assert current.startswith(CURRENT) and legacy.startswith("scrypt$16384$8$1$")
    for stored in (current, legacy, weak):
        assert verify_password("Geheim-123", stored) and not verify_password("geheim-123", stored)
    assert [needs_rehash(h) for h in (current, legacy, weak)] == [False, True, True]
    for broken in ("", "scrypt$1$2", "scrypt$x$8$1$AA==$AA==", "$argon2id$kaputt", "plain"):
        assert not verify_password("Geheim-123", broken)


def test_an_old_scrypt_practice_password_logs_in_and_is_rehashed_once(live):
    user = "rehash praxis"
    if api.find_practitioner(user) is None:
        api.create_practitioner(api.find_practitioner(DEMO_USER).practice, user, "Alt-Passwort-1")
    set_hash(user, legacy_scrypt_hash("Alt-Passwort-1", os.urandom(16)))
    # A wrong password changes nothing.
    assert propfind(live, user, "falsch", path="/").status_code == 401
    assert stored_hash(user).startswith("scrypt$")
    assert propfind(live, user, "Alt-Passwort-1", path="/").status_code == 207
    upgraded = stored_hash(user)
    assert upgraded.startswith(CURRENT) and verify_password("Alt-Passwort-1", upgraded)
    # The new hash works at once (the cache key holds the stored hash) and is not redone.
    assert propfind(live, user, "Alt-Passwort-1", path="/").status_code == 207
    assert page(live, user, "Alt-Passwort-1").status_code == 200
    assert stored_hash(user) == upgraded


def test_outdated_argon2_parameters_are_raised_on_login(live):
    user = "rehash parameter"
    if api.find_practitioner(user) is None:
        api.create_practitioner(api.find_practitioner(DEMO_USER).practice, user, "Alt-Passwort-2")
    set_hash(user, PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("Alt-Passwort-2"))
    assert page(live, user, "Alt-Passwort-2").status_code == 200  # the settings page login too
    assert stored_hash(user).startswith(CURRENT)


def test_an_old_scrypt_device_password_syncs_and_is_rehashed(live):
    device_id, password = add_device(live.db_url, "Altes iPad")
    chars = device_passwords.normalized(password)
    legacy = legacy_scrypt_hash(chars, os.urandom(16))
    DevicePassword.update(password_hash=legacy).where(DevicePassword.id == device_id).execute()
    assert propfind(live, DEMO_USER, password).status_code == 207
    upgraded = DevicePassword.get_by_id(device_id).password_hash
    assert upgraded.startswith(CURRENT) and verify_password(chars, upgraded)
    assert propfind(live, DEMO_USER, password).status_code == 207
    assert DevicePassword.get_by_id(device_id).password_hash == upgraded


def test_a_rehash_never_overwrites_a_password_changed_meanwhile(live):
    anna = api.find_practitioner(DEMO_USER)
    before = anna.password_hash
    assert not accounts.rehash_password(anna, "scrypt$stale", DEMO_PASSWORD)
    assert stored_hash(DEMO_USER) == before
    device_id, password = add_device(live.db_url, "Wechsel")
    device = DevicePassword.get_by_id(device_id)
    device.password_hash = "scrypt$stale"
    assert not device_passwords.rehash(device, device_passwords.normalized(password))
    assert propfind(live, DEMO_USER, password).status_code == 207
