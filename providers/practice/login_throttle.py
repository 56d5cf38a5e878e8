"""Failed logins counted in the database, so every server process (and machine) shares them.

Three failure counters, each locking with backoff once over its limit:
- per (account, address): a guesser at one address is stopped for that account;
- per address: one address guessing many accounts (or unknown names) is stopped, which also
  bounds the scrypt work an address can cause;
- per account from anywhere: many addresses guessing one account lock that account, but only
  for addresses that never logged in to it successfully (`ok:` rows, kept 30 days). The
  practitioner's own addresses and every device password keep working during an attack.
Refused attempts are not counted: they cost no hash, and a lock cannot be prolonged forever
by an attacker at another address. Rows are deleted when they no longer lock or remember
anything, and the table is capped.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

import peewee as pw

from providers.practice.models import LoginCounter, database_proxy, utcnow

MAX_DOUBLINGS = 6  # a lock grows to at most 64 times the base lockout
GOOD_ADDRESS_DAYS = 30
MAX_ROWS = 100_000
PRUNE_SECONDS = 60.0
ADDRESS_FACTOR = 5  # an address may fail this many times more (a practice behind one NAT)
ACCOUNT_FACTOR = 5  # failures of an account from anywhere before fresh addresses are locked out


def lock_seconds(failures: int, limit: int, lockout: int) -> int:
    """The lock after `failures` failures: none below the limit, then doubling per failure."""
    if failures < limit:
        return 0
    return lockout * 2 ** min(failures - limit, MAX_DOUBLINGS)


@dataclass
class LoginThrottle:
    max_failures: int
    window: int
    lockout: int

    def __post_init__(self) -> None:
        self._pruned = 0.0
        self._lock = threading.Lock()

    def _limits(self, account: str, address: str) -> dict[str, int]:
        return {
            f"a:{account}|{address}": self.max_failures,
            f"i:{address}": self.max_failures * ADDRESS_FACTOR,
            f"u:{account}": self.max_failures * ACCOUNT_FACTOR,
        }

    def retry_after(self, account: str, address: str, now: dt.datetime | None = None) -> int:
        """Seconds until a login to `account` from `address` may be checked (0 = now)."""
        now = now or utcnow()
        keys = [*self._limits(account, address), f"ok:{account}|{address}"]
        rows = {
            r.key: r
            for r in LoginCounter.select().where(LoginCounter.key.in_(keys) & (LoginCounter.forget_at > now))
        }
        waits = []
        for key, row in rows.items():
            if key.startswith("u:") and f"ok:{account}|{address}" in rows:
                continue  # an address this account logged in from is not locked out by others
            if row.locked_until is not None and row.locked_until > now:
                waits.append((row.locked_until - now).total_seconds())
        return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, account: str, address: str, now: dt.datetime | None = None) -> None:
        """Count a failed login in each of the three counters."""
        now = now or utcnow()
        for key, limit in self._limits(account, address).items():
            self._count(key, limit, now)
        self._maybe_prune(now)

    def succeeded(self, account: str, address: str, now: dt.datetime | None = None) -> None:
        """Forget this address's failures for the account and remember it as the account's own."""
        now = now or utcnow()
        with database_proxy.atomic():
            LoginCounter.delete().where(LoginCounter.key == f"a:{account}|{address}").execute()
            forget = now + dt.timedelta(days=GOOD_ADDRESS_DAYS)
            LoginCounter.insert(key=f"ok:{account}|{address}", last_at=now, forget_at=forget).on_conflict(
                conflict_target=[LoginCounter.key],
                update={LoginCounter.last_at: now, LoginCounter.forget_at: forget},
            ).execute()

    def _count(self, key: str, limit: int, now: dt.datetime) -> None:
        forget = now + dt.timedelta(seconds=self.window)
        # One statement counts, so processes failing at once never lose a failure; a row
        # whose failures were forgotten starts again at one.
        LoginCounter.insert(key=key, failures=1, last_at=now, forget_at=forget).on_conflict(
            conflict_target=[LoginCounter.key],
            update={
                LoginCounter.failures: _case_forgotten(now, 1, LoginCounter.failures + 1),
                LoginCounter.locked_until: _case_forgotten(now, None, LoginCounter.locked_until),
                LoginCounter.last_at: now,
            },
        ).execute()
        failures = LoginCounter.select(LoginCounter.failures).where(LoginCounter.key == key).scalar() or 1
        lock = lock_seconds(failures, limit, self.lockout)
        # Forgotten a window after the lock ends: the next failure after a lock doubles it.
        LoginCounter.update(
            locked_until=now + dt.timedelta(seconds=lock) if lock else None,
            forget_at=now + dt.timedelta(seconds=self.window + lock),
        ).where((LoginCounter.key == key) & (LoginCounter.failures == failures)).execute()

    def _maybe_prune(self, now: dt.datetime) -> None:
        with self._lock:
            if time.monotonic() - self._pruned < PRUNE_SECONDS:
                return
            self._pruned = time.monotonic()
        prune(now)


def prune(now: dt.datetime | None = None, max_rows: int = MAX_ROWS) -> int:
    """Delete rows that lock and remember nothing any more; above `max_rows`, the oldest
    unlocked rows too (an attacker with many addresses must not grow the table without end)."""
    now = now or utcnow()
    deleted = LoginCounter.delete().where(LoginCounter.forget_at <= now).execute()
    excess = LoginCounter.select().count() - max_rows
    if excess > 0:
        oldest = (
            LoginCounter.select(LoginCounter.id)
            .where(LoginCounter.locked_until.is_null() | (LoginCounter.locked_until <= now))
            .order_by(LoginCounter.last_at)
            .limit(excess)
        )
        deleted += LoginCounter.delete().where(LoginCounter.id.in_(oldest)).execute()
    return deleted


def _case_forgotten(now: dt.datetime, forgotten, otherwise) -> pw.Case:
    return pw.Case(None, [(LoginCounter.forget_at <= now, forgotten)], otherwise)
