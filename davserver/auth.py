"""Practice credentials over HTTP Basic: verification cache, failure throttling, UTF-8 logins.

scrypt costs tens of milliseconds by design; clients send credentials with every request,
so a verified (user, password, stored hash) triple is cached briefly. The stored hash is
part of the key, so a password change takes effect at once, in every process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import math
import secrets
import threading
import time
from collections import deque

from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.http_authenticator import HTTPAuthenticator

from davserver.config import AuthConfig
from providers import store
from providers.models import Practitioner
from providers.passwords import hash_password, verify_password
from providers.practice_api import find_login, login_key, url_key

log = logging.getLogger("praxis_caldav.auth")

# A real scrypt hash of a random password, verified against when the user name is unknown.
_DUMMY_HASH = hash_password(secrets.token_hex(16))


def decode_basic(header: str) -> tuple[str, str] | None:
    """User and password from a Basic header: UTF-8, falling back to ISO-8859-1 (older clients)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    user, sep, password = text.partition(":")
    if not sep:
        return None
    return user, password


class Throttle:
    """Counts recent failures per key; a key over the limit is refused without checking."""

    def __init__(self, max_failures: int, window: float, lockout: float):
        self.max_failures, self.window, self.lockout = max_failures, window, lockout
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Seconds until `key` may try again (0 = allowed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._failures.get(key)
            if not times:
                return 0
            while times and now - times[0] > max(self.window, self.lockout):
                times.popleft()
            recent = [t for t in times if now - t <= self.window]
            if len(recent) < self.max_failures:
                return 0
            # Locked for `lockout` after the last failure; then the key may try again (one
            # more failure re-locks it). Retry-After must hold: never "1" for a whole window.
            remaining = times[-1] + self.lockout - now
            return 0 if remaining <= 0 else max(1, math.ceil(remaining))

    def fail(self, key: str, now: float | None = None) -> None:
        with self._lock:
            self._failures.setdefault(key, deque(maxlen=self.max_failures * 4)).append(
                time.monotonic() if now is None else now
            )

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class PracticeDomainController(BaseDomainController):
    """wsgidav domain controller over the practitioners table."""

    def __init__(self, wsgidav_app, config):
        super().__init__(wsgidav_app, config)
        self.settings: AuthConfig = config["praxis"]["auth"]
        self._cache: dict[tuple[str, str, str], float] = {}
        self._cache_lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], _PendingCheck] = {}
        self.user_throttle = Throttle(
            self.settings.max_failures, self.settings.failure_window, self.settings.lockout_seconds
        )
        # An address may try several users (a practice behind one NAT): a wider limit.
        self.address_throttle = Throttle(
            self.settings.max_failures * 5, self.settings.failure_window, self.settings.lockout_seconds
        )

    def __str__(self):
        return "PracticeDomainController"

    def get_domain_realm(self, path_info, environ):
        return self.settings.realm

    def require_authentication(self, realm, environ):
        return True

    def supports_http_digest_auth(self):
        return False

    def throttled(self, user_name: str, environ: dict) -> int:
        return max(
            self.user_throttle.retry_after(url_key(user_name)),
            self.address_throttle.retry_after(environ.get("REMOTE_ADDR", "")),
        )

    def basic_auth_user(self, realm, user_name, password, environ):
        # "anna maier" and "anna_maier" are one throttle key: spelling does not buy attempts.
        key = url_key(user_name)
        # The exact login name is what clients send on every request: one prepared query;
        # the other spellings (URL form, e-mail) only when it finds nothing.
        practitioner = store.practitioner_by_login_key(login_key(user_name)) or find_login(user_name)
        if practitioner is None:
            # Pay for a hash anyway: an unknown name must not answer faster than a wrong password.
            verify_password(password, _DUMMY_HASH)
        elif self._verify(practitioner, password):
            environ["praxis.viewer"] = practitioner
            self.user_throttle.clear(key)
            return practitioner.username
        self.user_throttle.fail(key)
        self.address_throttle.fail(environ.get("REMOTE_ADDR", ""))
        return None

    def _verify(self, practitioner: Practitioner, password: str) -> bool:
        """Cached scrypt check. When the cache entry of a client's credentials expires, its
        next requests arrive together (a device syncs over several connections): only the
        first computes the hash, the others wait for its answer instead of each paying
        16 MiB and tens of milliseconds for the same result."""
        digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
        cache_key = (practitioner.login_key, digest, practitioner.password_hash)
        now = time.monotonic()
        with self._cache_lock:
            expires = self._cache.get(cache_key)
            if expires is not None and expires > now:
                return True
            pending = self._pending.get(cache_key)
            computing = pending is None
            if computing:
                pending = self._pending[cache_key] = _PendingCheck()
        if not computing:
            pending.done.wait()
            if pending.ok is not None:
                return pending.ok
            # The first check failed with an error: check on our own.
            return verify_password(password, practitioner.password_hash)
        try:
            pending.ok = verify_password(password, practitioner.password_hash)
            if pending.ok:
                with self._cache_lock:
                    if len(self._cache) > 10_000:
                        self._cache = {k: v for k, v in self._cache.items() if v > now}
                    self._cache[cache_key] = now + self.settings.cache_seconds
            return pending.ok
        finally:
            with self._cache_lock:
                self._pending.pop(cache_key, None)
            pending.done.set()


class _PendingCheck:
    """One password check in progress; `ok` stays None if it ended in an error."""

    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok: bool | None = None


class PracticeAuthenticator(HTTPAuthenticator):
    """Basic only, with `charset="UTF-8"`, throttling, and no crash on a malformed header."""

    def send_basic_auth_response(self, environ, start_response, retry_after: int = 0):
        realm = self.domain_controller.get_domain_realm(environ["PATH_INFO"], environ)
        if retry_after:
            body = b"Too many failed logins; try again later.\n"
            start_response(
                "429 Too Many Requests",
                [
                    ("Retry-After", str(retry_after)),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body]
        body = b"Login with your practice user name and password.\n"
        start_response(
            "401 Unauthorized",
            [
                ("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"'),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    def send_digest_auth_response(self, environ, start_response):
        return self.send_basic_auth_response(environ, start_response)

    def handle_basic_auth_request(self, environ, start_response):
        credentials = decode_basic(environ.get("HTTP_AUTHORIZATION", ""))
        if credentials is None:
            return self.send_basic_auth_response(environ, start_response)
        user_name, password = credentials
        dc: PracticeDomainController = self.domain_controller
        wait = dc.throttled(user_name, environ)
        if wait:
            log.warning("login throttled from %s", environ.get("REMOTE_ADDR", "?"))
            return self.send_basic_auth_response(environ, start_response, retry_after=wait)
        canonical = dc.basic_auth_user(dc.settings.realm, user_name, password, environ)
        if canonical:
            environ["wsgidav.auth.realm"] = dc.settings.realm
            environ["wsgidav.auth.user_name"] = canonical
            return self.next_app(environ, start_response)
        log.info("login failed from %s", environ.get("REMOTE_ADDR", "?"))
        return self.send_basic_auth_response(environ, start_response)
