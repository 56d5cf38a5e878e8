"""Logins over HTTP Basic: device passwords and practice passwords, verification cache,
failure throttling shared through the database (providers.practice.login_throttle), UTF-8 logins.

Password hashing costs tens of milliseconds by design; clients send credentials with every request,
so a verified (user, password, stored hash) triple is cached briefly. The stored hash is
part of the key, so a password change takes effect at once, in every process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass

from wsgidav.dc.base_dc import BaseDomainController
from wsgidav.http_authenticator import HTTPAuthenticator

from davserver.client_address import client_address, parse_networks
from davserver.config import AuthConfig
from davserver.settings_page import MOUNT as SETTINGS_MOUNT
from davserver.settings_page.devices import user_agent_family
from providers.practice import accounts, device_passwords, directory
from providers.practice.api import find_login, login_key, url_key
from providers.practice.login_throttle import LoginThrottle
from providers.practice.passwords import hash_password, needs_rehash, verify_password
from providers.practice.records import DevicePassword, Practitioner

log = logging.getLogger("praxis_caldav.auth")

# A real hash (the current format) of a random password, verified when the name is unknown.
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


@dataclass
class Login:
    """The outcome of one login: who (and with which device), or how long to wait."""

    practitioner: Practitioner | None = None
    device: DevicePassword | None = None
    retry_after: int = 0


def is_settings_path(path: str) -> bool:
    """The settings page takes the practice password only, never a device's."""
    return path == SETTINGS_MOUNT or path.startswith(SETTINGS_MOUNT + "/")


