"""Failed logins counted in the database, so every server process (and machine) shares them.

Three failure counters, each locking with backoff once over its limit:
- per (account, address): a guesser at one address is stopped for that account;
- per address: one address guessing many accounts (or unknown names) is stopped, which also
  bounds the scrypt work an address can cause;
- per account from anywhere: many addresses guessing one account lock that account, but only
  for addresses that never logged in to it successfully (`ok:` rows, kept 30 days). The
  practitioner's own addresses and every device password keep working during an attack.
During such a lock a fresh address (no failure of its own for the account) still gets its
attempt checked, so a correct practice password from a new address gets in; each check takes
a ticket from the account's hourly budget (`x:` rows) before the hash, so an attacker's
guesses stay bounded per hour however many addresses it rotates through.
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
FRESH_WINDOW = 3600  # the budget of fresh-address checks during a lock is per hour
# An account's failures from anywhere are remembered an hour (not the window): an attacker
# pausing between bursts must not get ACCOUNT_FACTOR x max_failures guesses every few minutes.
ACCOUNT_WINDOW = 3600
FRESH_FACTOR = 1  # fresh-address checks per hour during a lock, in units of max_failures


def lock_seconds(failures: int, limit: int, lockout: int) -> int:
    """The lock after `failures` failures: none below the limit, then doubling per failure."""
    if failures < limit:
        return 0
    return lockout * 2 ** min(failures - limit, MAX_DOUBLINGS)


@dataclass
class Admission:
    """Whether a login may be checked now: `wait` seconds (0 = check it), and whether the
    check spends a ticket of the account's fresh-address budget (given back on success)."""

    wait: int = 0
    fresh: bool = False


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
        return self.admit(account, address, now).wait

    def admit(self, account: str, address: str, now: dt.datetime | None = None) -> Admission:
        """May a login to `account` from `address` be checked now? The address's own locks
        always hold; the account's lock holds for addresses that failed for it, and for fresh
        ones once this hour's budget of fresh-address checks is spent."""
        now = now or utcnow()
        own, known = f"a:{account}|{address}", f"ok:{account}|{address}"
        account_key, budget_key = f"u:{account}", f"x:{account}"
        keys = [*self._limits(account, address), known, budget_key]
        rows = {
            r.key: r
            for r in LoginCounter.select().where(LoginCounter.key.in_(keys) & (LoginCounter.forget_at > now))
        }

        def locked(key: str) -> float:
            row = rows.get(key)
            if row is None or row.locked_until is None or row.locked_until <= now:
                return 0.0
            return (row.locked_until - now).total_seconds()

        wait = max(locked(own), locked(f"i:{address}"))
        if wait:
            return Admission(_seconds(wait))
        account_wait = 0.0 if known in rows else locked(account_key)
        if not account_wait:
            return Admission()
        budget = rows.get(budget_key)
        spent = budget is not None and budget.failures >= self._fresh_budget()
        if own not in rows:  # fresh: no failure of its own for this account
            if not spent and self._take_ticket(budget_key, now):
                return Admission(fresh=True)
            if budget is not None:  # the budget comes back before the lock ends: say so
                account_wait = min(account_wait, (budget.forget_at - now).total_seconds())
        return Admission(_seconds(account_wait))

    def _fresh_budget(self) -> int:
        return self.max_failures * FRESH_FACTOR

    def _take_ticket(self, key: str, now: dt.datetime) -> bool:
        """Take one fresh-address check from this hour's budget, before the hash: requests
        in flight together cannot overdraw it (each counts first, then reads)."""
        forget = now + dt.timedelta(seconds=FRESH_WINDOW)
        taken = _count_one(key, now, forget, {LoginCounter.forget_at: forget})
        return taken <= self._fresh_budget()

    def failed(self, account: str, address: str, now: dt.datetime | None = None) -> None:
        """Count a failed login in each of the three counters."""
        now = now or utcnow()
        for key, limit in self._limits(account, address).items():
            window = max(self.window, ACCOUNT_WINDOW) if key.startswith("u:") else self.window
            self._count(key, limit, now, window)
        self._maybe_prune(now)

    def succeeded(
        self, account: str, address: str, now: dt.datetime | None = None, fresh: bool = False
    ) -> None:
        """Forget this address's failures for the account and remember it as the account's own;
        a fresh-address check that found the right password gives its ticket back."""
        now = now or utcnow()
        with database_proxy.atomic():
            if fresh:
                LoginCounter.update(failures=LoginCounter.failures - 1).where(
                    (LoginCounter.key == f"x:{account}") & (LoginCounter.failures > 0)
                ).execute()
            LoginCounter.delete().where(LoginCounter.key == f"a:{account}|{address}").execute()
            forget = now + dt.timedelta(days=GOOD_ADDRESS_DAYS)
            LoginCounter.insert(key=f"ok:{account}|{address}", last_at=now, forget_at=forget).on_conflict(
                conflict_target=[LoginCounter.key],
                update={LoginCounter.last_at: now, LoginCounter.forget_at: forget},
            ).execute()

    def _count(self, key: str, limit: int, now: dt.datetime, window: int) -> None:
        forget = now + dt.timedelta(seconds=window)
        failures = _count_one(key, now, forget, {LoginCounter.locked_until: None})
        lock = lock_seconds(failures, limit, self.lockout)
        # Forgotten a window after the lock ends: the next failure after a lock doubles it.
        LoginCounter.update(
            locked_until=now + dt.timedelta(seconds=lock) if lock else None,
            forget_at=now + dt.timedelta(seconds=window + lock),
        ).where((LoginCounter.key == key) & (LoginCounter.failures == failures)).execute()

    def _maybe_prune(self, now: dt.datetime) -> None:
        with self._lock:
            if time.monotonic() - self._pruned < PRUNE_SECONDS:
                return
            self._pruned = time.monotonic()
        prune(now)


