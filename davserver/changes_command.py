"""`praxis-caldav changes`: the change feed as JSON lines, one entry a line, for a practice
software's nightly (or minutely) loop: read from the last cursor it stored, upsert, store the
last entry's cursor. An expired cursor is a one-line error naming it (exit 1)."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from providers import change_feed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=int, default=0, metavar="CURSOR", help="last cursor read (0: from the start)"
    )
    parser.add_argument("--practice", metavar="ID", help="only this practice (its external id)")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many entries (default 1000)")
    parser.add_argument(
        "--retention-days",
        type=int,
        default=change_feed.DEFAULT_RETENTION.days,
        help="a cursor older than this is refused (default 30)",
    )


def run(args: argparse.Namespace) -> int:
    found = change_feed.entries(
        args.since, args.practice, max(1, args.limit), dt.timedelta(days=args.retention_days)
    )
    for entry in found:
        print(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    return 0