class PracticeDomainController(BaseDomainController):
    """wsgidav domain controller over the practitioners and their device passwords."""

    def __init__(self, wsgidav_app, config):
        super().__init__(wsgidav_app, config)
        praxis = config["praxis"]
        self.settings: AuthConfig = praxis["auth"]
        self.trusted_proxy: bool = praxis.get("trusted_proxy", False)
        self.proxies = parse_networks(praxis.get("trusted_proxies", ()))
        self._cache: dict[tuple, float] = {}
        self._cache_lock = threading.Lock()
        self._pending: dict[tuple, _PendingCheck] = {}
        self._device_noted: dict[int, float] = {}
        self.throttle = LoginThrottle(
            self.settings.max_failures, self.settings.failure_window, self.settings.lockout_seconds
        )

    def __str__(self):
        return "PracticeDomainController"

    def get_domain_realm(self, path_info, environ):
        return self.settings.realm

    def require_authentication(self, realm, environ):
        return True

    def supports_http_digest_auth(self):
        return False

    def client_address(self, environ: dict) -> str:
        return client_address(environ, self.trusted_proxy, self.proxies)

    def basic_auth_user(self, realm, user_name, password, environ):
        """wsgidav's interface: the canonical user name, or None."""
        login = self.login(user_name, password, environ)
        return login.practitioner.username if login.practitioner else None

    def login(self, user_name: str, password: str, environ: dict) -> Login:
        """Check a login, device password first; count failures; never lock a valid device out."""
        address = environ.setdefault("praxis.client_address", self.client_address(environ))
        on_page = is_settings_path(environ.get("PATH_INFO", ""))
        # The exact login name is what clients send on every request: one prepared query;
        # the other spellings (URL form, e-mail) only when it finds nothing.
        practitioner = directory.practitioner_by_login_key(login_key(user_name)) or find_login(user_name)
        # One counter per account whatever spelling was typed; unknown names count like known ones.
        account = f"#{practitioner.id}" if practitioner else "?" + url_key(user_name)[:100]
        usable = practitioner is not None and not practitioner.disabled
        chars = device_passwords.normalized(password) if usable and not on_page else None
        found = device_passwords.candidates(practitioner.id, chars) if chars else []
        if found:
            # The selector is 50 bits of the password itself: whoever sends a matching one knows
            # the password's beginning. Checked whatever the throttle says: devices keep working
            # during an attack, and guessing costs a hash only after guessing the selector.
            device = found[0]
            key = ("device", device.id, device.password_hash)
            if self._verify(key, chars, device.password_hash):
                if needs_rehash(device.password_hash):
                    self._upgrade(device_passwords.rehash, device, chars)
                self._note_device(device, address, environ)
                return self._accept(practitioner, environ, device)
            self.throttle.failed(account, address)
            return Login()
        allowed = usable and (on_page or not self.settings.device_passwords_only)
        key = ("practice", practitioner.login_key, practitioner.password_hash) if allowed else None
        if key and self._cached(key, password):
            return self._accept(practitioner, environ)  # verified moments ago: no throttle, no hash
        admission = self.throttle.admit(account, address)
        if admission.wait:
            return Login(retry_after=admission.wait)
        if key and self._verify(key, password, practitioner.password_hash):
            self.throttle.succeeded(account, address, fresh=admission.fresh)
            if needs_rehash(practitioner.password_hash):
                self._upgrade(accounts.rehash_password, practitioner, practitioner.password_hash, password)
            return self._accept(practitioner, environ)
        if not key:
            # Pay for a hash anyway: an unknown name must not answer faster than a wrong password.
            verify_password(password, _DUMMY_HASH)
        self.throttle.failed(account, address)
        return Login()

    def _accept(
        self, practitioner: Practitioner, environ: dict, device: DevicePassword | None = None
    ) -> Login:
        environ["praxis.viewer"] = practitioner
        environ["praxis.device"] = device.id if device else None
        return Login(practitioner, device)

    def _upgrade(self, rehash, *args) -> None:
        """Rehash on login: an old-format hash is replaced once its password verified."""
        try:
            rehash(*args)
        except Exception:  # noqa: BLE001 - the login is good; the next one tries again
            log.warning("could not store the password in the current hash format", exc_info=True)

    def _note_device(self, device: DevicePassword, address: str, environ: dict) -> None:
        """Last use and address of a device, at most once a minute per process."""
        now = time.monotonic()
        with self._cache_lock:
            if now - self._device_noted.get(device.id, -1e9) < 60:
                return
            if len(self._device_noted) > 10_000:
                self._device_noted.clear()
            self._device_noted[device.id] = now
        try:
            family = user_agent_family(environ.get("HTTP_USER_AGENT"))
            device_passwords.note_use(device.id, address, family)
        except Exception:  # noqa: BLE001 - a status row must never fail a sync
            log.warning("could not record device use", exc_info=True)

    def _cached(self, key: tuple, password: str) -> bool:
        cache_key = (*key, hashlib.sha256(password.encode("utf-8")).hexdigest())
        with self._cache_lock:
            expires = self._cache.get(cache_key)
        return expires is not None and expires > time.monotonic()

    def _verify(self, key: tuple, password: str, stored: str) -> bool:
        """Cached password check. `key` holds the stored hash, so a password change or a
        revoked device takes effect at once. When the cache entry of a client's credentials
        expires, its next requests arrive together (a device syncs over several
        connections): only the first computes the hash, the others wait for its answer
        instead of each paying 19 MiB and tens of milliseconds for the same result."""
        digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
        cache_key = (*key, digest)
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
            return verify_password(password, stored)
        try:
            pending.ok = verify_password(password, stored)
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
        login = dc.login(user_name, password, environ)
        address = environ.get("praxis.client_address", "?")
        if login.retry_after:
            log.warning("login throttled from %s", address)
            return self.send_basic_auth_response(environ, start_response, retry_after=login.retry_after)
        if login.practitioner is not None:
            environ["wsgidav.auth.realm"] = dc.settings.realm
            environ["wsgidav.auth.user_name"] = login.practitioner.username
            return self.next_app(environ, start_response)
        log.info("login failed from %s", address)
        return self.send_basic_auth_response(environ, start_response)
