"""Servers under test: ours (praxis-caldav serve), Radicale, Xandikos and a bare cheroot app.

Each runs as a subprocess on a free loopback port over a fresh temporary storage, with its
output in a log file, and is stopped (SIGTERM, then SIGKILL) afterwards. Radicale and Xandikos
come from PyPI into a separate virtual environment, never into the project's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench_http import Client

HOST = "127.0.0.1"
USER, PASSWORD = "bench", "bench-password"
PEER_PACKAGES = {"radicale": "radicale", "xandikos": "xandikos"}
PROJECT_BIN = Path(sys.executable).parent
HELLO_APP = """
import sys
from cheroot import wsgi
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]
server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, numthreads=int(sys.argv[2]))
try:
    server.safe_start()
finally:
    server.stop()
"""

# The floor of the framework: wsgidav itself (no authentication, no database, nothing of ours)
# answering OPTIONS for a folder with one file, served by the same cheroot.
WSGIDAV_APP = """
import sys
from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp
app = WsgiDAVApp({
    "provider_mapping": {"/": sys.argv[3]},
    "simple_dc": {"user_mapping": {"*": True}},
    "lock_storage": None, "property_manager": None, "verbose": 0,
    "logging": {"enable": False}, "dir_browser": {"enable": False},
})
server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, numthreads=int(sys.argv[2]))
try:
    server.safe_start()
finally:
    server.stop()
"""


class ServerError(Exception):
    """A server could not be installed or started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Running:
    name: str
    proc: subprocess.Popen
    port: int
    calendar: str
    auth: tuple[str, str] | None
    log: Path

    def peak_rss_kib(self) -> int | None:
        """VmHWM of the server process (the parent of --processes N workers)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def _children(self) -> list[str]:
        try:
            return Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []

    def workers_rss_kib(self) -> list[int]:
        out = []
        for pid in self._children():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        out.append(int(line.split()[1]))
            except OSError:
                pass
        return out

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far of the server and its worker processes (/proc)."""
        total = 0
        for pid in [str(self.proc.pid), *self._children()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                if pid == str(self.proc.pid):
                    return None
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime (man 5 proc)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(
    name: str,
    cmd: list[str],
    workdir: Path,
    port: int,
    calendar: str,
    auth,
    ready_path: str = "/",
    stdin_text: str | None = None,
) -> Running:
    log = workdir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Running(name, proc, port, calendar, auth, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{name} exited with {proc.returncode}: {server.log_tail()}")
        try:
            Client(HOST, port, auth, timeout=5).request("OPTIONS", ready_path)
            return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise ServerError(f"{name} did not answer on port {port} within 60 s: {server.log_tail()}")


# Ours --------------------------------------------------------------------------------------
def _ours_cmd() -> list[str]:
    script = PROJECT_BIN / "praxis-caldav"
    return [str(script)] if script.exists() else [sys.executable, "-m", "davserver.cli"]


def create_user(db_url: str, workdir: Path) -> None:
    result = subprocess.run(
        _ours_cmd() + ["--database", db_url, "user", "add", USER, "--password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=120,
    )
    if result.returncode != 0:
        raise ServerError(f"praxis-caldav user add failed: {result.stderr.strip()[-300:]}")


def start_ours(db_url: str, workdir: Path, processes: int = 1, config: str | None = None) -> Running:
    port = free_port()
    cmd = _ours_cmd() + ["--database", db_url]
    if config:
        cmd += ["--config", config]
    cmd += ["serve", "--host", HOST, "--port", str(port), "--processes", str(processes)]
    return _spawn(f"ours-p{processes}", cmd, workdir, port, f"/{USER}/calendar/", (USER, PASSWORD))


class Postgres:
    """A fresh database on the local PostgreSQL server (trust auth), dropped afterwards."""

    def __init__(self, host="127.0.0.1", port=5432, user="postgres"):
        self.host, self.port, self.user = host, port, user
        self.name = f"praxis_bench_{uuid.uuid4().hex[:10]}"

    def _admin(self):
        import psycopg2

        conn = psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=3
        )
        conn.autocommit = True
        return conn

    def create(self) -> str:
        conn = self._admin()
        try:
            conn.cursor().execute(f'CREATE DATABASE "{self.name}"')
        finally:
            conn.close()
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"

    def drop(self) -> None:
        conn = self._admin()
        try:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            conn.close()


# Peers -------------------------------------------------------------------------------------
def ensure_peer_venv(venv: Path, peers: list[str]) -> dict[str, str]:
    """Install the peers into `venv` (created when missing); {peer: error} for those that failed."""
    errors: dict[str, str] = {}
    python = venv / "bin" / "python"
    if not python.exists():
        result = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)], capture_output=True, text=True
        )
        if result.returncode != 0:
            return {p: f"cannot create {venv}: {result.stderr.strip()[-200:]}" for p in peers}
        (venv / ".gitignore").write_text("*\n")  # never committed
    for peer in peers:
        if (venv / "bin" / peer).exists():
            continue
        result = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", PEER_PACKAGES[peer]],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0 or not (venv / "bin" / peer).exists():
            errors[peer] = f"pip install {PEER_PACKAGES[peer]} failed: {result.stderr.strip()[-200:]}"
    return errors


def peer_version(venv: Path, peer: str) -> str:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import importlib.metadata as m; print(m.version({peer!r}))"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or "?"


def start_radicale(venv: Path, workdir: Path) -> Running:
    storage = workdir / "radicale"
    storage.mkdir()
    users = workdir / "radicale.htpasswd"
    users.write_text(f"{USER}:{PASSWORD}\n")
    port = free_port()
    cmd = [
        str(venv / "bin" / "radicale"),
        "--server-hosts",
        f"{HOST}:{port}",
        "--storage-filesystem-folder",
        str(storage),
        "--auth-type",
        "htpasswd",
        "--auth-htpasswd-filename",
        str(users),
        "--auth-htpasswd-encryption",
        "plain",
    ]
    server = _spawn("radicale", cmd, workdir, port, f"/{USER}/calendar/", (USER, PASSWORD))
    resp = Client(HOST, port, server.auth).request("MKCALENDAR", server.calendar)
    if resp.status != 201:
        server.stop()
        raise ServerError(f"radicale MKCALENDAR: HTTP {resp.status} {resp.body[:200]!r}")
    return server


def start_xandikos(venv: Path, workdir: Path) -> Running:
    # Xandikos offers Basic auth only over TLS (--htpasswd needs --autocert): run it without auth.
    storage = workdir / "xandikos"
    port = free_port()
    cmd = [
        str(venv / "bin" / "xandikos"),
        "serve",
        "--defaults",
        "-d",
        str(storage),
        "-l",
        HOST,
        "-p",
        str(port),
        "--state-dir",
        str(workdir / "xandikos-state"),
    ]
    return _spawn(
        "xandikos",
        cmd,
        workdir,
        port,
        "/user/calendars/calendar/",
        None,
        ready_path="/user/calendars/calendar/",
    )


def start_hello(workdir: Path, threads: int) -> Running:
    port = free_port()
    cmd = [sys.executable, "-c", HELLO_APP, str(port), str(threads)]
    return _spawn("ceiling", cmd, workdir, port, "/", None)


def start_wsgidav(workdir: Path, threads: int) -> Running:
    folder = workdir / "wsgidav-floor"
    folder.mkdir(exist_ok=True)
    (folder / "hello.txt").write_bytes(b"hello")
    port = free_port()
    cmd = [sys.executable, "-c", WSGIDAV_APP, str(port), str(threads), str(folder)]
    return _spawn("wsgidav", cmd, workdir, port, "/", None)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
