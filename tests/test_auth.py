"""Practice logins over HTTP Basic: 401 challenge, UTF-8/ISO-8859-1, hashing, cache, throttling.

Runs against the real server on SQLite and PostgreSQL (`live`); the throttle tests start a
second server over the same database with small limits.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

import davserver.auth
from davserver.auth import PracticeDomainController, decode_basic
from davserver.config import AuthConfig, ServerConfig
from providers.practice import api
from providers.practice.models import LoginCounter, Practice, Practitioner
from providers.practice.passwords import verify_password
from tests.conftest import DEMO_PASSWORD, DEMO_USER, start_server

ANNA = "/anna_maier/"
CHALLENGE = 'Basic realm="praxis-caldav", charset="UTF-8"'
UMLAUT_USER = "jürgen öztürk"
UMLAUT_PASSWORD = "Grüße-€"  # € is not in ISO-8859-1: UTF-8 only
LATIN_USER = "jürgen öztürk"
LATIN_PASSWORD = "pässwört"  # representable in ISO-8859-1


def basic(user: bytes, password: bytes) -> str:
    return "Basic " + base64.b64encode(user + b":" + password).decode("ascii")


def raw_propfind(live, authorization: str | None, path: str = ANNA) -> requests.Response:
    headers = {"Depth": "0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.request("PROPFIND", live.url(path), headers=headers, timeout=30, allow_redirects=False)


def practice() -> Practice:
    return Practice.get(Practice.external_id == "demo-practice")


def check(dc: PracticeDomainController, user: Practitioner, password: str) -> bool:
    """The domain controller's cached check of a practice password."""
    return dc._verify(("practice", user.login_key, user.password_hash), password, user.password_hash)


def ensure_user(name: str, password: str) -> Practitioner:
    existing = api.find_practitioner(name)
    if existing is None:
        return api.create_practitioner(practice(), name, password)
    api.set_password(existing, password)
    return existing


# ---------------------------------------------------------------- the challenge


@pytest.mark.parametrize(
    "method,path",
    [
        ("PROPFIND", "/"),
        ("PROPFIND", ANNA),
        ("GET", "/anna_maier/calendar/"),
        ("OPTIONS", ANNA),
        ("REPORT", "/anna_maier/calendar/"),
    ],
)
def test_unauthenticated_requests_get_a_utf8_basic_challenge(live, method, path):
    resp = live.request(method, path, user=None)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == CHALLENGE
    assert "anna" not in resp.text.lower()


@pytest.mark.parametrize(
    "authorization",
    [
        basic(b"anna maier", b"wrong"),
        basic(b"nobody", b"demo-praxis"),
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Basic",
        "Bearer abc.def",
        'Digest username="anna maier", realm="praxis-caldav", nonce="x", uri="/", response="y"',
    ],
    ids=["wrong-password", "unknown-user", "not-base64", "no-colon", "empty", "bearer", "digest"],
)
def test_bad_credentials_are_a_401_never_a_500(live, authorization):
    resp = raw_propfind(live, authorization)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == CHALLENGE


def test_good_credentials(live):
    assert raw_propfind(live, basic(DEMO_USER.encode(), DEMO_PASSWORD.encode())).status_code == 207


def test_login_is_case_insensitive_and_keeps_the_space(live):
    for user in ("Anna Maier", "ANNA MAIER", " anna maier"):
        resp = raw_propfind(live, basic(user.encode(), DEMO_PASSWORD.encode()))
        assert resp.status_code == 207, user


@pytest.mark.parametrize(
    "typed", ["anna_maier", "Anna_Maier", "anna.maier@example.org", "Anna.Maier@Example.org"]
)
def test_login_as_typed_from_the_url_or_the_email_works(live, typed):
    """Today's help pages warn: space here, underscore there, no e-mail. We accept all of them."""
    resp = raw_propfind(live, basic(typed.encode(), DEMO_PASSWORD.encode()))
    assert resp.status_code == 207, typed
    assert "/anna_maier/" in resp.text  # the principal is the practitioner, whatever was typed


def test_email_login_needs_the_right_password_too(live):
    resp = raw_propfind(live, basic(b"anna.maier@example.org", b"wrong"))
    assert resp.status_code == 401


# ---------------------------------------------------------------- encodings


@pytest.fixture(scope="module")
def umlaut_user(live):
    ensure_user(UMLAUT_USER, UMLAUT_PASSWORD)
    return UMLAUT_USER


