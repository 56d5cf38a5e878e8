"""Command-line parts of logins: device passwords (`device add|list|revoke`), the access
audit (`audit NAME`) and the user lifecycle actions (`user disable|enable|delete`).
Registered by davserver.cli."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from providers.practice import access_audit, accounts, device_passwords
from providers.practice.records import Practitioner

COMMANDS = ("device", "audit")
USER_ACTIONS = ("disable", "enable", "delete")


def add_commands(
    command: Callable[[str, str], argparse.ArgumentParser],
    user_sub: argparse._SubParsersAction,
    common: Callable[[argparse.ArgumentParser, bool], None],
) -> None:
    """The `device` command and the lifecycle actions of `user`."""
    device = command("device", "device passwords: one CalDAV password per device, revocable alone")
    device_sub = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    add = device_sub.add_parser("add", help="make a device password (shown once)")
    common(add, True)
    add.add_argument("name")
    add.add_argument("--label", required=True, help='the device, e.g. "iPhone Anna"')
    lst = device_sub.add_parser("list", help="list a practitioner's devices")
    common(lst, True)
    lst.add_argument("name")
    lst.add_argument("--all", action="store_true", help="revoked devices too")
    revoke = device_sub.add_parser("revoke", help="revoke a device (its next request gets 401)")
    common(revoke, True)
    revoke.add_argument("name")
    revoke.add_argument("id", type=int)

    audit = command("audit", "a practitioner's access audit: requests per device and hour, by kind")
    audit.add_argument("name")
    audit.add_argument("--limit", type=int, default=48, help="newest rows (default 48)")

    for action, text in (
        ("disable", "stop a practitioner's logins (practice and device passwords); data stays"),
        ("enable", "allow a disabled practitioner's logins again"),
    ):
        p = user_sub.add_parser(action, help=text)
        common(p, True)
        p.add_argument("name")
    delete = user_sub.add_parser("delete", help="delete a login (refused while it owns appointments)")
    common(delete, True)
    delete.add_argument("name")
    delete.add_argument(
        "--keep-appointments",
        action="store_true",
        help="keep its appointments in an archive (the login and its devices go)",
    )


def run(args, practitioner: Practitioner) -> int:
    """`device ...` or `audit`."""
    if args.command == "audit":
        return run_audit(args, practitioner)
    return run_device(args, practitioner)


def run_audit(args, practitioner: Practitioner) -> int:
    labels = {d.id: d.label for d in device_passwords.devices_of(practitioner.id, include_revoked=True)}
    print("hour (UTC)\tdevice\tclient\taddress\tsync\tread\twrite\trefused\tobjects written")
    for row in access_audit.rows_of(practitioner, limit=max(1, args.limit)):
        device = labels.get(row.device_key, f"device {row.device_key}")
        if not row.device_key:
            device = "practice login"
        print(
            f"{row.hour:%Y-%m-%d %H:00}\t{device}\t{row.family}\t{row.address or '-'}\t"
            f"{row.sync}\t{row.read}\t{row.write}\t{row.refused}\t{row.objects_written}"
        )
    return 0


def run_device(args, practitioner: Practitioner) -> int:
    if args.device_command == "add":
        row, password = device_passwords.create(practitioner, args.label)
        print(f"device {row.id} {row.label!r} of {practitioner.username!r}")
        print(f"password (shown once): {password}")
        return 0
    if args.device_command == "list":
        for row in device_passwords.devices_of(practitioner.id, include_revoked=args.all):
            state = f"revoked {_time(row.revoked_at)}" if row.revoked_at else "active"
            print(
                f"{row.id}\t{row.label}\t{row.family or '-'}\tcreated {_time(row.created_at)}\t"
                f"first use {_time(row.first_used)}\tlast use {_time(row.last_used)}\t"
                f"{row.last_address or '-'}\t{state}"
            )
        return 0
    row = device_passwords.revoke(practitioner.id, args.id)
    print(f"device {row.id} {row.label!r} of {practitioner.username!r} revoked")
    return 0


def run_user_action(args, practitioner: Practitioner) -> int:
    if args.user_command in ("disable", "enable"):
        accounts.set_disabled(practitioner, args.user_command == "disable")
        print(f"{practitioner.username!r} {args.user_command}d")
        return 0
    result = accounts.delete(practitioner, keep_appointments=args.keep_appointments)
    if result == "archived":
        print(f"{practitioner.username!r} deleted; its appointments are kept in an archive")
    else:
        print(f"{practitioner.username!r} deleted")
    return 0


def _time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"
