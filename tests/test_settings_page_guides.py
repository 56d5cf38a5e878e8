"""The practitioner guides in docs/clients/ against the settings page, and a link check of docs/.

The page's menu paths, field labels and values for the example practitioner `anna maier` at
`https://kalender.praxis.at/` are rendered by the page's own functions (views.clients,
setup_info, i18n); every guide must quote them exactly, and may quote no other value. So a
changed URL scheme, label or menu path fails here until the guides say the same as the page.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from davserver.config import AuthConfig
from davserver.settings_page import i18n, views
from davserver.setup_info import SetupInfo, setup_info
from providers.practice import api
from providers.practice.api import url_segment
from tests.conftest import make_database_url

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GUIDES = DOCS / "clients"
EXAMPLE_BASE = "https://kalender.praxis.at/"
EXAMPLE_USER = "anna maier"
# The page's client card -> the guide that explains it.
GUIDE_OF = {
    "ios": "ios",
    "android": "davx5",
    "macos": "macos",
    "thunderbird": "thunderbird",
    "outlook": "outlook",
}
LANGUAGES = tuple(i18n.LANGUAGES)


@pytest.fixture(scope="module")
def info(tmp_path_factory) -> SetupInfo:
    from providers.sql.db import open_database

    databases = make_database_url("sqlite", tmp_path_factory, False)
    open_database(next(databases))
    practice = api.get_or_create_practice("Praxis am Park")
    anna = api.create_practitioner(practice, EXAMPLE_USER, "pw", email="anna@example.org")
    return setup_info(anna, EXAMPLE_BASE)


def guide_text(name: str, lang: str) -> str:
    """The guide as a reader sees it: no emphasis markers, one space for every line break."""
    text = (GUIDES / f"{name}.{lang}.md").read_text(encoding="utf-8")
    return " ".join(text.replace("**", "").split())


def code_spans(name: str, lang: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", (GUIDES / f"{name}.{lang}.md").read_text(encoding="utf-8"))


def test_every_client_has_a_guide_per_language():
    expected = {f"{guide}.{lang}.md" for guide in GUIDE_OF.values() for lang in LANGUAGES}
    assert expected <= {p.name for p in GUIDES.glob("*.md")}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("client_id", list(GUIDE_OF))
def test_guide_quotes_the_pages_menus_labels_and_values(info, client_id, lang):
    t = i18n.translator(lang)
    (client,) = [c for c in views.clients(info, t) if c["id"] == client_id]
    text = guide_text(GUIDE_OF[client_id], lang)
    spans = code_spans(GUIDE_OF[client_id], lang)
    assert t(client_id) in text, "the guide names the page's card for this client"
    for menu in client["menus"]:
        assert menu in text, f"menu path as the page shows it: {menu!r}"
    for _, label, value, copyable in client["rows"]:
        assert label in text, f"field label as the page shows it: {label!r}"
        if copyable:
            assert value in spans, f"value as the page shows it: {value!r}"
    # Every guide starts from the page and names the login exactly.
    assert info.settings_url in spans and info.login in spans
    assert t("login") in text or client_id == "android"  # DAVx5 uses its own field label


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("guide", sorted(set(GUIDE_OF.values())))
def test_guide_quotes_no_value_the_server_would_not_show(info, guide, lang):
    """A stale or mistyped URL, host, path or login in a guide fails here."""
    allowed = {
        info.login,
        info.base_url,
        info.calendar_url,
        info.host,
        info.path,
        str(info.port),
        info.settings_url,
        url_segment(info.login),
    }
    value_like = re.compile(r"^(/\w|https?:)|praxis\.at|anna|maier", re.I)
    for span in code_spans(guide, lang):
        if value_like.search(span):
            assert span in allowed, f"{guide}.{lang}.md quotes {span!r}, which the page never shows"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("guide", sorted(set(GUIDE_OF.values())))
def test_guide_has_the_troubleshooting_the_practitioners_need(guide, lang):
    t = i18n.translator(lang)
    text = guide_text(guide, lang)
    heading = {"de": "## Probleme lösen", "en": "## Troubleshooting"}[lang]
    assert heading in (GUIDES / f"{guide}.{lang}.md").read_text(encoding="utf-8")
    auth = AuthConfig()
    minutes = {"de": "Minuten", "en": "minutes"}[lang]
    # The lockout figures are the server's defaults, not made up.
    assert f"{auth.max_failures} " in text and f"{auth.failure_window // 60} {minutes}" in text
    assert f"{auth.lockout_seconds // 60} {minutes}" in text
    assert "`_`" in (GUIDES / f"{guide}.{lang}.md").read_text(encoding="utf-8")  # space vs _
    assert t("admin.reset") in text, "a lost device: the admin page's lock-out action by name"
    # ... and, set up with a device password, revoking just that device on the own page.
    assert t("apppw") in text and t("apppw.revoke") in text and t("apppw.new") in text
    assert t("nav.admin") in text
    certificate = {"de": "Zertifikat", "en": "ertificate"}[lang]
    assert certificate in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_client_specific_pitfalls_are_covered(lang):
    davx5, outlook = guide_text("davx5", lang), guide_text("outlook", lang)
    assert "F-Droid" in davx5 and "Google Play" in davx5
    assert {"de": "Google-Kalender-App", "en": "Google Calendar app"}[lang] in davx5
    assert {"de": "neue Outlook für Windows", "en": "new Outlook for Windows"}[lang] in outlook
    assert {"de": "mit dem `/` am Ende", "en": "with the `/` at the end"}[lang] in " ".join(
        (GUIDES / f"outlook.{lang}.md").read_text(encoding="utf-8").split()
    )
    ios = guide_text("ios", lang)
    assert "iOS 18" in ios and "iOS 17" in ios


def test_german_guides_quote_no_english_menu_paths():
    """The issue's complaint: German guides quoted English labels."""
    english = {m for c in views.clients(setup_info_stub(), i18n.translator("en")) for m in c["menus"]}
    for guide in set(GUIDE_OF.values()):
        text = guide_text(guide, "de")
        for menu in english:
            assert menu not in text, (guide, menu)


