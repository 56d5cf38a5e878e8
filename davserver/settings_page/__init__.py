"""The settings page at /settings/: each practitioner's setup, in their browser's language.

A WSGI middleware that sits right after PracticeAuthenticator, so the page is behind the
same practice login as the DAV tree (same domain controller, throttling and credential
cache, same 401). Requests outside /settings/ pass on to CalDAV (the next layer,
davserver.middleware.device_seen, notes the device's sync status for the admin view).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from davserver.config import ServerConfig
from davserver.profile_signing import ProfileSigner
from davserver.settings_page import account, admin, views, web
from davserver.settings_page.csrf import CsrfTokens
from davserver.settings_page.i18n import LANGUAGES, negotiate
from davserver.settings_page.render import Request, message, static_file

MOUNT = "/settings"
LANGUAGE_COOKIE = "praxis_lang"

__all__ = ["MOUNT", "SettingsPage", "middleware_entry"]


def middleware_entry(config: ServerConfig) -> dict:
    """The wsgidav middleware_stack entry (put it right after the authenticator)."""
    return {
        "class": "davserver.settings_page.SettingsPage",
        "kwargs": {"next_app": "${application}", "config": config},
    }


def profile_signer(config: ServerConfig) -> ProfileSigner | None:
    """The configured profile signer (validated with the configuration), or None."""
    profile = config.profile
    if not profile.signing_certificate or not profile.signing_key:
        return None
    return ProfileSigner.from_files(profile.signing_certificate, profile.signing_key)


class SettingsPage:
    """Serves /settings/ for the logged-in practitioner; everything else goes to next_app."""

    def __init__(self, next_app: Callable, config: ServerConfig) -> None:
        self.next_app = next_app
        self.config = config
        self.tokens = CsrfTokens()
        self.signer = profile_signer(config)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == MOUNT or path.startswith(MOUNT + "/"):
            return self._page(environ, start_response)
        return self.next_app(environ, start_response)

    def _page(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        viewer = environ.get("praxis.viewer")
        if viewer is None or environ.get("praxis.device") is not None:
            # Only a request the authenticator let through unauthenticated gets here; and a
            # device password never opens the page (the authenticator does not take one here).
            authenticator = environ["wsgidav.app"].http_authenticator
            return authenticator.send_basic_auth_response(environ, start_response)
        prefix = environ.get("praxis.prefix", "")
        if environ["PATH_INFO"] == MOUNT:
            location = web.with_query(f"{prefix}{MOUNT}/", **web.query(environ))
            return web.redirect(location, 301).send(environ, start_response)
        method = environ["REQUEST_METHOD"].upper()
        fields = web.form(environ) if method == "POST" else None
        chosen = (fields or {}).get("lang") or web.query(environ).get("lang")
        remembered = web.cookie(environ, LANGUAGE_COOKIE)
        lang = negotiate(chosen, remembered, environ.get("HTTP_ACCEPT_LANGUAGE"))
        base_url = web.base_url(environ, self.config)
        request = Request(environ, viewer, lang, f"{prefix}{MOUNT}/", base_url, self.tokens, self.signer)
        response = self._route(request, method, fields)
        if chosen in LANGUAGES and chosen != remembered:
            # The switch is remembered: the next visit without ?lang= keeps the language.
            secure = base_url.startswith("https:") or environ.get("wsgi.url_scheme") == "https"
            response.headers.append(web.set_cookie(LANGUAGE_COOKIE, chosen, request.root, secure))
        response.headers.append(("Vary", "Accept-Language, Cookie"))
        return response.send(environ, start_response)

    def _route(self, request: Request, method: str, fields: dict | None) -> web.Response:
        sub = request.environ["PATH_INFO"][len(MOUNT) + 1 :]
        if sub.startswith("static/"):
            response = static_file(sub[len("static/") :]) if method in ("GET", "HEAD") else None
            return response or message(request, 404, "error.not_found")
        routes = {
            "": (views.show, views.save),
            "profile.mobileconfig": (views.profile, None),
            "admin": (admin.show, admin.act),
            "devices": (views.show, account.devices),
            "password": (views.show, account.change_password),
            "logout": (account.logout, None),
        }
        if sub not in routes:
            return message(request, 404, "error.not_found")
        if sub == "admin" and not request.viewer.is_admin:
            return message(request, 403, "error.admin_only")
        reader, writer = routes[sub]
        if method in ("GET", "HEAD"):
            return reader(request)
        if method != "POST" or writer is None:
            response = message(request, 405, "error.method")
            allowed = "GET, HEAD, POST" if writer else "GET, HEAD"
            response.headers.append(("Allow", allowed))
            return response
        if fields is None or not self.tokens.valid(request.viewer, fields.get("csrf")):
            return message(request, 403, "error.csrf")
        return writer(request, fields)
