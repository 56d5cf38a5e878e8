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


MIN_LENGTH = 10
MIN_STRENGTH = 3  # zxcvbn's score 0-4: 3 = "safely unguessable: moderate protection from offline attack"


def password_problem(password: str, user_inputs: list[str] | None = None) -> str | None:
    """Why a new practice password is refused (one line), or None: at least MIN_LENGTH
    characters and, by zxcvbn's estimate, not guessable from words, names, dates or the
    user's own name and e-mail (`user_inputs`)."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    from zxcvbn import zxcvbn

    # zxcvbn's matching is quadratic in the length; the first 100 characters decide.
    result = zxcvbn(password[:100], user_inputs=[i for i in user_inputs or [] if i])
    if result["score"] < MIN_STRENGTH:
        advice = result["feedback"].get("warning") or " ".join(result["feedback"].get("suggestions", []))
        return "the password is too easy to guess" + (f": {advice}" if advice else "")
    return None
