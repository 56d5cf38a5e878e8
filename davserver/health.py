"""/healthz and /readyz for load balancers, container runtimes and monitoring.

Unauthenticated on purpose (a probe has no practice login), so the answers carry no data:
a word and a status. /healthz: the process answers. /readyz: the database answers and its
schema is the one this server expects (503 otherwise, with Retry-After).
"""

from __future__ import annotations

import logging

from davserver.errors import RETRY_AFTER_SECONDS, text_response
from providers.database import discard_connection_if_broken, schema_state, unavailable_reason

log = logging.getLogger("praxis_caldav.health")

PATHS = ("/healthz", "/readyz")


class HealthMiddleware:
    """Answers the probe paths before authentication; everything else goes on."""

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name: str):
        return getattr(self.app, name)  # the wrapped WsgiDAVApp's provider_map, config

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in PATHS:
            return self.app(environ, start_response)
        if environ.get("REQUEST_METHOD", "GET").upper() not in ("GET", "HEAD"):
            return text_response(start_response, 405, "GET only", [("Allow", "GET, HEAD")])
        if path == "/healthz":
            return text_response(start_response, 200, "ok")
        return self._ready(environ, start_response)

    def _ready(self, environ, start_response):
        discard_connection_if_broken()
        try:
            state = schema_state()
        except Exception as exc:
            discard_connection_if_broken(exc)
            if unavailable_reason(exc) is None:
                raise  # a bug, not an outage: the request log answers 500
            # A probe sees outages every few seconds: the ERROR line is the 5xx log rule's.
            return text_response(
                start_response, 503, "database unavailable", [("Retry-After", str(RETRY_AFTER_SECONDS))]
            )
        if state != "current":
            return text_response(start_response, 503, f"schema {state}")
        return text_response(start_response, 200, "ready")
