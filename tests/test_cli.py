"""The praxis-caldav command line, run as a real subprocess as an admin would run it.

Commands that touch the database run on SQLite and PostgreSQL (`db_url`); every failure
must be one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import requests

from tests import cli_forks
from tests.conftest import DEMO_PASSWORD, DEMO_USER, free_port, make_database_url

_SCRIPT = Path(sys.executable).with_name("praxis-caldav")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "davserver.cli"]
REPO = Path(__file__).resolve().parents[1]


def cli(
    *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """The command in a fresh process: forked from a server with the package imported (see
    tests/cli_forks.py) unless it serves; `serve` tests and a few others below spawn it whole."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    forked = cli_forks.run(COMMAND, args, stdin=stdin, cwd=cwd or REPO, env=env, timeout=timeout)
    if forked is not None:
        return forked
    return subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=env,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("praxis-caldav: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture(scope="module")
def cli_db(db_url) -> str:
    """A database with one login made through the CLI (options before the subcommand)."""
    result = cli(
        "--database",
        db_url,
        "user",
        "add",
        DEMO_USER,
        "--email",
        "anna@example.org",
        "--password-stdin",
        stdin="Kiefer-Lampe-47\n",
    )
    assert result.returncode == 0, result.stderr
    assert "anna_maier" in result.stdout
    return db_url


def check_login(db_url: str, user: str, password: str) -> bool:
    from providers.practice import api
    from providers.practice.passwords import verify_password
    from providers.sql.db import open_database

    open_database(db_url)
    practitioner = api.find_practitioner(user)
    return practitioner is not None and verify_password(password, practitioner.password_hash)


# ---------------------------------------------------------------- user


def test_user_add_and_list(cli_db):
    # Options after the subcommand work as well as before it.
    result = cli(
        "user", "add", "--database", cli_db, "jürgen öztürk", "--password-stdin", stdin="pässwört-Zügel-58\n"
    )
    assert result.returncode == 0, result.stderr
    assert "jürgen_öztürk" in result.stdout
    listed = cli("user", "list", "--database", cli_db)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in listed.stdout.splitlines()}
    assert rows[DEMO_USER][2] == "anna@example.org"
    assert rows["jürgen öztürk"][2] == "-"
    assert check_login(cli_db, "jürgen öztürk", "pässwört-Zügel-58")
    assert check_login(cli_db, DEMO_USER, "Kiefer-Lampe-47")


def test_user_passwd(cli_db):
    result = cli(
        "--database", cli_db, "user", "passwd", "Anna Maier", "--password-stdin", stdin="Wolke-Tasse-93\n"
    )
    assert result.returncode == 0, result.stderr
    assert check_login(cli_db, DEMO_USER, "Wolke-Tasse-93")
    assert not check_login(cli_db, DEMO_USER, "Kiefer-Lampe-47")
    back = cli(
        "user", "passwd", DEMO_USER, "--database", cli_db, "--password-stdin", stdin="Kiefer-Lampe-47\n"
    )
    assert back.returncode == 0


def test_user_passwd_of_unknown_user(cli_db):
    result = cli("--database", cli_db, "user", "passwd", "niemand", "--password-stdin", stdin="x\n")
    assert_one_line_error(result, "niemand")


@pytest.mark.parametrize("name", ["anna_maier", "ANNA MAIER"])
def test_user_add_refuses_names_that_collide(cli_db, name):
    result = cli("--database", cli_db, "user", "add", name, "--password-stdin", stdin="Kiefer-Lampe-47\n")
    assert_one_line_error(result, name)


def test_user_add_without_a_terminal_asks_for_password_stdin(cli_db):
    result = cli("--database", cli_db, "user", "add", "ohne terminal")
    assert_one_line_error(result, "--password-stdin")


