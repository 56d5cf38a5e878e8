"""`praxis-caldav serve --processes N` as a subprocess for tests that need several real
server processes on one database (SO_REUSEPORT spreads connections over them)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.conftest import free_port
from tests.test_cli import COMMAND, REPO


@contextlib.contextmanager
def serving_processes(db_url: str, workdir: Path, config_text: str, processes: int = 2) -> Iterator[str]:
    """Start the server with `config_text` as its wsgidav.yaml; yield its base URL once it
    answers (and a moment more, so every process listens); SIGTERM it afterwards."""
    config = workdir / "wsgidav.yaml"
    config.write_text(config_text, encoding="utf-8")
    port = free_port()
    command = [*COMMAND, "--config", str(config), "serve", "--database", db_url, "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--processes", str(processes)],
        cwd=workdir,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                requests.get(base + "/", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.02)
        time.sleep(1)  # the other processes (and their background threads) are up too
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