def prune(now: dt.datetime | None = None, max_rows: int = MAX_ROWS) -> int:
    """Delete rows that lock and remember nothing any more; above `max_rows`, the oldest
    unlocked rows too (an attacker with many addresses must not grow the table without end),
    but never a practitioner's fresh-address budget (one row each): flooding the table must
    not refill it."""
    now = now or utcnow()
    deleted = LoginCounter.delete().where(LoginCounter.forget_at <= now).execute()
    excess = LoginCounter.select().count() - max_rows
    if excess > 0:
        oldest = (
            LoginCounter.select(LoginCounter.id)
            .where(LoginCounter.locked_until.is_null() | (LoginCounter.locked_until <= now))
            .where(~LoginCounter.key.startswith("x:#"))
            .order_by(LoginCounter.last_at)
            .limit(excess)
        )
        deleted += LoginCounter.delete().where(LoginCounter.id.in_(oldest)).execute()
    return deleted


def _seconds(wait: float) -> int:
    """A Retry-After value: whole seconds, rounded up past the lock's end."""
    return max(1, int(wait) + 1)


def _count_one(key: str, now: dt.datetime, forget: dt.datetime, restart: dict) -> int:
    """Count one more on `key` and return its count. One statement counts, so processes
    counting at once never lose one; a row whose count was forgotten starts again at one,
    with the fields in `restart` set to their fresh values."""
    LoginCounter.insert(key=key, failures=1, last_at=now, forget_at=forget).on_conflict(
        conflict_target=[LoginCounter.key],
        update={
            LoginCounter.failures: _case_forgotten(now, 1, LoginCounter.failures + 1),
            **{field: _case_forgotten(now, fresh, field) for field, fresh in restart.items()},
            LoginCounter.last_at: now,
        },
    ).execute()
    return LoginCounter.select(LoginCounter.failures).where(LoginCounter.key == key).scalar() or 1


def _case_forgotten(now: dt.datetime, forgotten, otherwise) -> pw.Case:
    return pw.Case(None, [(LoginCounter.forget_at <= now, forgotten)], otherwise)
