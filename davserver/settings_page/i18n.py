"""The page's texts in German (the default: the practices are in Austria and Germany) and English.

The texts live in gettext catalogs, locale/<lang>/LC_MESSAGES/messages.po beside this file
(scripts/i18n_to_po.py --compile after editing one; --check: same keys in every language).
`{name}` fields are filled with str.format and escaped by the template.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from davserver.settings_page import catalogs

DEFAULT_LANGUAGE = "de"
MAX_ACCEPTED = 20  # Accept-Language entries looked at; the rest of a long header is ignored

_LOCALE = Path(__file__).with_name("locale")

DE: dict[str, str] = catalogs.load("de", _LOCALE)

EN: dict[str, str] = catalogs.load("en", _LOCALE)

LANGUAGES: dict[str, dict[str, str]] = {"de": DE, "en": EN}


def language_from_header(accept_language: str | None) -> str | None:
    """The first language of ours the browser accepts (RFC 9110 q-values), else None.

    `en-GB,en;q=0.9,de;q=0.8` is English; `fr, de;q=0.5` is German; `de;q=0, en` is English.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:MAX_ACCEPTED]):
        tag, *params = item.split(";")
        weights = [
            value for name, _, value in (p.partition("=") for p in params) if name.strip().lower() == "q"
        ]
        try:
            quality = float(weights[0]) if weights else 1.0
        except ValueError:
            continue
        primary = tag.strip().lower().split("-")[0]
        if quality > 0 and primary in LANGUAGES:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def negotiate(chosen: str | None, remembered: str | None, accept_language: str | None) -> str:
    """The page's language: the switch just used, else the one remembered, else the browser's."""
    for candidate in (chosen, remembered):
        if candidate in LANGUAGES:
            return candidate
    return language_from_header(accept_language) or DEFAULT_LANGUAGE


def translator(language: str) -> Callable[..., str]:
    """`t(key, **fields)` for one language; a missing key shows itself (visible in tests)."""
    table = LANGUAGES[language]

    def t(key: str, **fields: object) -> str:
        text = table.get(key, key)
        return text.format(**fields) if fields else text

    return t
