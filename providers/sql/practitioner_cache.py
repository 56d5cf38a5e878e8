"""Practitioner rows kept in memory on PostgreSQL, dropped the moment any of them changes.

Every request authenticates, and reading the practitioner was one of a GET's two round
trips to PostgreSQL. A trigger on the practitioner and practice tables sends a NOTIFY when
a change commits, whoever made it (this server, the CLI, the practice software); one
listener connection per server process hears it and empties the cache. Nothing is served
from the cache unless the listener is connected and listening, so no change is missed for
longer than the notification takes to arrive (well under a millisecond on one host), and
writers in this process empty it themselves at once (`forget_all`). Rows older than a few
seconds are read again in any case. Behind a connection pooler, session pooling keeps
LISTEN working (the prepared statements need it anyway).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable

import peewee as pw
import psycopg2

from providers.practice.models import Practice, Practitioner, database_proxy
from providers.sql.dialect import dialect_of

log = logging.getLogger("praxis_caldav.practitioner_cache")

CHANNEL = "praxis_practitioners"
# Rows of the practitioners that logged in recently: a practice has tens, a vendor's
# installation thousands; emptied when full rather than tracked entry by entry.
MAX_ROWS = 10_000
# How long the listener waits before checking that its connection is still alive.
PING_SECONDS = 5.0
# A row is read again after this long whatever the listener heard: should notifications
# ever fail to arrive unnoticed, a change still takes effect within seconds. A device's
# sync sends its requests within far less, so they still share one read.
MAX_AGE_SECONDS = 5.0

_FUNCTION = "praxis_practitioners_changed"
_TRIGGERS = {"practitioner": "praxis_practitioner_changed", "practice": "praxis_practice_changed"}


def install_triggers(db: pw.PostgresqlDatabase) -> None:
    """Create the notifying triggers unless present (part of ensure_schema; idempotent)."""
    present = {
        name
        for (name,) in db.execute_sql(
            "SELECT tgname FROM pg_trigger WHERE tgname IN %s", (tuple(_TRIGGERS.values()),)
        )
    }
    if present == set(_TRIGGERS.values()):
        return
    db.execute_sql(
        f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    for table, trigger in _TRIGGERS.items():
        if trigger not in present:
            db.execute_sql(
                f'CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{table}" '
                f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
            )


class PractitionerCache:
    """Practitioner rows (their practice joined) by lookup key, valid while the listener listens."""

    def __init__(self, db: pw.PostgresqlDatabase):
        self.db = db
        self._rows: dict[tuple[str, str], tuple[float, dict, dict]] = {}  # (read at, rows)
        self._generation = 0  # moves on every invalidation: a load that saw an older one is not kept
        self._live = False
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="practitioner-cache", daemon=True)
        self.listener_pid: int | None = None  # the listener's PostgreSQL backend (tests end it)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.forget_all(live=False)

    @property
    def live(self) -> bool:
        return self._live

    def lookup(self, kind: str, key: str, load: Callable[[str], Practitioner | None]) -> Practitioner | None:
        """The practitioner `load(key)` would return: a fresh copy of a cached row when valid."""
        if database_proxy.obj is not self.db:
            return load(key)
        now = time.monotonic()
        with self._lock:
            live, generation = self._live, self._generation
            cached = self._rows.get((kind, key)) if live else None
        if cached is not None and now - cached[0] < MAX_AGE_SECONDS:
            return _rebuild(cached[1], cached[2])
        found = load(key)
        if found is not None and live:
            with self._lock:
                if self._live and self._generation == generation:
                    if len(self._rows) >= MAX_ROWS:
                        self._rows.clear()
                    self._rows[(kind, key)] = (now, dict(found.__data__), dict(found.practice.__data__))
        return found

    def forget_all(self, live: bool | None = None) -> None:
        """Empty the cache; `live` also says whether the listener now listens."""
        with self._lock:
            if live is not None:
                self._live = live
            self._rows.clear()
            self._generation += 1

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            conn = None
            try:
                conn = psycopg2.connect(dbname=self.db.database, **self.db.connect_params)
                conn.autocommit = True
                conn.cursor().execute(f"LISTEN {CHANNEL}")
                self.listener_pid = conn.get_backend_pid()
                self.forget_all(live=True)
                backoff = 0.5
                while not self._stopping.is_set():
                    if not select.select([conn], [], [], PING_SECONDS)[0]:
                        conn.cursor().execute("SELECT 1")  # a dead connection fails here
                    conn.poll()
                    if conn.notifies:
                        conn.notifies.clear()
                        self.forget_all()
            except (psycopg2.Error, OSError) as exc:
                if not self._stopping.is_set():
                    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    log.warning("practitioner cache paused (listener: %s); retrying", reason)
            finally:
                self.forget_all(live=False)
                if conn is not None:
                    conn.close()
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)  # back within seconds of the database


def _rebuild(data: dict, practice_data: dict) -> Practitioner:
    """A new instance per request: request code may change its copy, never the cached row."""
    practice = Practice(__no_default__=1)
    practice.__data__ = dict(practice_data)
    practitioner = Practitioner(__no_default__=1)
    practitioner.__data__ = dict(data)
    practitioner.__rel__["practice"] = practice
    return practitioner


_active: PractitionerCache | None = None


def enable(db: pw.Database | None) -> PractitionerCache | None:
    """Start the cache for a server on PostgreSQL (replacing one of an earlier database)."""
    global _active
    if _active is not None:
        _active.stop()
        _active = None
    if db is not None and dialect_of(db).notifies:
        _active = PractitionerCache(db)
        _active.start()
    return _active


def disable() -> None:
    """Stop the cache (its database is about to go away)."""
    enable(None)


def lookup(kind: str, key: str, load: Callable[[str], Practitioner | None]) -> Practitioner | None:
    cache = _active
    return load(key) if cache is None else cache.lookup(kind, key, load)


def forget_all() -> None:
    """Called by this process's writers of practitioners and practices, after their write."""
    cache = _active
    if cache is not None:
        cache.forget_all()
