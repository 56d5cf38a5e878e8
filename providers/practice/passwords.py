"""Password hashing: Argon2id through argon2-cffi (maintained, the PHC string format, knows
when a hash's parameters are out of date). Hashes of the old `scrypt$` format still verify;
`needs_rehash` tells the login to replace them with the current format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# Why Argon2id at OWASP's first parameter line (19 MiB, 2 passes, 1 lane): cheaper per check than
# our old scrypt, which OWASP rates weaker, and than scrypt of equal strength
# (docs/benchmarks/password_hashers.md).
_HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
# One hash holds its memory (19 MiB; 16 MiB for an old scrypt one) for its run. Every worker
# thread hashing at once (credential caches expiring together, or a burst of wrong passwords)
# cost every thread's 19 MiB at once; two at a time keep both cores busy and the peak low.
_KDF_SLOTS = threading.BoundedSemaphore(2)
LEGACY_PREFIX = "scrypt$"


def hash_password(password: str) -> str:
    """A new hash in argon2's `$argon2id$v=19$m=...,t=...,p=...$salt$hash` format."""
    with _KDF_SLOTS:
        return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored` (either format); a malformed hash matches nothing."""
    if stored.startswith(LEGACY_PREFIX):
        return _verify_scrypt(password, stored)
    try:
        with _KDF_SLOTS:
            return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash that just verified should be replaced: old format or old parameters."""
    if stored.startswith(LEGACY_PREFIX):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return False


def _verify_scrypt(password: str, stored: str) -> bool:
    """The format before argon2: `scrypt$N$r$p$salt$digest` (base64), 32-byte digest."""
    try:
        _, n, r, p, salt_b64, digest_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        n, r, p = int(n), int(r), int(p)
    except ValueError:
        return False
    with _KDF_SLOTS:
        digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return hmac.compare_digest(digest, expected)


def legacy_scrypt_hash(password: str, salt: bytes) -> str:
    """An old-format hash (N=2^14, r=8, p=1), for tests of the migration and the timing pad."""
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


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
