"""What each client needs to be set up, computed from the public base URL.

One source for `praxis-caldav urls`, the Apple configuration profile, the settings page and
the guides in docs/clients/ (a test renders their values from here), so the guide a
practitioner follows can never disagree with the server.
"""

from __future__ import annotations

import plistlib
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlparse

from providers.practice.api import url_segment
from providers.practice.records import Practitioner


@dataclass(frozen=True)
class SetupInfo:
    login: str
    base_url: str
    principal_url: str
    calendar_url: str
    host: str
    port: int
    path: str
    use_tls: bool
    settings_url: str

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs, per client, in the order a guide presents them."""
        return [
            ("User name (all clients)", self.login),
            ("iPhone/iPad: Server", self.base_url),
            ("DAVx5 (also for the Google Calendar app): Base URL", self.base_url),
            ("macOS Advanced: Server address", self.host),
            ("macOS Advanced: Server path", self.path),
            ("macOS Advanced: Port", str(self.port)),
            ("macOS Advanced: Use SSL", "yes" if self.use_tls else "no"),
            ("Thunderbird: Location", self.calendar_url),
            ("Outlook CalDAV Synchronizer: DAV URL", self.calendar_url),
            ("Settings page (browser, QR code, profile)", self.settings_url),
        ]


def setup_info(practitioner: Practitioner, base_url: str) -> SetupInfo:
    parsed = urlparse(base_url)
    use_tls = parsed.scheme == "https"
    port = parsed.port or (443 if use_tls else 80)
    prefix = parsed.path.rstrip("/")
    segment = quote(url_segment(practitioner.username), safe="@+")
    root = f"{parsed.scheme}://{parsed.netloc}{prefix}/"
    principal_path = f"{prefix}/{segment}/"
    return SetupInfo(
        login=practitioner.username,
        base_url=root,
        principal_url=f"{parsed.scheme}://{parsed.netloc}{principal_path}",
        calendar_url=f"{parsed.scheme}://{parsed.netloc}{principal_path}calendar/",
        host=parsed.hostname or "",
        port=port,
        path=principal_path,
        use_tls=use_tls,
        settings_url=settings_page_url(root),
    )


def settings_page_url(base_url: str) -> str:
    """The settings page under the server's public root (the page's QR code encodes it)."""
    return base_url.rstrip("/") + "/settings/"


# What iOS and macOS show while installing the profile and in the account list afterwards.
PROFILE_TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "account": "{practice} Kalender",
        "title": "{practice}: Kalender von {login}",
        "description": "Richtet die Kalender-Synchronisation der Praxis ein.",
    },
    "en": {
        "account": "{practice} calendar",
        "title": "{practice}: calendar of {login}",
        "description": "Sets up the practice's calendar sync.",
    },
}


def apple_profile(
    info: SetupInfo, practice_name: str, password: str | None = None, lang: str = "de"
) -> bytes:
    """A .mobileconfig with one CalDAV account payload, texts in `lang`; no password unless given."""
    texts = {
        key: text.format(practice=practice_name, login=info.login)
        for key, text in PROFILE_TEXTS[lang].items()
    }
    payload_id = f"at.praxis-caldav.{uuid.uuid5(uuid.NAMESPACE_URL, info.principal_url).hex}"
    account = {
        "PayloadType": "com.apple.caldav.account",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{payload_id}.caldav",
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, info.principal_url + "#caldav")).upper(),
        "PayloadDisplayName": texts["account"],
        "CalDAVAccountDescription": f"{practice_name} – {info.login}",
        "CalDAVHostName": info.host,
        "CalDAVPort": info.port,
        "CalDAVPrincipalURL": info.path,
        "CalDAVUsername": info.login,
        "CalDAVUseSSL": info.use_tls,
    }
    if password:
        account["CalDAVPassword"] = password
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": payload_id,
        "PayloadUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, info.principal_url)).upper(),
        "PayloadDisplayName": texts["title"],
        "PayloadDescription": texts["description"],
        "PayloadContent": [account],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)
