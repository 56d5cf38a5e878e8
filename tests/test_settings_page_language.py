"""The page's language (switch, cookie, Accept-Language) and the Apple profile: its language,
and its signature when the admin configured a signing certificate.

Every request here uses its own requests.Session, so a remembered language never leaks into
another test through the shared sessions of the `live` fixture.
"""

from __future__ import annotations

import plistlib
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from davserver.config import ConfigError, ProfileConfig, ServerConfig, validate
from davserver.profile_signing import ProfileSigner, SigningError
from davserver.settings_page.i18n import language_from_header, negotiate
from tests.conftest import DEMO_PASSWORD, DEMO_USER, make_database_url, start_server

PAGE = "/settings/"
PROFILE = "/settings/profile.mobileconfig"


class Browser:
    """A fresh browser: its own cookie jar, logged in as the demo practitioner."""

    def __init__(self, live) -> None:
        self.live = live
        self.session = requests.Session()
        self.session.auth = (DEMO_USER, DEMO_PASSWORD)

    def get_page(self, path: str, headers: dict | None = None) -> requests.Response:
        return self.session.get(self.live.url(path), headers=headers, timeout=30, allow_redirects=False)


def browser(live) -> Browser:
    return Browser(live)


def page_language(response: requests.Response) -> str:
    assert response.status_code == 200, response.status_code
    return response.text.split('<html lang="', 1)[1][:2]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en-US,en;q=0.9", "en"),
        ("en-GB,en;q=0.9,de;q=0.8", "en"),
        ("de-AT,de;q=0.9,en;q=0.8", "de"),
        ("fr-FR, fr;q=0.9, en;q=0.5", "en"),
        ("fr, de;q=0.5, en;q=0.4", "de"),
        ("de;q=0, en", "en"),  # q=0 means "not German"
        ("en;q=0.2, de;q=0.7", "de"),  # the order of the header does not matter, q does
        ("EN", "en"),
        ("de;level=1;q=0.1, en;q=0.5", "en"),  # q after another parameter counts too
        ("de ; q = 0.9 , en ; q=0.8", "de"),
        ("fr, it", None),
        ("*", None),
        ("en;q=abc", None),  # a broken entry is skipped, not guessed
        ("", None),
        (None, None),
        ("x" * 5000, None),
    ],
)
def test_accept_language(header, expected):
    assert language_from_header(header) == expected


def test_negotiation_order_switch_then_cookie_then_browser_then_german():
    assert negotiate("de", "en", "en") == "de"
    assert negotiate(None, "en", "de") == "en"
    assert negotiate("fr", "xx", "en-US") == "en"  # unknown values fall through
    assert negotiate(None, None, "fr") == "de"
    assert negotiate(None, None, None) == "de"