def run_with_terminal(args: list[str], answers: list[str], timeout: float = 20) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal (its controlling tty) and type `answers` at the prompts."""
    master, slave = os.openpty()

    def make_controlling_tty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*COMMAND, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        preexec_fn=make_controlling_tty,
    )
    os.close(slave)
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 1024)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                # Answer each prompt once, only after it appeared (getpass flushes earlier input).
                if pending and output.count(b"assword: ") > len(answers) - len(pending):
                    os.write(master, pending.pop(0).encode() + b"\n")
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=5), output.decode("utf-8", "replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_passwords_from_the_prompt(cli_db):
    code, out = run_with_terminal(
        ["--database", cli_db, "user", "add", "prompt test"], ["Tasten-Hafen-81", "Tasten-Hafen-81"]
    )
    assert code == 0, out
    assert "Password:" in out and "Repeat password:" in out
    assert "Tasten-Hafen-81" not in out  # not echoed
    assert check_login(cli_db, "prompt test", "Tasten-Hafen-81")
    code, out = run_with_terminal(
        ["--database", cli_db, "user", "passwd", "prompt test"], ["neu-1", "anders-2"]
    )
    assert code == 1 and "passwords do not match" in out and "Traceback" not in out
    assert check_login(cli_db, "prompt test", "Tasten-Hafen-81")


def test_user_add_with_empty_password_or_bad_email(cli_db):
    assert_one_line_error(
        cli("--database", cli_db, "user", "add", "leer", "--password-stdin", stdin="\n"), "password"
    )
    assert_one_line_error(
        cli(
            "--database",
            cli_db,
            "user",
            "add",
            "leer",
            "--email",
            "kein at",
            "--password-stdin",
            stdin="Kiefer-Lampe-47\n",
        ),
        "e-mail",
    )


# ---------------------------------------------------------------- import and demo


def _practice_json() -> dict:
    return {
        "practice": {"id": "cli-practice", "name": "CLI-Praxis"},
        "practitioners": [{"id": "cli-p1", "username": "clara cli", "password": "pw-clara"}],
        "patients": [{"id": "cli-pat", "patient_number": "9", "first_name": "Eva", "last_name": "Import"}],
        "appointments": [
            {
                "id": "cli-a1",
                "practitioner": "cli-p1",
                "patient": "cli-pat",
                "subject": "Termin",
                "start": "2030-01-07T09:00:00",
                "end": "2030-01-07T09:30:00",
            },
            {
                "id": "cli-a2",
                "practitioner": "cli-p1",
                "subject": "Serie",
                "start": "2030-01-08T10:00:00",
                "end": "2030-01-08T10:30:00",
                "rrule": "FREQ=WEEKLY;COUNT=5",
                "exdates": ["2030-01-15T10:00:00"],
                "overrides": [
                    {
                        "recurrence_id": "2030-01-22T10:00:00",
                        "start": "2030-01-23T11:00:00",
                        "end": "2030-01-23T11:30:00",
                    }
                ],
            },
        ],
    }


def test_import_is_idempotent(db_url, tmp_path):
    path = tmp_path / "praxis.json"
    path.write_text(json.dumps(_practice_json()), encoding="utf-8")
    first = cli("--database", db_url, "import", str(path))
    assert first.returncode == 0, first.stderr
    assert "4 created, 0 updated" in first.stdout  # one practitioner, one patient, two appointments
    assert "appointments: 2 created, 0 updated, 0 unchanged, 0 cancelled" in first.stdout
    assert "appointments: 2/2" in first.stdout  # progress on a pipe: a line per stage
    second = cli("import", str(path), "--database", db_url)
    assert second.returncode == 0, second.stderr
    assert "0 created, 0 updated" in second.stdout


def test_import_errors_are_one_line(db_url, tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"practice": {"id": "x",\n "name": }', encoding="utf-8")
    assert_one_line_error(cli("--database", db_url, "import", str(bad_json)), "JSON", "line 2")
    data = _practice_json()
    data["practice"]["id"] = "cli-broken"
    data["practitioners"][0].update(id="cli-b1", username="broken import")
    data["appointments"] = [
        dict(data["appointments"][0], id="cli-b-a1", practitioner="cli-b1"),
        dict(data["appointments"][0], id="cli-b-a2", practitioner="cli-b1", start="next tuesday"),
    ]
    bad_record = tmp_path / "bad-record.json"
    bad_record.write_text(json.dumps(data), encoding="utf-8")
    assert_one_line_error(cli("--database", db_url, "import", str(bad_record)), "appointments[1].start")
    # All or nothing: the valid records of the failed file were not imported either.
    listed = cli("--database", db_url, "user", "list")
    assert "broken import" not in listed.stdout
    assert_one_line_error(cli("--database", db_url, "import", str(tmp_path / "missing.json")), "missing.json")


@pytest.fixture(scope="module")
def demo_db(db_url, tmp_path_factory, postgres_available):
    """A second fresh database of the same backend for the demo practice.

    (`cli_db` made an "anna maier" in another practice there; the demo refuses to adopt her.)
    """
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    yield from make_database_url(backend, tmp_path_factory, postgres_available)


def test_demo_without_serving(demo_db):
    result = cli("--database", demo_db, "demo", "--no-serve")
    assert result.returncode == 0, result.stderr
    assert DEMO_USER in result.stdout and DEMO_PASSWORD in result.stdout
    again = cli("demo", "--no-serve", "--database", demo_db)
    assert again.returncode == 0 and "0 created, 0 updated" in again.stdout


def test_demo_refuses_to_adopt_a_login_of_another_practice(cli_db):
    assert_one_line_error(cli("--database", cli_db, "demo", "--no-serve"), "another practice")


# ---------------------------------------------------------------- serve


def test_serve_answers_and_stops_cleanly_on_sigterm(demo_db, tmp_path):
    assert cli("--database", demo_db, "demo", "--no-serve").returncode == 0
    config = tmp_path / "wsgidav.yaml"
    config.write_text("timezone: Europe/Vienna\nthreads: 4\nport: 9\n", encoding="utf-8")
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            *COMMAND,
            "--config",
            str(config),
            "serve",
            "--database",
            demo_db,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/anna_maier/"
        deadline = time.monotonic() + 20
        resp = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited early: {proc.communicate()[1]}")
            try:
                resp = requests.request(
                    "PROPFIND", url, headers={"Depth": "0"}, timeout=2, auth=(DEMO_USER, DEMO_PASSWORD)
                )
                break
            except requests.ConnectionError:
                time.sleep(0.02)
        assert resp is not None and resp.status_code == 207
        assert "<D:href>/anna_maier/</D:href>" in resp.text
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)
        assert time.monotonic() - started < 5
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert f"127.0.0.1:{port}" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_on_a_port_in_use_is_one_line(db_url):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", "--database", db_url, "--host", "127.0.0.1", "--port", str(port), timeout=20)
    assert_one_line_error(result, str(port))


# ---------------------------------------------------------------- bad input without a database


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/praxis",
        "sqlite://",
        "sqlite:///{tmp}/no/such/dir/praxis.db",
        "sqlite:///{tmp}/not-a-database.db",
        "postgresql://postgres@127.0.0.1:1/praxis",
        "postgresql://postgres@127.0.0.1:notaport/praxis",
        "postgresql://127.0.0.1:5432/",
    ],
    ids=["mysql", "no-file", "no-dir", "not-a-db", "refused", "bad-port", "no-name"],
)
def test_bad_database_urls_are_one_line(tmp_path, url):
    (tmp_path / "not-a-database.db").write_text("this is not SQLite\n" * 100)
    result = cli("--database", url.format(tmp=tmp_path), "user", "list", cwd=tmp_path)
    assert_one_line_error(result, "database")


def test_database_password_is_never_printed(tmp_path):
    result = cli(
        "--database", "postgresql://postgres:s3cret-pw@127.0.0.1:1/praxis", "user", "list", cwd=tmp_path
    )
    assert_one_line_error(result, "***")
    assert "s3cret-pw" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "text,key",
    [
        ("listen_port: 8080\n", "listen_port"),
        ("port: eighty\n", "port"),
        ("port: 70000\n", "port"),
        ("timezone: Mars/Olympus\n", "timezone"),
        ("auth:\n  max_failures: -1\n", "auth.max_failures"),
        ("sync:\n  direction: sideways\n", "sync.direction"),
        ("port: [1\n", "line"),
    ],
    ids=["unknown-key", "port-text", "port-range", "timezone", "negative", "choice", "yaml"],
)
def test_bad_configuration_is_one_line_naming_the_key(tmp_path, text, key):
    config = tmp_path / "wsgidav.yaml"
    config.write_text(text, encoding="utf-8")
    db = f"sqlite:///{tmp_path}/p.db"
    assert_one_line_error(cli("--config", str(config), "user", "list", "--database", db, cwd=tmp_path), key)


def test_config_option_after_the_subcommand(tmp_path):
    config = tmp_path / "wsgidav.yaml"
    config.write_text("listen_port: 8080\n", encoding="utf-8")
    result = cli(
        "user", "list", "--config", str(config), "--database", f"sqlite:///{tmp_path}/p.db", cwd=tmp_path
    )
    assert_one_line_error(result, "listen_port")


def test_missing_configuration_file_is_one_line(tmp_path):
    result = cli("--config", str(tmp_path / "nope.yaml"), "user", "list", cwd=tmp_path)
    assert_one_line_error(result, "nope.yaml")


def test_configuration_supplies_the_database(tmp_path):
    config = tmp_path / "wsgidav.yaml"
    config.write_text(f"database: sqlite:///{tmp_path}/from-config.db\n", encoding="utf-8")
    result = cli(
        "--config",
        str(config),
        "user",
        "add",
        "konfig",
        "--password-stdin",
        stdin="Kiefer-Lampe-47\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-config.db").exists()