def test_utf8_user_name_and_password(live, umlaut_user):
    resp = raw_propfind(
        live,
        basic(UMLAUT_USER.encode("utf-8"), UMLAUT_PASSWORD.encode("utf-8")),
        path="/j%C3%BCrgen_%C3%B6zt%C3%BCrk/",
    )
    assert resp.status_code == 207
    # A decomposed (NFD) user name is the same login.
    nfd = unicodedata.normalize("NFD", UMLAUT_USER).encode("utf-8")
    assert raw_propfind(live, basic(nfd, UMLAUT_PASSWORD.encode()), path="/").status_code == 207


def test_iso_8859_1_fallback(live, umlaut_user):
    ensure_user(LATIN_USER, LATIN_PASSWORD)
    try:
        latin = basic(LATIN_USER.encode("iso-8859-1"), LATIN_PASSWORD.encode("iso-8859-1"))
        assert raw_propfind(live, latin, path="/").status_code == 207
        utf8 = basic(LATIN_USER.encode("utf-8"), LATIN_PASSWORD.encode("utf-8"))
        assert raw_propfind(live, utf8, path="/").status_code == 207
    finally:
        ensure_user(UMLAUT_USER, UMLAUT_PASSWORD)


def test_decode_basic_unit():
    assert decode_basic(basic("jürgen".encode(), b"a:b")) == ("jürgen", "a:b")
    assert decode_basic(basic("jürgen".encode("latin-1"), b"x")) == ("jürgen", "x")
    assert decode_basic("basic " + base64.b64encode(b"u:p").decode()) == ("u", "p")
    assert decode_basic("Basic ###") is None
    assert decode_basic("Negotiate abc") is None


# ---------------------------------------------------------------- hashing and the cache


def test_passwords_are_stored_as_argon2id(live):
    anna = api.find_practitioner(DEMO_USER)
    assert anna.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert DEMO_PASSWORD not in anna.password_hash
    assert verify_password(DEMO_PASSWORD, anna.password_hash)
    assert not verify_password(DEMO_PASSWORD + "x", anna.password_hash)
    other = ensure_user("salz test", DEMO_PASSWORD)
    assert other.password_hash != anna.password_hash  # salted


def test_verified_credentials_are_cached_and_failures_are_not(live, monkeypatch):
    ensure_user("cache test", "cache-pw-1")
    calls = []
    real = davserver.auth.verify_password

    def counting(password, stored):
        calls.append(password)
        return real(password, stored)

    monkeypatch.setattr(davserver.auth, "verify_password", counting)
    good = basic(b"cache test", b"cache-pw-1")
    for _ in range(3):
        assert raw_propfind(live, good, path="/").status_code == 207
    assert calls == ["cache-pw-1"]  # hashed once for three requests
    bad = basic(b"cache test", b"nope")
    for _ in range(2):
        assert raw_propfind(live, bad, path="/").status_code == 401
    assert calls.count("nope") == 2


