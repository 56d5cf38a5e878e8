"""Settings page parts without a server: texts, client families, public URL, passwords."""

from __future__ import annotations

import pytest

from davserver.config import ServerConfig
from davserver.settings_page import admin, i18n, web
from davserver.settings_page.devices import FAMILIES, user_agent_family
from davserver.setup_info import PROFILE_TEXTS


def test_both_languages_have_every_text():
    assert set(i18n.DE) == set(i18n.EN)
    assert all(i18n.DE[k] != i18n.EN[k] for k in ("title", "save", "pseudonymize"))
    for family in FAMILIES:
        assert f"family.{family}" in i18n.DE
    # Every page language has the profile's texts too (the profile follows the page).
    assert set(PROFILE_TEXTS) == set(i18n.LANGUAGES)
    assert i18n.negotiate("en", None, None) == "en"
    assert i18n.negotiate("fr", None, None) == "de" and i18n.negotiate(None, None, None) == "de"


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        ("iOS/17.4 (21E219) dataaccessd/1.0", "ios"),
        ("macOS/14.4 (23E214) CalendarAgent/1000", "macos"),
        ("Mac OS X/10.15.7 (19H2) CalendarAgent/954", "macos"),
        ("DAVx5/4.3.13-ose (2024/02/05; dav4jvm; okhttp/4.12.0) Android/14", "davx5"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1", "thunderbird"),
        ("CalDavSynchronizer/4.4", "outlook"),
        ("Evolution/3.50.0", "evolution"),
        ("vdirsyncer/0.19.2", "vdirsyncer"),
        ("python-caldav/1.3.9", "python"),
        ("Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36", "browser"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_user_agent_families(agent, family):
    assert user_agent_family(agent) == family


def environ(**extra) -> dict:
    return {
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "praxis.lan:8080",
        "praxis.prefix": "",
        "SERVER_NAME": "0.0.0.0",
        "SERVER_PORT": "8080",
        **extra,
    }


def test_public_url_comes_from_the_configuration_or_the_browsers_request():
    config = ServerConfig(host="0.0.0.0")
    assert web.base_url(environ(), config) == "http://praxis.lan:8080/"
    assert web.base_url(environ(**{"praxis.prefix": "/kal"}), config) == "http://praxis.lan:8080/kal/"
    # A Host header that is more than host:port is not put into URLs shown to the user.
    for bad in ("evil.example/path", "user@evil.example", "a b", "x:notaport"):
        assert web.base_url(environ(HTTP_HOST=bad), config) == "http://0.0.0.0:8080/", bad
    # Forwarded headers count only behind a trusted proxy.
    forwarded = environ(HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST="kalender.at")
    assert web.base_url(forwarded, config) == "http://praxis.lan:8080/"
    config.trusted_proxy = True
    assert web.base_url(forwarded, config) == "https://kalender.at/"
    config.public_base_url = "https://kalender.praxis.at/sync"
    assert web.base_url(environ(), config) == "https://kalender.praxis.at/sync/"
    assert web.is_loopback("http://127.0.0.1:8080/") and not web.is_loopback("https://kalender.at/")


def test_new_passwords_are_random_and_easy_to_type():
    passwords = {admin.new_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) == 19 and password.count("-") == 3
        assert not set(password) & set("0O1lI")
