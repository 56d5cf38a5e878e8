"""Credentials that passed the login moments ago, for the connection thread.

The connection thread (davserver.connections) waits for a small request body without a
worker only when the request's Authorization header is one of these; any other request
goes to a worker with its head alone, and the worker checks the login before reading the
body (davserver.middleware.request_body notes every accepted login here). So no body is
read for credentials that have not passed a login, and a known device's slow upload still
holds no worker. Only keyed digests of the header are kept, never the header itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

_KEY = secrets.token_bytes(32)  # per process: the digests mean nothing elsewhere


def _digest(authorization: bytes) -> bytes:
    return hmac.new(_KEY, authorization.strip(), hashlib.sha256).digest()


class RecentLogins:
    """Digests of Authorization headers accepted within the last `seconds` (per process)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._expires: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def note(self, authorization: str, seconds: float) -> None:
        """A request with this header passed the login (cheroot decodes headers as latin-1)."""
        now = time.monotonic()
        key = _digest(authorization.encode("latin-1", "replace"))
        with self._lock:
            if len(self._expires) >= self.limit:
                self._expires = {k: v for k, v in self._expires.items() if v > now}
                if len(self._expires) >= self.limit:
                    self._expires.clear()
            self._expires[key] = now + seconds

    def knows(self, authorization: bytes) -> bool:
        expires = self._expires.get(_digest(authorization))
        return expires is not None and expires > time.monotonic()


RECENT_LOGINS = RecentLogins()
