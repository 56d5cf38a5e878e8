"""The install kit: the systemd unit passes `systemd-analyze verify` and its command, run
the way the unit runs it, serves; the container image builds where a container engine
runs (otherwise every file its Dockerfile copies must exist)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port
from tests.test_cli import REPO

UNIT = REPO / "deploy" / "praxis-caldav.service"
INSTALLED = "/opt/praxis-caldav/.venv/bin/praxis-caldav"
OUR_COMMAND = str(Path(sys.executable).with_name("praxis-caldav"))


def _unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's command instead of /opt."""
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED in text
    unit = tmp_path / "praxis-caldav.service"
    unit.write_text(text.replace(INSTALLED, OUR_COMMAND), encoding="utf-8")
    return unit


def _directives(name: str) -> list[str]:
    return re.findall(rf"^{name}=(.*)$", UNIT.read_text(encoding="utf-8"), re.MULTILINE)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_unit_verifies_cleanly(tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "verify", str(_unit_here(tmp_path))], capture_output=True, text=True, timeout=60
    )
    ours = [line for line in (result.stdout + result.stderr).splitlines() if "praxis-caldav" in line]
    assert result.returncode == 0 and ours == [], result.stderr
    assert _directives("User") == ["praxis-caldav"]
    assert _directives("AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"]


def test_the_units_command_serves_as_the_unit_runs_it(tmp_path):
    """Environment= and ExecStart= of the unit, with a configuration in a scratch folder."""
    port = free_port()
    config = tmp_path / "wsgidav.yaml"
    config.write_text(f"port: {port}\ndatabase: sqlite:///{tmp_path}/praxis.db\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    for assignment in _directives("Environment"):
        key, value = assignment.split("=", 1)
        env[key] = value
    assert env["PRAXIS_CALDAV_CONFIG"] == "/etc/praxis-caldav/wsgidav.yaml"
    env["PRAXIS_CALDAV_CONFIG"] = str(config)
    (command,) = _directives("ExecStart")
    argv = command.replace(INSTALLED, OUR_COMMAND).split()
    created = subprocess.run(
        [OUR_COMMAND, "user", "list"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert created.returncode == 0 and "created a new database" in created.stderr
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.02)
        assert (ready.status_code, ready.text) == (200, "ready\n")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and str(config) in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _engine() -> str | None:
    for tool in ("docker", "podman"):
        if (
            shutil.which(tool)
            and subprocess.run([tool, "info"], capture_output=True, timeout=30).returncode == 0
        ):
            return tool
    return None


def test_the_container_image(tmp_path):
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE):
        for source in line.split()[:-1]:
            assert (REPO / source).exists(), source
    engine = _engine()
    if engine is None:
        pytest.skip("no container engine running here: the files the image copies exist")
    build = subprocess.run(
        [engine, "build", "-q", "-t", "praxis-caldav:test", str(REPO)], capture_output=True
    )
    assert build.returncode == 0, build.stderr[-2000:]
    version = subprocess.run(
        [engine, "run", "--rm", "praxis-caldav:test", "praxis-caldav", "--version"],
        capture_output=True,
        text=True,
    )
    assert version.stdout.startswith("praxis-caldav ")
