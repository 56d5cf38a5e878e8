"""The request context of a settings page and its rendering with Jinja2 (autoescaped)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from davserver.profile_signing import ProfileSigner
from davserver.settings_page import web
from davserver.settings_page.csrf import CsrfTokens
from davserver.settings_page.i18n import DEFAULT_LANGUAGE, LANGUAGES, translator
from davserver.setup_info import settings_page_url
from providers.practice.records import Practitioner

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _local_time(value: dt.datetime, tzid: str, lang: str) -> str:
    """A stored UTC time as the practice reads it."""
    local = value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tzid))
    return local.strftime("%d.%m.%Y %H:%M" if lang == "de" else "%Y-%m-%d %H:%M")


def _breakable(text: str) -> Markup:
    """Escaped text that may wrap after each "/" (long URLs on a phone); copies unchanged."""
    return Markup.escape(text).replace("/", Markup("/<wbr>"))


_env.filters["local_time"] = _local_time
_env.filters["breakable"] = _breakable


@dataclass
class Request:
    """One authenticated request to the page: who, in which language, under which URL."""

    environ: dict
    viewer: Practitioner
    lang: str
    root: str  # the page's path as the browser sees it, e.g. "/settings/" or "/cal/settings/"
    base_url: str
    tokens: CsrfTokens
    signer: ProfileSigner | None = None

    @cached_property
    def t(self) -> Callable[..., str]:
        return translator(self.lang)

    def url(self, path: str = "", **params: str | None) -> str:
        """A link inside the page that keeps the language."""
        lang = self.lang if self.lang != DEFAULT_LANGUAGE else None
        return web.with_query(self.root + path, lang=lang, **params)

    def page_url(self) -> str:
        """The absolute URL of the page (for the QR code)."""
        return settings_page_url(self.base_url) + self.url("")[len(self.root) :]


def render(request: Request, template: str, status: int = 200, **context: object) -> web.Response:
    """Render a template with what every page needs (texts, links, a fresh CSRF token)."""
    other = next(code for code in LANGUAGES if code != request.lang)
    path = request.environ.get("PATH_INFO", "").removeprefix("/settings/")
    switch = web.with_query(request.root + path, lang=other)  # explicit: it is remembered
    html = _env.get_template(template).render(
        t=request.t,
        lang=request.lang,
        other_lang=other,
        switch_url=switch,
        url=request.url,
        root=request.root,
        viewer=request.viewer,
        practice_name=request.viewer.practice.name,
        csrf=request.tokens.mint(request.viewer),
        **context,
    )
    return web.Response(status, html.encode("utf-8"))


def message(request: Request, status: int, key: str) -> web.Response:
    """A short error page in the request's language."""
    return render(request, "message.html", status, text=request.t(key))


def static_file(name: str) -> web.Response | None:
    """A file from static/ by plain name only (no paths)."""
    suffix = Path(name).suffix
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        return None
    path = STATIC_DIR / name
    if not path.is_file():
        return None
    return web.Response(200, path.read_bytes(), STATIC_TYPES[suffix])
