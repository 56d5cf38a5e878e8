"""The parent of `serve --processes N`: keeps N worker processes serving.

Each worker opens its own database connections and its own SO_REUSEPORT socket on the
same port; the kernel spreads connections among them. The parent serves nothing and holds
no database connection. A worker that dies (killed by the kernel's OOM killer, a crash) is
replaced after a short backoff that grows while workers keep dying at once. SIGTERM or
SIGINT: every worker finishes its requests in flight (cheroot's shutdown timeout), then
the parent exits. SIGHUP: the configuration (and so the TLS certificate) is read again and
the workers are replaced one by one, each new one listening before an old one stops: the
port never closes. (Connections still waiting in a stopped worker's accept queue are
reset; clients retry those. A reverse proxy in front retries them itself.)

Why not gunicorn (measured, docs/benchmarks/supervisor.md): with its gthread workers
slowloris connections held up every other request, for equal throughput and worker
replacement; systemd restarts only the whole service. What is needed here is a hundred
lines of fork and waitpid.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger("praxis_caldav.supervisor")

# A worker that ends within this many seconds of its start counts as failing to start.
_EARLY_EXIT_SECONDS = 2.0
# Consecutive early exits after which the parent gives up (a port in use, a broken config).
_MAX_EARLY_EXITS = 5
_FIRST_BACKOFF, _MAX_BACKOFF = 0.1, 10.0
# How long a stopping worker may take to finish its requests before it is killed.
DRAIN_SECONDS = 15.0


class Supervisor:
    """Forks `count` workers running `work()` and keeps them running until told to stop."""

    def __init__(self, count: int, work: Callable[[], int], reload: Callable[[], bool] | None = None):
        self.count = count
        self.work = work
        self.reload = reload  # re-reads the configuration; False: keep the old one
        self.workers: dict[int, float] = {}  # pid -> start time
        self._stopping = False
        self._reload_requested = False
        self._backoff = _FIRST_BACKOFF
        self._early_exits = 0

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; the exit status for the command line."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        for _ in range(self.count):
            self._spawn()
        status = 0
        while not self._stopping:
            if self._reload_requested:
                self._reload_requested = False
                self._replace_all()
            ended = self._reap()
            if ended and not self._stopping:
                if self._early_exits >= _MAX_EARLY_EXITS:
                    log.error("workers keep failing at start; stopping (see the messages above)")
                    status = 1
                    break
                time.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
                for _ in range(self.count - len(self.workers)):
                    self._spawn()
            elif not ended:
                time.sleep(0.05)
                if self.workers and all(time.monotonic() - t > 10 for t in self.workers.values()):
                    self._backoff = _FIRST_BACKOFF
        self._stop_all(list(self.workers))
        return status

    def _on_stop(self, signum, frame) -> None:
        self._stopping = True

    def _on_hup(self, signum, frame) -> None:
        self._reload_requested = True

    def _spawn(self) -> int:
        pid = os.fork()
        if pid == 0:  # the worker: default signals, serve, never return into the parent's code
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            code = 1
            try:
                code = self.work()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - logged; the parent starts another
                log.exception("worker failed")
            finally:
                logging.shutdown()
                os._exit(code)
        self.workers[pid] = time.monotonic()
        log.info("worker %d started", pid)
        return pid

    def _reap(self) -> int:
        """Collect ended workers without blocking; how many ended."""
        ended = 0
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return ended
            if pid == 0:
                return ended
            started = self.workers.pop(pid, None)
            if started is None:
                continue
            ended += 1
            early = time.monotonic() - started < _EARLY_EXIT_SECONDS
            self._early_exits = self._early_exits + 1 if early else 0
            if not self._stopping:
                log.error("worker %d %s; starting a new one in %.1f s", pid, _describe(status), self._backoff)

    def _replace_all(self) -> None:
        """SIGHUP: new configuration, then each worker replaced by one that reads it."""
        if self.reload is not None and not self.reload():
            return
        log.info("reloading: replacing %d worker(s) one by one", len(self.workers))
        for old in list(self.workers):
            new = self._spawn()
            time.sleep(0.5)  # the new worker binds its socket before the old one lets go
            if new not in self.workers:
                break
            self.workers.pop(old, None)
            self._stop_all([old])

    def _stop_all(self, pids: list[int]) -> None:
        """SIGTERM, then wait for the drain; SIGKILL what is still running after it."""
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + DRAIN_SECONDS
        remaining = set(pids)
        while remaining and time.monotonic() < deadline:
            for pid in list(remaining):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid
                if done:
                    remaining.discard(pid)
                    self.workers.pop(pid, None)
            time.sleep(0.02)
        for pid in remaining:
            log.error("worker %d did not stop within %.0f s; killed", pid, DRAIN_SECONDS)
            _signal(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)} ({signal.Signals(os.WTERMSIG(status)).name})"
    return f"exited with status {os.WEXITSTATUS(status)}"
