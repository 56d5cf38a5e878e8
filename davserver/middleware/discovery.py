"""RFC 6764 discovery without a login: /.well-known/caldav redirects to the root (the
principal is found from there), /.well-known/carddav is 404 (no address books here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wsgidav.mw.base_mw import BaseMiddleware

from davserver.http import respond

_WELL_KNOWN = ("/.well-known/caldav", "/.well-known/carddav")


class DiscoveryRedirectMiddleware(BaseMiddleware):
    """After the proxy prefix (the redirect target carries it), before authentication."""

    def is_disabled(self):
        return False

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "").rstrip("/")
        if path not in _WELL_KNOWN:
            return self.next_app(environ, start_response)
        if path.endswith("carddav"):
            return respond(start_response, 404)
        return respond(start_response, 301, headers=[("Location", environ.get("praxis.prefix", "") + "/")])
