"""Run `praxis-caldav` commands in a fresh process each time, without paying Python's start-up.

A subprocess per command cost ~0.4 s, mostly importing the package; the suite runs hundreds of
commands. A small server process imports `davserver.cli` once and forks a child per command:
the child is still a separate process (its own database connections, caches and exit code,
nothing shared with the test process), it only starts with the modules already imported.

The server starts before the test process has threads to fork into (it is a fresh
interpreter). It stands for one start-up environment (the child then takes the call's whole
environment, pytest's per-test variable included): a call with another one, and commands that
serve (their start-up re-executes the process), run as real subprocesses instead.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# The server's side, run with `python -c`: the same `sys.exit(main())` as the console script,
# in a child forked per request with stdin/stdout/stderr on the request's files.
_SERVER = r"""
import json, os, sys, traceback
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
import davserver.cli
from davserver.cli import main as _main
import davserver.cli.main  # noqa: F401 - the parser and command modules, imported once
requests, replies = os.fdopen(os.dup(0), "r"), os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_RDWR), 0)
os.dup2(0, 1)
while True:
    line = requests.readline()
    if not line:
        os._exit(0)
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            requests.close()
            replies.close()
            os.chdir(req["cwd"])
            for fd, path, mode in ((0, req["stdin"], os.O_RDONLY), (1, req["out"], os.O_WRONLY),
                                   (2, req["err"], os.O_WRONLY)):
                os.dup2(os.open(path, mode), fd)
            os.environ.clear()
            os.environ.update(req["env"])
            sys.argv = req["argv"]
            try:
                code = _main()
                code = 0 if code is None else code
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    replies.write(json.dumps({"pid": pid}) + "\n")
    replies.flush()
    _, status = os.waitpid(pid, 0)
    replies.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
    replies.flush()
"""


class _ForkServer:
    def __init__(self, script: str, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.script = script
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        self.lock = threading.Lock()
        self.pending = b""

    def _reply(self, timeout: float | None = None) -> dict | None:
        """One JSON line from the server; None if none came within `timeout` seconds."""
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.pending:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("the CLI fork server exited")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def run(
        self, args: list[str], stdin: str | None, cwd: Path, env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory(prefix="cli-") as folder:
            files = {name: os.path.join(folder, name) for name in ("in", "out", "err")}
            with open(files["in"], "wb") as f:
                f.write((stdin or "").encode())
            for name in ("out", "err"):
                open(files[name], "wb").close()
            request = {
                "argv": [self.script, *args],
                "cwd": str(cwd),
                "stdin": files["in"] if stdin is not None else os.devnull,
                "out": files["out"],
                "err": files["err"],
                "env": env,
            }
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            pid = self._reply()["pid"]
            done = self._reply(timeout)
            if done is None:
                os.kill(pid, 9)
                self._reply()
                raise subprocess.TimeoutExpired([self.script, *args], timeout)
            code = done["code"]
            out, err = (_text(Path(files[name]).read_bytes()) for name in ("out", "err"))
        return subprocess.CompletedProcess([self.script, *args], code, out, err)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _text(data: bytes) -> str:
    """Decoded like `subprocess.run(text=True)`: locale encoding, universal newlines."""
    import locale

    text = data.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


_server: _ForkServer | None = None


# Set by pytest for each test; the child gets it (the whole environment of the call), but
# nothing read at start-up depends on it.
_PER_TEST = {"PYTEST_CURRENT_TEST"}


def _startup(env: dict[str, str]) -> dict[str, str]:
    """The environment the server process must have been started with to stand for `env`."""
    return {k: v for k, v in env.items() if k not in _PER_TEST}


def _serves(args: tuple[str, ...]) -> bool:
    """`serve`, and `demo` unless --no-serve, re-execute the process on start: not forkable."""
    return "serve" in args or ("demo" in args and "--no-serve" not in args)


def run(
    command: list[str],
    args: tuple[str, ...],
    *,
    stdin: str | None,
    cwd: Path,
    env: dict[str, str],
    timeout: float,
) -> subprocess.CompletedProcess | None:
    """`subprocess.run(command + args)` through the fork server; None: run it yourself."""
    global _server
    if _serves(args) or len(command) != 1:
        return None
    if _server is None:
        _server = _ForkServer(command[0], env, cwd)
    if _startup(env) != _startup(_server.env) or not _server.lock.acquire(blocking=False):
        return None
    try:
        return _server.run(list(args), stdin, cwd, env, timeout)
    finally:
        _server.lock.release()


def close() -> None:
    """Stop the fork server (at the end of the session)."""
    global _server
    if _server is not None:
        _server.close()
        _server = None
