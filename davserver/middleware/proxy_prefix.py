"""The path prefix under which clients see the server (WSGI mount, or a trusted reverse
proxy's X-Forwarded-Prefix), as environ["praxis.prefix"] for every href we build."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wsgidav.mw.base_mw import BaseMiddleware


def external_prefix(environ: dict, trusted_proxy: bool) -> str:
    """WSGI mount plus a trusted proxy's prefix; a proxy that did not strip its prefix from
    the path has it stripped here."""
    prefix = (environ.get("SCRIPT_NAME") or "").rstrip("/")
    if trusted_proxy:
        forwarded = environ.get("HTTP_X_FORWARDED_PREFIX", "").strip().strip("/")
        if forwarded:
            prefix = "/" + forwarded
            path = environ.get("PATH_INFO", "")
            if path == prefix or path.startswith(prefix + "/"):
                environ["PATH_INFO"] = path[len(prefix) :] or "/"
    return prefix


class ProxyPrefixMiddleware(BaseMiddleware):
    def __init__(self, wsgidav_app, next_app, config):
        super().__init__(wsgidav_app, next_app, config)
        self.trusted_proxy = config["praxis"].get("trusted_proxy", False)

    def is_disabled(self):
        return False

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        environ["praxis.prefix"] = external_prefix(environ, self.trusted_proxy)
        return self.next_app(environ, start_response)
