"""Object names and UIDs as every view but the owner's clear one sees them.

A device may name its object `Maria-Muster-Kontrolle.ics` with UID
`kontrolle-maria-muster-2026@example`. Only the owner's clear view shows those as stored;
a pseudonymized view and every delegated view get opaque values instead, made here:

- A name or UID of a shape that can carry no text (the server's own 32-hex names, UUIDs
  as the clients make them) is shown as it is.
- Any other is shown as its deterministic AES-SIV encryption under a server secret
  (the owner and the kind are associated data), in lowercase hex like the server's own
  names: stable, reversible without a lookup (also for the tombstone of a deleted row),
  unreadable without the key. Hex spells no name beyond the letters a-f.
- A name such a view sends that is neither (a device creating `foo.ics` there) maps to a
  server-made name derived from it with a keyed hash, so the device's URL keeps working
  and the object gets a server-made name anyway.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from providers.practice import api as practice_api
from providers.practice.models import database_proxy

SECRET_NAME = "opaque-names"
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
# Shapes shown to every view as they are: hex digits and dashes spell no name.
_TEXTLESS_NAME = re.compile(rf"(?:[0-9a-f]{{32}}|{_UUID})\.ics").fullmatch
_TEXTLESS_UID = re.compile(rf"{_UUID}(?:@praxis-caldav)?").fullmatch
_TOKEN = re.compile(r"(?:[0-9a-f]{32}){2,}").fullmatch
_NAME_SUFFIX, _UID_SUFFIX = ".ics", "@praxis-caldav"
_BLOCK = 16  # plaintexts are padded to whole blocks: a token tells little of the length


def is_textless_name(name: str) -> bool:
    """Whether a resource name is of a shape that carries no text (server-made or a UUID)."""
    return _TEXTLESS_NAME(name) is not None


def shown_name(owner_id: int, name: str) -> str:
    """The name of a stored object as a non-owner or pseudonymized view shows it."""
    if _TEXTLESS_NAME(name):
        return name
    return _encrypted(database_proxy.obj, owner_id, b"name", name) + _NAME_SUFFIX


def stored_name(owner_id: int, shown: str) -> str:
    """The stored name a request of such a view means (inverse of shown_name; any other
    name maps to a server-made one derived from it)."""
    if _TEXTLESS_NAME(shown):
        return shown
    if shown.endswith(_NAME_SUFFIX):
        plain = _decrypted(database_proxy.obj, owner_id, b"name", shown[: -len(_NAME_SUFFIX)])
        if plain is not None:
            return plain
    keys = _keys(database_proxy.obj)
    digest = hmac.new(keys.naming, f"{owner_id}/{shown}".encode(), hashlib.sha256).hexdigest()
    return digest[:32] + _NAME_SUFFIX


def shown_uid(owner_id: int, uid: str) -> str:
    """The UID of a stored object as a non-owner or pseudonymized view shows it."""
    if _TEXTLESS_UID(uid):
        return uid
    return _encrypted(database_proxy.obj, owner_id, b"uid", uid) + _UID_SUFFIX


def stored_uid(owner_id: int, shown: str) -> str:
    """The stored UID an upload from such a view means: an opaque UID maps back, any other
    is the device's own."""
    if shown.endswith(_UID_SUFFIX):
        plain = _decrypted(database_proxy.obj, owner_id, b"uid", shown[: -len(_UID_SUFFIX)])
        if plain is not None:
            return plain
    return shown


class _Keys:
    def __init__(self, secret: bytes):
        self.cipher = AESSIV(hashlib.sha512(b"opaque-names/siv/" + secret).digest())
        self.naming = hashlib.sha256(b"opaque-names/hmac/" + secret).digest()


@functools.lru_cache(maxsize=8)
def _keys(database) -> _Keys:
    """The keys of this database (every server process on it derives the same)."""
    return _Keys(bytes.fromhex(practice_api.server_secret(SECRET_NAME)))


@functools.lru_cache(maxsize=16384)
def _encrypted(database, owner_id: int, kind: bytes, value: str) -> str:
    data = value.encode("utf-8") + b"\x80"  # ISO/IEC 7816-4 padding
    data += b"\x00" * (-len(data) % _BLOCK)
    sealed = _keys(database).cipher.encrypt(data, [kind, str(owner_id).encode()])
    return sealed.hex()


@functools.lru_cache(maxsize=4096)
def _decrypted(database, owner_id: int, kind: bytes, token: str) -> str | None:
    if not _TOKEN(token):
        return None
    try:
        data = _keys(database).cipher.decrypt(bytes.fromhex(token), [kind, str(owner_id).encode()])
        return data.rstrip(b"\x00")[:-1].decode("utf-8")
    except (InvalidTag, UnicodeDecodeError, ValueError):
        return None
