"""`serve --processes 2` as an admin runs it: a worker killed with SIGKILL is replaced and
serving within 2 s (and the log says so), SIGHUP replaces the workers with the new
configuration while the port keeps answering, SIGTERM stops everything cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import DEMO_PASSWORD, DEMO_USER, free_port
from tests.test_cli import COMMAND, REPO, cli


def _children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _propfind(port: int) -> int:
    return requests.request(
        "PROPFIND",
        f"http://127.0.0.1:{port}/anna_maier/",
        headers={"Depth": "0"},
        auth=(DEMO_USER, DEMO_PASSWORD),
        timeout=5,
    ).status_code


def _wait(condition, seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "not in time"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def supervised(tmp_path):
    db = f"sqlite:///{tmp_path / 'p.db'}"
    assert cli("--database", db, "demo", "--no-serve", cwd=tmp_path).returncode == 0
    config = tmp_path / "wsgidav.yaml"
    config.write_text("threads: 4\nlog_format: json\n", encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [
            *COMMAND,
            "--config",
            str(config),
            "serve",
            "--database",
            db,
            "--port",
            str(port),
            "--processes",
            "2",
        ],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    reader.start()

    def answering() -> bool:
        try:
            return _propfind(port) == 207
        except requests.ConnectionError:
            return False

    try:
        _wait(lambda: len(_children(proc.pid)) == 2 and answering(), 20)
        yield proc, port, err_lines, config
    finally:
        if proc.poll() is None:
            proc.kill()
            for child in _children(proc.pid):
                os.kill(child, signal.SIGKILL)
        proc.wait(10)


def test_a_killed_worker_is_replaced_within_2_seconds(supervised):
    proc, port, err_lines, _ = supervised
    victim = min(_children(proc.pid))
    os.kill(victim, signal.SIGKILL)
    took = _wait(lambda: len(_children(proc.pid) - {victim}) == 2, 2)
    assert took < 2
    for _ in range(20):  # both workers answer (the kernel spreads connections)
        assert _propfind(port) == 207
    _wait(lambda: any(str(victim) in line and "SIGKILL" in line for line in err_lines), 2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_sighup_replaces_the_workers_without_closing_the_port(supervised):
    proc, port, err_lines, config = supervised
    before = _children(proc.pid)
    failures: list[object] = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                if _propfind(port) != 207:
                    failures.append("status")
            except requests.RequestException as exc:
                failures.append(type(exc).__name__)

    poller = threading.Thread(target=poll)
    poller.start()
    config.write_text("threads: 3\nlog_format: text\n", encoding="utf-8")
    proc.send_signal(signal.SIGHUP)
    _wait(lambda: len(_children(proc.pid)) == 2 and not (_children(proc.pid) & before), 20)
    time.sleep(0.3)
    stop.set()
    poller.join(10)
    assert proc.poll() is None
    # Connections waiting in a stopped worker's accept queue may be reset; few at most.
    assert len(failures) <= 2, failures
    assert any("reloading" in line for line in err_lines)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert not _children(proc.pid)


def test_metrics_add_up_every_worker(supervised):
    """prometheus_client's multiprocess mode: any worker answers for all of them."""
    proc, port, _, _ = supervised
    for _ in range(30):
        assert _propfind(port) == 207
    time.sleep(0.5)  # a request is counted once its answer is sent, a moment after the client has it
    totals = set()
    for _ in range(6):
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        totals.add(
            sum(
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("praxis_caldav_requests_total{") and 'method="PROPFIND"' in line
            )
        )
    assert len(totals) == 1 and totals.pop() >= 30
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