def test_an_english_browser_gets_english_and_german_stays_the_default(live):
    assert page_language(browser(live).get_page(PAGE)) == "de"
    english = browser(live).get_page(PAGE, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert page_language(english) == "en" and "Calendar sync" in english.text
    assert "Set-Cookie" not in english.headers  # nothing chosen, nothing remembered
    assert "Accept-Language" in english.headers["Vary"]
    austrian = browser(live).get_page(PAGE, headers={"Accept-Language": "de-AT,en;q=0.5"})
    assert page_language(austrian) == "de"


def test_the_switch_is_remembered_in_a_cookie(live):
    b = browser(live)
    switched = b.get_page(PAGE + "?lang=en")
    assert page_language(switched) == "en"
    cookie = switched.headers["Set-Cookie"]
    assert cookie.startswith("praxis_lang=en;")
    for attribute in ("Path=/settings/", "HttpOnly", "SameSite=Lax", "Max-Age="):
        assert attribute in cookie, cookie
    assert "Secure" not in cookie  # plain-HTTP test server; over HTTPS it is Secure
    # Later visits without ?lang= stay English, whatever the browser prefers.
    assert page_language(b.get_page(PAGE, headers={"Accept-Language": "de"})) == "en"
    # Back to German: the link says so explicitly and the cookie follows.
    back = b.get_page(PAGE + "?lang=de", headers={"Accept-Language": "en"})
    assert page_language(back) == "de" and back.cookies.get("praxis_lang") == "de"
    assert page_language(b.get_page(PAGE, headers={"Accept-Language": "en"})) == "de"
    # A garbled cookie header is ignored, not an error.
    garbled = browser(live).get_page(
        PAGE, headers={"Cookie": 'praxis_lang="\\x; ;;=', "Accept-Language": "en"}
    )
    assert page_language(garbled) == "en"


def test_the_profile_speaks_the_pages_language(live):
    b = browser(live)
    german = b.get_page(PROFILE)
    assert 'filename="praxis-kalender.mobileconfig"' in german.headers["Content-Disposition"]
    assert plistlib.loads(german.content)["PayloadDescription"].startswith("Richtet")
    b.get_page(PAGE + "?lang=en")
    english = b.get_page(PROFILE)
    assert 'filename="practice-calendar.mobileconfig"' in english.headers["Content-Disposition"]
    profile = plistlib.loads(english.content)
    assert profile["PayloadDescription"] == "Sets up the practice's calendar sync."
    assert "calendar of anna maier" in profile["PayloadDisplayName"]
    assert "Kalender" not in english.content.decode()
    by_header = browser(live).get_page(PROFILE, headers={"Accept-Language": "en"})
    assert plistlib.loads(by_header.content)["PayloadDescription"].startswith("Sets up")


# ------------------------------------------------------------------ signing


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A certificate and key as `praxis-caldav cert` makes them (the TLS pair can sign too)."""
    out = tmp_path_factory.mktemp("signing")
    result = subprocess.run(
        [sys.executable, "-m", "davserver.cli", "cert", "--host", "kalender.praxis.at", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return out / "praxis-caldav.crt", out / "praxis-caldav.key"


def openssl_verify(signed: bytes, ca: Path, tmp_path: Path) -> tuple[bool, bytes]:
    """Verify a DER CMS signature with the openssl command; (valid, signed content)."""
    (tmp_path / "profile.p7").write_bytes(signed)
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "profile.p7"),
            "-CAfile",
            str(ca),
            "-purpose",
            "any",
            "-out",
            str(tmp_path / "content"),
        ],
        capture_output=True,
        timeout=60,
    )
    content = (tmp_path / "content").read_bytes() if result.returncode == 0 else b""
    return result.returncode == 0, content


@pytest.fixture(scope="module")
def signing_live(tmp_path_factory, certificate):
    crt, key = certificate
    config = ServerConfig(profile=ProfileConfig(signing_certificate=str(crt), signing_key=str(key)))
    databases = make_database_url("sqlite", tmp_path_factory, False)
    live = start_server(next(databases), validate(config))
    try:
        yield live
    finally:
        live.server.stop()
        databases.close()


def test_profile_is_signed_when_a_certificate_is_configured(signing_live, certificate, tmp_path):
    response = browser(signing_live).get_page(PROFILE, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert not response.content.startswith(b"<?xml")  # CMS, not the bare plist
    valid, content = openssl_verify(response.content, certificate[0], tmp_path)
    assert valid
    profile = plistlib.loads(content)
    assert profile["PayloadDescription"] == "Sets up the practice's calendar sync."
    (account,) = profile["PayloadContent"]
    assert account["CalDAVUsername"] == DEMO_USER and "CalDAVPassword" not in account
    # A single changed byte breaks the signature.
    tampered = bytearray(response.content)
    index = bytes(tampered).index(b"practice's calendar")
    tampered[index] ^= 0x20
    assert openssl_verify(bytes(tampered), certificate[0], tmp_path)[0] is False


def test_an_unusable_signing_configuration_stops_the_start_with_the_key(certificate, tmp_path):
    crt, key = certificate
    other = tmp_path / "other.key"
    subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], capture_output=True, check=True)
    cases = [
        (ProfileConfig(signing_certificate=str(crt)), "profile: set both"),
        (
            ProfileConfig(signing_certificate=str(crt), signing_key=str(tmp_path / "missing.key")),
            "file not found",
        ),
        (
            ProfileConfig(signing_certificate=str(key), signing_key=str(key)),
            "profile.signing_certificate: not",
        ),
        (ProfileConfig(signing_certificate=str(crt), signing_key=str(crt)), "profile.signing_key: not"),
        (ProfileConfig(signing_certificate=str(crt), signing_key=str(other)), "does not belong"),
    ]
    for profile, message in cases:
        with pytest.raises(ConfigError) as err:
            validate(ServerConfig(profile=profile))
        assert message in str(err.value), (profile, err.value)
    with pytest.raises(SigningError):
        ProfileSigner.from_files(crt, other)