def test_cache_entries_expire_after_cache_seconds(live, monkeypatch):
    user = ensure_user("ablauf test", "pw-ablauf")
    dc = PracticeDomainController(None, {"praxis": {"auth": AuthConfig(cache_seconds=30)}})
    clock = [1000.0]
    monkeypatch.setattr(davserver.auth, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    calls = []
    real = davserver.auth.verify_password
    monkeypatch.setattr(
        davserver.auth, "verify_password", lambda pw, stored: calls.append(pw) or real(pw, stored)
    )
    assert check(dc, user, "pw-ablauf") and len(calls) == 1
    clock[0] += 29
    assert check(dc, user, "pw-ablauf") and len(calls) == 1
    clock[0] += 2
    assert check(dc, user, "pw-ablauf") and len(calls) == 2  # expired: hashed again
    assert not check(dc, user, "falsch")


def test_concurrent_checks_of_one_login_hash_once(live, monkeypatch):
    """A device's connections arrive together when its cache entry expires: one hash
    (19 MiB, tens of ms) answers all of them, right and wrong passwords alike."""
    user = ensure_user("gleichzeitig test", "pw-gleich")
    dc = PracticeDomainController(None, {"praxis": {"auth": AuthConfig(cache_seconds=30)}})
    calls, release = [], threading.Event()
    real = davserver.auth.verify_password

    def slow(password, stored):
        calls.append(password)
        release.wait(10)
        return real(password, stored)

    monkeypatch.setattr(davserver.auth, "verify_password", slow)
    for password, expected in (("pw-gleich", True), ("falsch", False)):
        calls.clear()
        release.clear()
        with ThreadPoolExecutor(6) as pool:
            answers = [pool.submit(check, dc, user, password) for _ in range(6)]
            time.sleep(0.3)  # all six are in _verify by now; five wait for the first
            release.set()
            assert [a.result(10) for a in answers] == [expected] * 6
        assert calls == [password]
    assert not dc._pending


def test_a_failed_check_lets_the_waiting_requests_check_themselves(live, monkeypatch):
    user = ensure_user("fehler test", "pw-fehler")
    dc = PracticeDomainController(None, {"praxis": {"auth": AuthConfig(cache_seconds=30)}})
    started, release, calls = threading.Event(), threading.Event(), []
    real = davserver.auth.verify_password

    def first_fails(password, stored):
        calls.append(password)
        if len(calls) == 1:
            started.set()
            release.wait(10)
            raise OSError("kaputt")
        return real(password, stored)

    monkeypatch.setattr(davserver.auth, "verify_password", first_fails)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(check, dc, user, "pw-fehler")
        assert started.wait(10)
        second = pool.submit(check, dc, user, "pw-fehler")
        time.sleep(0.2)
        release.set()
        with pytest.raises(OSError):
            first.result(10)
        assert second.result(10) is True
    assert len(calls) == 2


def test_at_most_two_hashes_at_once(monkeypatch):
    """Each run holds 16-19 MiB: sixteen worker threads hashing together cost 300 MiB.
    Both formats share the two slots: argon2 and the old scrypt."""
    import os

    import providers.practice.passwords as passwords

    stored = [passwords.hash_password("pw"), passwords.legacy_scrypt_hash("pw", os.urandom(16))]
    running, peak, lock = [0], [0], threading.Lock()

    def counted(real):
        def run(*args, **kwargs):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            try:
                return real(*args, **kwargs)
            finally:
                with lock:
                    running[0] -= 1

        return run

    monkeypatch.setattr(passwords.hashlib, "scrypt", counted(hashlib.scrypt))
    monkeypatch.setattr(passwords, "_HASHER", SimpleNamespace(verify=counted(passwords._HASHER.verify)))
    attempts = [(pw, stored[i % 2]) for i, pw in enumerate(["pw", "pw", "x", "x"] * 2)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda a: passwords.verify_password(*a), attempts))
    assert results == [True, True, False, False] * 2
    assert peak[0] == 2


def test_password_change_takes_effect_at_once_despite_the_cache(live):
    user = ensure_user("wechsel test", "old-password")
    old = basic(b"wechsel test", b"old-password")
    assert raw_propfind(live, old, path="/").status_code == 207  # now cached
    api.set_password(user, "new-password")
    assert raw_propfind(live, old, path="/").status_code == 401
    assert raw_propfind(live, basic(b"wechsel test", b"new-password"), path="/").status_code == 207


# ---------------------------------------------------------------- throttling


def throttled_server(live, **auth):
    config = ServerConfig()
    for key, value in auth.items():
        setattr(config.auth, key, value)
    return start_server(live.db_url, config, load_demo=False)


@pytest.fixture
def small_limits(live):
    LoginCounter.delete().execute()  # failures are shared through the database: start afresh
    server = throttled_server(live, max_failures=3, failure_window=60, lockout_seconds=1)
    yield server
    server.server.stop()


def test_repeated_failures_of_one_user_get_429_with_retry_after(small_limits):
    ensure_user("drossel test", "right-pw")
    wrong, right = basic(b"drossel test", b"wrong"), basic(b"drossel test", b"right-pw")
    for _ in range(3):
        assert raw_propfind(small_limits, wrong, path="/").status_code == 401
    locked = raw_propfind(small_limits, right, path="/")  # even the right password waits
    assert locked.status_code == 429
    retry_after = int(locked.headers["Retry-After"])
    assert retry_after == 1  # the configured lockout
    assert "WWW-Authenticate" not in locked.headers
    # Other users from the same address are not locked out by one user's failures.
    anna = basic(DEMO_USER.encode(), DEMO_PASSWORD.encode())
    assert raw_propfind(small_limits, anna, path="/").status_code == 207
    # Waiting as long as Retry-After says lets the right password in.
    time.sleep(retry_after + 0.2)
    assert raw_propfind(small_limits, right, path="/").status_code == 207


def test_repeated_failures_from_one_address_get_429(small_limits):
    # Below the per-user limit for every name, but over the per-address limit.
    for i in range(15):
        resp = raw_propfind(small_limits, basic(f"erraten {i % 8}".encode(), b"x"), path="/")
        assert resp.status_code == 401, i
    anna = basic(DEMO_USER.encode(), DEMO_PASSWORD.encode())
    locked = raw_propfind(small_limits, anna, path="/")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
