"""`praxis-caldav changes` (the change feed as JSON lines, one entry a line, for a practice
software's loop: read from the last cursor it stored, upsert, store the last entry's cursor;
an expired cursor is a one-line error) and `praxis-caldav api-token add --practice ID` (a
token for the same feed over HTTP, davserver.feed_api)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from davserver.config import ServerConfig
from providers.practice import api, change_feed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=int, default=0, metavar="CURSOR", help="last cursor read (0: from the start)"
    )
    parser.add_argument("--practice", metavar="ID", help="only this practice (its external id)")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many entries (default 1000)")
    parser.add_argument(
        "--retention-days",
        type=int,
        help="a cursor older than this is refused (default: integration.retention_days, 30)",
    )


def run(args: argparse.Namespace, config: ServerConfig) -> int:
    practice_id = _practice(args.practice).id if args.practice is not None else None
    days = args.retention_days
    found = change_feed.entries(
        args.since,
        practice_id,
        max(1, args.limit),
        dt.timedelta(days=config.integration.retention_days if days is None else days),
    )
    for entry in found:
        print(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    return 0


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["add"])
    parser.add_argument("--practice", required=True, metavar="ID", help="the practice's external id")


def run_token(args: argparse.Namespace) -> int:
    token = api.create_api_token(_practice(args.practice))
    print(token)
    print(f"(shown once: the change feed of practice {args.practice!r} at /api/v1/changes)", file=sys.stderr)
    return 0


def _practice(external_id: str):
    practice = change_feed.practice_by_external_id(external_id)
    if practice is None:
        raise api.DataError(f"--practice: no practice has the id {external_id!r}")
    return practice
