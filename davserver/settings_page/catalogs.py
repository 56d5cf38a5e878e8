"""The page's texts from gettext catalogs: locale/<lang>/LC_MESSAGES/messages.mo beside this file.

Translators edit the .po files (Poedit, Weblate and Babel read them); the compiled .mo files are
what runs, through the standard library's gettext, so the server needs no Babel. Message ids are
the keys `t()` takes ("ios.profile_hint"), so the code does not change with the wording.
`scripts/i18n_to_po.py --compile` rebuilds the .mo files after a .po was edited.
"""

from __future__ import annotations

import gettext
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "messages"


def languages(locale_dir: Path = LOCALE_DIR) -> list[str]:
    """Language codes that have a compiled catalog, sorted."""
    return sorted(p.parent.parent.name for p in locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))


def load(language: str, locale_dir: Path = LOCALE_DIR) -> dict[str, str]:
    """key -> text of one language (the catalog header left out)."""
    with (locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as file:
        catalog = gettext.GNUTranslations(file)
    # gettext has no public listing of its messages; _catalog is its parsed .mo since Python 2.
    return {key: text for key, text in catalog._catalog.items() if key and isinstance(key, str)}
