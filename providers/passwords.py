"""Password hashing with the standard library's scrypt (memory-hard, no extra dependency)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading

_N, _R, _P = 2**14, 8, 1
# One scrypt at these parameters takes 128 * r * n bytes = 16 MiB for its run. Every worker
# thread hashing at once (credential caches expiring together, or a burst of wrong passwords)
# cost 16 threads x 16 MiB; two at a time keep both cores busy and the peak at 32 MiB.
_KDF_SLOTS = threading.BoundedSemaphore(2)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    with _KDF_SLOTS:
        digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    with _KDF_SLOTS:
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt_b64),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
        )
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))
