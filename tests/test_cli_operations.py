"""The admin's mistakes at install time, each a one-line error with the fix; --version;
the configuration search path; migrate. Run as real subprocesses like test_cli."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.test_cli import COMMAND, REPO, assert_one_line_error, cli

VALID_PASSWORD = "Lindenblüte-Kaffeetasse-7\n"  # passes the password policy (10+ characters, zxcvbn 3)


def test_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("praxis-caldav 0.")


@pytest.mark.parametrize("count", ["0", "-1"])
def test_processes_must_be_positive(tmp_path, count):
    db = f"sqlite:///{tmp_path}/p.db"
    assert cli("--database", db, "user", "list", cwd=tmp_path).returncode == 0
    result = cli("serve", "--database", db, "--processes", count, "--port", "1", cwd=tmp_path)
    assert_one_line_error(result, "--processes", "at least 1")


def test_a_sqlite_url_with_one_slash_is_refused(tmp_path):
    result = cli("--database", "sqlite:/praxis.db", "user", "list", cwd=tmp_path)
    assert_one_line_error(result, "three slashes", "sqlite:///praxis.db")
    assert not os.path.exists("/praxis.db")


def test_serve_refuses_a_missing_sqlite_file_unless_create(tmp_path):
    db = f"sqlite:///{tmp_path}/typo.db"
    assert_one_line_error(
        cli("serve", "--database", db, "--port", "1", cwd=tmp_path), "does not exist", "--create"
    )
    assert not (tmp_path / "typo.db").exists()


def test_user_add_creates_the_database_and_says_so(tmp_path):
    db = f"sqlite:///{tmp_path}/new.db"
    result = cli(
        "--database", db, "user", "add", "anna", "--password-stdin", stdin=VALID_PASSWORD, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "created a new database" in result.stderr and (tmp_path / "new.db").exists()


def test_port_in_use_names_the_cause(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    cli("--database", db, "user", "list", cwd=tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", "--database", db, "--port", str(port), cwd=tmp_path, timeout=20)
    line = assert_one_line_error(result, str(port), "in use")
    assert "None" not in line


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.mark.parametrize("problem", ["key-is-certificate", "passphrase"])
def test_unusable_private_keys_are_one_line(tmp_path, problem):
    crt, key = tmp_path / "c.pem", tmp_path / "k.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x",
             "-keyout", str(key), "-out", str(crt))  # fmt: skip
    if problem == "key-is-certificate":
        key = crt
    else:
        _openssl("rsa", "-in", str(key), "-out", str(key), "-aes256", "-passout", "pass:secret")
    config = tmp_path / "wsgidav.yaml"
    config.write_text(f"tls:\n  certificate: {crt}\n  private_key: {key}\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path}/p.db"
    cli("--database", db, "user", "list", cwd=tmp_path)
    result = cli("--config", str(config), "serve", "--database", db, "--port", "1", cwd=tmp_path, timeout=20)
    assert_one_line_error(result, "tls", str(key))


def test_cert_into_a_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "certs"
    assert_one_line_error(cli("cert", "--out", str(out), cwd=tmp_path), "cert --out", str(out))


def test_configuration_search_path(tmp_path):
    """./wsgidav.yaml is read without --config; $PRAXIS_CALDAV_CONFIG wins over it."""
    (tmp_path / "wsgidav.yaml").write_text(f"database: sqlite:///{tmp_path}/local.db\n", encoding="utf-8")
    other = tmp_path / "other.yaml"
    other.write_text(f"database: sqlite:///{tmp_path}/env.db\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PRAXIS_CALDAV_CONFIG"}
    run = [*COMMAND, "user", "add", "x", "--password-stdin"]
    common = dict(cwd=tmp_path, input=VALID_PASSWORD, capture_output=True, text=True, timeout=30)
    local = subprocess.run(run, env=dict(env, PYTHONPATH=str(REPO)), **common)
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "local.db").exists()
    via_env = subprocess.run(
        run, env=dict(env, PYTHONPATH=str(REPO), PRAXIS_CALDAV_CONFIG=str(other)), **common
    )
    assert via_env.returncode == 0, via_env.stderr
    assert (tmp_path / "env.db").exists()


def test_migrate_on_a_current_database(tmp_path):
    db = f"sqlite:///{tmp_path}/p.db"
    cli("--database", db, "user", "list", cwd=tmp_path)
    result = cli("--database", db, "migrate", cwd=tmp_path)
    assert result.returncode == 0 and "current" in result.stdout


def test_serve_refuses_an_older_schema_naming_the_command(tmp_path):
    import sqlite3

    db = f"sqlite:///{tmp_path}/p.db"
    cli("--database", db, "user", "list", cwd=tmp_path)
    with sqlite3.connect(tmp_path / "p.db") as conn:
        conn.execute("UPDATE schema_version SET version = 0")  # older than any release
    assert_one_line_error(
        cli("serve", "--database", db, "--port", "1", cwd=tmp_path), "praxis-caldav migrate"
    )


def test_password_stdin_at_a_terminal_is_not_echoed(tmp_path):
    from tests.test_cli import run_with_terminal

    db = f"sqlite:///{tmp_path}/p.db"
    code, out = run_with_terminal(
        ["--database", db, "user", "add", "am terminal", "--password-stdin"], ["geheim-am-tty"]
    )
    assert code == 0, out
    assert "geheim-am-tty" not in out
