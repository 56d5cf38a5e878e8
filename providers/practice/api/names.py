"""User names, their login and URL keys, and the URL segment a practitioner is served under."""

from __future__ import annotations

import unicodedata

from providers.practice.api.errors import DataError


def login_key(username: str) -> str:
    """Comparison key for logins: NFC, trimmed, case-insensitive."""
    return unicodedata.normalize("NFC", username).strip().casefold()


def url_key(username_or_segment: str) -> str:
    """Comparison key for URL segments: like login_key, with spaces and underscores the same."""
    return login_key(username_or_segment).replace(" ", "_")


def url_segment(username: str) -> str:
    """The URL segment shown to users: spaces become underscores, case is kept."""
    return unicodedata.normalize("NFC", username).strip().replace(" ", "_")


def _check_username(username: str) -> str:
    name = unicodedata.normalize("NFC", username).strip()
    if not name:
        raise DataError("user name is empty")
    if len(name) > 150:
        raise DataError("user name is longer than 150 characters")
    bad = [c for c in name if c in "/\\:?#%" or unicodedata.category(c).startswith("C")]
    if bad:
        raise DataError(f"user name contains a character not allowed in URLs: {bad[0]!r}")
    if name.startswith(".") or name.casefold() in {"well-known", "settings", "api"}:
        raise DataError(f"user name {name!r} is reserved")
    return name