def setup_info_stub() -> SetupInfo:
    return SetupInfo("anna maier", EXAMPLE_BASE, "", "", "kalender.praxis.at", 443, "/", True, "")


# ------------------------------------------------------------------ links


def markdown_links() -> list[tuple[Path, str]]:
    files = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    links = []
    for path in files:
        text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            links.append((path, target))
    return links


def anchors(path: Path) -> set[str]:
    """GitHub-style heading anchors of a markdown file."""
    result = set()
    for heading in re.findall(r"^#+\s+(.*)$", path.read_text(encoding="utf-8"), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        result.add(slug)
    return result


def test_links_in_docs_resolve():
    links = markdown_links()
    assert len(links) > 20  # the check looks at something
    broken = []
    for source, target in links:
        parsed = urlparse(target)
        if parsed.scheme in ("http", "https", "mailto"):
            assert parsed.netloc or parsed.scheme == "mailto", (source, target)
            continue
        assert not parsed.scheme, (source, target)
        path = (source.parent / unquote(parsed.path)).resolve() if parsed.path else source
        if not path.exists():
            broken.append(f"{source.relative_to(ROOT)} -> {target}")
        elif parsed.fragment and path.suffix == ".md" and parsed.fragment not in anchors(path):
            broken.append(f"{source.relative_to(ROOT)} -> {target} (no such heading)")
    assert broken == []


def test_every_screenshot_the_docs_show_exists_and_is_a_png():
    images = [(s, t) for s, t in markdown_links() if t.endswith(".png")]
    assert {Path(t).name for _, t in images} >= {
        f"settings-page.{lang}.{viewport}.png" for lang in LANGUAGES for viewport in ("phone", "desktop")
    }
    for source, target in images:
        assert (source.parent / target).resolve().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", target
