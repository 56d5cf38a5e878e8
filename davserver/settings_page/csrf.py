"""CSRF tokens for the settings forms, bound to the logged-in practitioner.

Browsers send Basic credentials with any request to the server, also one a foreign site
makes them send, so every form post must carry a token that only this server can mint for
this user. The key is derived from a secret stored in the database on first use: tokens
minted by one server process are valid in every other.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from providers.practice import api
from providers.practice.records import Practitioner

SECRET_NAME = "settings-page-csrf"
MAX_AGE = 12 * 3600


class CsrfTokens:
    """Mint and check tokens "<issued>.<hmac>"; the secret is read once per process."""

    def __init__(self, max_age: int = MAX_AGE) -> None:
        self.max_age = max_age
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def _secret(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = bytes.fromhex(api.server_secret(SECRET_NAME))
            return self._key

    def _mac(self, practitioner: Practitioner, issued: int) -> str:
        # The password hash is part of the message: a password reset voids open forms too.
        message = (
            f"{practitioner.id}\0{practitioner.login_key}\0{practitioner.password_hash}\0{issued}".encode()
        )
        return hmac.new(self._secret(), message, hashlib.sha256).hexdigest()

    def mint(self, practitioner: Practitioner, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        return f"{issued}.{self._mac(practitioner, issued)}"

    def valid(self, practitioner: Practitioner, token: str | None, now: float | None = None) -> bool:
        """True only for a token this server minted for this practitioner, not expired."""
        issued_text, _, mac = (token or "").partition(".")
        if not issued_text.isdigit() or not mac:
            return False
        issued = int(issued_text)
        now = time.time() if now is None else now
        if not -60 <= now - issued <= self.max_age:
            return False
        return hmac.compare_digest(mac, self._mac(practitioner, issued))
