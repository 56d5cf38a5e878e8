"""praxis-caldav command line: serve, import, demo, user, settings.

Every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from davserver.cli import changes as changes_command
from davserver.cli import imports as import_command
from davserver.cli import logins as cli_logins
from davserver.config import ConfigError, ServerConfig, find_config, load_config
from providers.database import DatabaseURLError, open_database, shown_url, sqlite_path
from providers.practice import api
from providers.practice.device_passwords import DeviceError

EXIT_ERROR = 1


class CLIError(Exception):
    """A one-line error for the user."""


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", default=default, metavar="FILE", help="configuration file (wsgidav.yaml)")
    parser.add_argument(
        "--database", default=default, metavar="URL", help="sqlite:///FILE or postgresql://HOST:PORT/NAME"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="praxis-caldav", description="CalDAV sync for practice appointments"
    )
    _common(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"praxis-caldav {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p, suppress=True)
        return p

    serve = command("serve", "run the CalDAV server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--processes", type=int)
    serve.add_argument(
        "--create", action="store_true", help="create the SQLite database file when it does not exist"
    )

    command("migrate", "bring the database schema up to date (back up first)")
    backup = command("backup", "write a consistent copy of the database to FILE (while serving)")
    backup.add_argument("file")
    restore = command("restore", "replace the database's content by a backup (stop the server first)")
    restore.add_argument("file")
    copy = command("copy-database", "copy every row into a new, empty database (e.g. SQLite to PostgreSQL)")
    copy.add_argument("source", metavar="FROM")
    copy.add_argument("target", metavar="TO")

    import_command.add_arguments(command("import", "upsert practice data from a JSON file (idempotent)"))
    changes_command.add_arguments(command("changes", "what devices changed, as JSON lines (the change feed)"))
    changes_command.add_token_arguments(command("api-token", "a token for GET /api/v1/changes"))

    demo = command("demo", "load the demo practice and run the server")
    demo.add_argument("--no-serve", action="store_true", help="only load the demo data")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)

    user = command("user", "manage practitioner logins")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a practitioner login")
    _common(add, suppress=True)
    add.add_argument("name")
    add.add_argument("--email")
    add.add_argument("--display-name")
    add.add_argument("--practice", help="practice id, external id or name (needed when there are several)")
    add.add_argument("--password-stdin", action="store_true")
    passwd = user_sub.add_parser("passwd", help="set a practitioner's password")
    _common(passwd, suppress=True)
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    lst = user_sub.add_parser("list", help="list practitioner logins")
    _common(lst, suppress=True)
    cli_logins.add_commands(command, user_sub, _common)

    urls = command("urls", "print what each client needs to be set up")
    urls.add_argument("name")

    profile = command("profile", "write an Apple configuration profile (.mobileconfig) to stdout")
    profile.add_argument("name")
    profile.add_argument(
        "--password-stdin",
        action="store_true",
        help="embed the password read from stdin (default: the device asks)",
    )
    profile.add_argument(
        "--lang", choices=("de", "en"), default="de", help="language of the texts the device shows"
    )
    profile.add_argument("--device", metavar="LABEL", help="embed a new device password for this device")

    cert = command("cert", "create a self-signed certificate and key for trying out TLS")
    cert.add_argument("--host", default="localhost", help="host name the certificate is for")
    cert.add_argument("--out", default=".", help="directory for praxis-caldav.crt/.key")

    grant = command("grant", "let a colleague of the same practice see (or edit) OWNER's calendar")
    grant.add_argument("owner")
    grant.add_argument("--to", required=True, metavar="USER")
    level = grant.add_mutually_exclusive_group(required=True)
    level.add_argument("--read", action="store_true")
    level.add_argument("--read-write", action="store_true")

    revoke = command("revoke", "withdraw a colleague's access to OWNER's calendar")
    revoke.add_argument("owner")
    revoke.add_argument("--to", required=True, metavar="USER")

    settings = command("settings", "show or change a practitioner's sync settings")
    settings.add_argument("name")
    settings.add_argument("--pseudonymize", choices=["on", "off"])
    settings.add_argument("--phone", choices=["on", "off"])
    settings.add_argument("--direction", choices=["two-way", "server-to-device"])
    settings.add_argument(
        "--may-relax", choices=["on", "off"], help="may the practitioner loosen privacy on the settings page"
    )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("praxis-caldav")
    except PackageNotFoundError:
        return "(not installed)"


def _read_password(from_stdin: bool, policy_inputs: list[str | None] | None = None) -> str:
    """A password from stdin or the terminal; with `policy_inputs` (a login's own name and
    e-mail) it must pass the password policy."""
    if from_stdin and sys.stdin.isatty():
        password = getpass.getpass("Password: ")  # typed at a terminal: never echoed
    elif from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CLIError("no terminal for the password prompt: use --password-stdin")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CLIError("passwords do not match")
    if not password:
        raise CLIError("password is empty")
    if policy_inputs is not None:
        from providers.practice.passwords import password_problem

        problem = password_problem(password, [i for i in policy_inputs if i])
        if problem:
            raise CLIError(problem)
    return password


def _config(args) -> ServerConfig:
    path = find_config(args.config)
    config = load_config(path)
    config.source = path  # type: ignore[attr-defined] - printed by serve
    if getattr(args, "database", None):
        config.database = args.database
    for key in ("host", "port", "processes"):
        if getattr(args, key, None) is not None:
            setattr(config, key, getattr(args, key))
    if not 0 < config.port < 65536:
        raise CLIError(f"--port: must be 1-65535, got {config.port}")
    if config.processes < 1:
        raise CLIError(f"--processes: must be at least 1, got {config.processes}")
    return config


def _practitioner(name: str):
    practitioner = api.find_practitioner(name)
    if practitioner is None:
        raise CLIError(f"no user named {name!r}")
    return practitioner


def run(args) -> int:
    if args.command == "cert":
        return _cert(args)
    config = _config(args)
    if args.command == "migrate":
        return _migrate(config)
    if args.command == "copy-database":
        from providers.database import copy_database

        counts = copy_database(args.source, args.target)
        print(f"copied {sum(counts.values())} rows to {shown_url(args.target)}")
        return 0
    if args.command in ("backup", "restore"):
        from providers import database

        print(getattr(database, args.command)(config.database, args.file))
        return 0
    _open(args, config)
    if args.command == "serve":
        return _serve(config, args)
    if args.command == "import":
        return import_command.run(args)
    if args.command == "changes":
        return changes_command.run(args, config)
    if args.command == "api-token":
        return changes_command.run_token(args)
    if args.command == "demo":
        from providers.practice import demo

        summary = demo.load_demo()
        print(f"demo practice loaded ({summary})")
        print(f"login: user name {demo.DEMO_USER!r}, password {demo.DEMO_PASSWORD!r}")
        if args.no_serve:
            return 0
        return _serve(config, args)
    if args.command == "user":
        return _user(args, config)
    if args.command == "settings":
        return _settings(args)
    if args.command in cli_logins.COMMANDS:
        return cli_logins.run(args, _practitioner(args.name))
    if args.command == "grant":
        owner, grantee = _practitioner(args.owner), _practitioner(args.to)
        api.grant_access(owner, grantee, can_write=args.read_write)
        print(
            f"{grantee.username!r} may now {'read and change' if args.read_write else 'read'} "
            f"the calendar of {owner.username!r}"
        )
        return 0
    if args.command == "revoke":
        owner, grantee = _practitioner(args.owner), _practitioner(args.to)
        if not api.revoke_access(owner, grantee):
            raise CLIError(f"{grantee.username!r} had no access to {owner.username!r}'s calendar")
        print(f"{grantee.username!r} no longer has access to {owner.username!r}'s calendar")
        return 0
    if args.command == "urls":
        from davserver.setup_info import setup_info

        for label, value in setup_info(_practitioner(args.name), config.base_url()).lines():
            print(f"{label}: {value}")
        return 0
    if args.command == "profile":
        from davserver.setup_info import apple_profile, setup_info

        practitioner = _practitioner(args.name)
        password = _read_password(True) if args.password_stdin else None
        if args.device:
            from providers.practice import device_passwords

            password = device_passwords.create(practitioner, args.device)[1]
        info = setup_info(practitioner, config.base_url())
        sys.stdout.buffer.write(apple_profile(info, practitioner.practice.name, password, args.lang))
        return 0
    raise CLIError(f"unknown command {args.command!r}")


def _open(args, config: ServerConfig) -> None:
    """Open the database; only `serve` refuses to create a SQLite file (a typo, usually)."""
    path = sqlite_path(config.database)
    is_new = path is not None and not os.path.exists(path)
    creating = args.command != "serve" or args.create
    open_database(config.database, durability=config.durability, create=creating, migrate=config.auto_migrate)
    if is_new:
        print(f"praxis-caldav: created a new database {os.path.abspath(path)}", file=sys.stderr)


def _migrate(config: ServerConfig) -> int:
    from providers.database import migrate_database

    open_database(config.database, durability=config.durability, create=False, migrate=None)
    before, head = migrate_database()
    if before == head:
        print(f"database schema is current (version {head})")
    else:
        print(f"database schema migrated from version {before} to {head}")
    return 0


def _user(args, config: ServerConfig) -> int:
    from providers.practice import accounts

    if args.user_command in cli_logins.USER_ACTIONS:
        return cli_logins.run_user_action(args, _practitioner(args.name))
    if args.user_command == "list":
        from providers.practice import directory

        for p in directory.logins():
            state = "\tdisabled" if p.disabled else ""
            print(f"{p.username}\t{p.display_name}\t{p.email or '-'}\t{p.practice.name}{state}")
        return 0
    if args.user_command == "add":
        practice = accounts.choose_practice(args.practice)
        password = _read_password(args.password_stdin, [args.name, args.email, args.display_name])
        practice = practice or api.get_or_create_practice(config.practice_name)
        p = api.create_practitioner(
            practice, args.name, password, email=args.email, display_name=args.display_name
        )
        api.update_practitioner(
            p,
            pseudonymize=config.sync.pseudonymize,
            include_phone=config.sync.include_phone,
            direction=config.sync.direction,
        )
        print(f"created user {p.username!r} (URL segment {api.url_segment(p.username)})")
        return 0
    if args.user_command == "passwd":
        practitioner = _practitioner(args.name)
        inputs = [practitioner.username, practitioner.email, practitioner.display_name]
        api.set_password(practitioner, _read_password(args.password_stdin, inputs))
        print(f"password of {practitioner.username!r} changed")
        return 0
    raise CLIError(f"unknown user action {args.user_command!r}")


def _settings(args) -> int:
    practitioner = _practitioner(args.name)
    changes = {}
    if args.pseudonymize:
        changes["pseudonymize"] = args.pseudonymize == "on"
    if args.phone:
        changes["include_phone"] = args.phone == "on"
    if args.direction:
        changes["direction"] = args.direction
    if args.may_relax:
        changes["may_relax"] = args.may_relax == "on"
    if changes:
        api.update_practitioner(practitioner, **changes)
    print(
        f"{practitioner.username}: pseudonymize={'on' if practitioner.pseudonymize else 'off'} "
        f"phone={'on' if practitioner.include_phone else 'off'} "
        f"direction={practitioner.direction} may-relax={'on' if practitioner.may_relax else 'off'}"
    )
    return 0


def _serve(config: ServerConfig, args) -> int:
    from davserver.cli import serve as serve_command

    return serve_command.serve(config, reload_config=lambda: _config(args), version=_version())


def _limit_malloc_arenas() -> None:
    """Start over (same PID, same arguments) with MALLOC_ARENA_MAX=2 unless it is set.

    glibc gives threads their own heaps, up to 8 per core; memory one request freed in its
    thread's heap is not reused by the next request on another of the 16 threads. glibc
    reads the variable once at process start, hence the exec. A value the admin sets (e.g.
    systemd `Environment=MALLOC_ARENA_MAX=4`) is kept, and so is MALLOC_ARENA_MAX=0 (the
    glibc default). It lowers peak RSS by a quarter (docs/benchmarks/code-decisions.md).
    """
    argv = getattr(sys, "orig_argv", None)
    if "MALLOC_ARENA_MAX" in os.environ or not argv or not sys.platform.startswith("linux"):
        return
    os.environ["MALLOC_ARENA_MAX"] = "2"
    try:
        os.execv(sys.executable, argv)
    except OSError:
        pass  # serve as we are


def _cert(args) -> int:
    """Self-signed certificate via the openssl command (trying out TLS only; not for devices)."""
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("openssl") is None:
        raise CLIError("the openssl command is needed to create a certificate")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cert --out: cannot create {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise CLIError(f"cert --out: cannot write to {out}: permission denied; choose another folder")
    crt, key = out / "praxis-caldav.crt", out / "praxis-caldav.key"
    result = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "365",
            "-subj",
            f"/CN={args.host}",
            "-addext",
            f"subjectAltName=DNS:{args.host},IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise CLIError(f"openssl failed: {last}")
    key.chmod(0o600)
    print(
        f"certificate: {crt}\nprivate key: {key}\n"
        f"add them to wsgidav.yaml under tls: certificate / private_key"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None and (args.command == "serve" or (args.command == "demo" and not args.no_serve)):
        _limit_malloc_arenas()  # before any work: the exec starts the command over
    try:
        return run(args)
    except (CLIError, ConfigError, DatabaseURLError, api.DataError, DeviceError) as exc:
        print(f"praxis-caldav: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
