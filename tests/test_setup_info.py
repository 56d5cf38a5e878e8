"""Setup information per client, the Apple profile and the self-signed certificate command."""

import plistlib
import subprocess
import sys

import pytest

from davserver.setup_info import apple_profile, setup_info
from providers.practice import api
from tests.conftest import make_database_url


@pytest.fixture(scope="module")
def practitioner(tmp_path_factory):
    from providers.sql.db import open_database

    url = next(make_database_url("sqlite", tmp_path_factory, False))
    open_database(url)
    practice = api.get_or_create_practice("Praxis am Park")
    return api.create_practitioner(practice, "anna maier", "pw", email="anna@example.org")


def test_urls_for_every_client_from_public_base_url(practitioner):
    info = setup_info(practitioner, "https://kalender.praxis.at/")
    values = dict(info.lines())
    assert values["User name (all clients)"] == "anna maier"  # login keeps the space
    assert values["iPhone/iPad: Server"] == "https://kalender.praxis.at/"
    assert values["macOS Advanced: Server address"] == "kalender.praxis.at"
    assert values["macOS Advanced: Server path"] == "/anna_maier/"
    assert values["macOS Advanced: Port"] == "443"
    assert values["Thunderbird: Location"] == "https://kalender.praxis.at/anna_maier/calendar/"
    # Outlook needs the trailing slash: it is part of the URL we print.
    assert values["Outlook CalDAV Synchronizer: DAV URL"].endswith("/calendar/")
    assert values["Settings page (browser, QR code, profile)"] == "https://kalender.praxis.at/settings/"


def test_urls_keep_a_reverse_proxy_prefix_and_port(practitioner):
    info = setup_info(practitioner, "https://praxis.example.org:8443/kalender")
    assert info.base_url == "https://praxis.example.org:8443/kalender/"
    assert info.path == "/kalender/anna_maier/"
    assert info.port == 8443
    assert info.calendar_url == "https://praxis.example.org:8443/kalender/anna_maier/calendar/"
    assert info.settings_url == "https://praxis.example.org:8443/kalender/settings/"


def test_apple_profile_is_a_valid_plist_without_password(practitioner):
    info = setup_info(practitioner, "https://kalender.praxis.at/")
    profile = plistlib.loads(apple_profile(info, "Praxis am Park"))
    assert profile["PayloadType"] == "Configuration"
    (account,) = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.caldav.account"
    assert account["CalDAVHostName"] == "kalender.praxis.at"
    assert account["CalDAVPort"] == 443
    assert account["CalDAVUseSSL"] is True
    assert account["CalDAVPrincipalURL"] == "/anna_maier/"
    assert account["CalDAVUsername"] == "anna maier"
    assert "CalDAVPassword" not in account
    with_pw = plistlib.loads(apple_profile(info, "Praxis am Park", password="s3cret"))
    assert with_pw["PayloadContent"][0]["CalDAVPassword"] == "s3cret"
    assert profile["PayloadDisplayName"] == "Praxis am Park: Kalender von anna maier"
    english = plistlib.loads(apple_profile(info, "Praxis am Park", lang="en"))
    assert english["PayloadDisplayName"] == "Praxis am Park: calendar of anna maier"
    assert english["PayloadContent"][0]["PayloadDisplayName"] == "Praxis am Park calendar"
    assert english["PayloadContent"][0]["CalDAVPrincipalURL"] == "/anna_maier/"


def test_cert_command_creates_a_usable_pair(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "davserver.cli", "cert", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    crt, key = tmp_path / "praxis-caldav.crt", tmp_path / "praxis-caldav.key"
    assert b"BEGIN CERTIFICATE" in crt.read_bytes()
    assert key.stat().st_mode & 0o077 == 0  # the key is private
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))  # raises if they do not match


def test_profile_command_speaks_the_chosen_language(tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "davserver.cli", "--database", db, *args],
            input=stdin.encode() if stdin else None,
            capture_output=True,
            timeout=60,
        )

    assert cli("user", "add", "anna maier", "--password-stdin", stdin="Kiefer-Lampe-47\n").returncode == 0
    german, english = cli("profile", "anna maier"), cli("profile", "anna maier", "--lang", "en")
    assert german.returncode == english.returncode == 0, english.stderr
    assert plistlib.loads(german.stdout)["PayloadDescription"].startswith("Richtet")
    assert plistlib.loads(english.stdout)["PayloadDescription"] == "Sets up the practice's calendar sync."
    wrong = cli("profile", "anna maier", "--lang", "fr")
    assert wrong.returncode != 0 and "--lang: invalid choice: 'fr'" in wrong.stderr.decode()
