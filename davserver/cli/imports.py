"""`praxis-caldav import`: its options, its progress display and its closing report.

On a terminal a progress bar (tqdm) on stderr; on a pipe (cron, logs) one line per stage and
per tenth of a large stage on stdout, so a log shows how far an import got. The report
counts records per type and appointments per practitioner: external ids, no patient data.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from providers.practice.importer import SNAPSHOT_SCOPES, ImportError_, ImportOptions, import_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file")
    parser.add_argument(
        "--snapshot",
        choices=SNAPSHOT_SCOPES,
        help="the file holds all appointments of the practitioners it lists (or of the practice): "
        "cancel the others",
    )
    parser.add_argument(
        "--include-device-created",
        action="store_true",
        help="with --snapshot: also cancel appointments a device created",
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")


class _Progress:
    """A bar per stage on a terminal; on a pipe a line at each tenth of a stage of 1,000+ records."""

    def __init__(self, terminal: TextIO, log: TextIO):
        self.terminal, self.log = terminal, log
        self.tty = terminal.isatty()
        self.stage, self.bar, self.next_line = "", None, 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.next_line = stage, 0
            if self.tty:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=stage, unit=" records", file=self.terminal, leave=False)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        elif done >= self.next_line or done == total:
            if done == total or total >= 1000:
                print(f"{stage}: {done}/{total}", file=self.log, flush=True)
            self.next_line = done + max(total // 10, 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    if args.include_device_created and not args.snapshot:
        raise ImportError_("--include-device-created: only with --snapshot")
    progress = _Progress(sys.stderr, sys.stdout)
    options = ImportOptions(args.snapshot, args.include_device_created, args.dry_run, progress)
    try:
        summary = import_file(args.file, options)
    finally:
        progress.close()
    verb = "dry run of" if args.dry_run else "imported"
    print(f"{verb} {args.file}: {summary}" + (" (nothing was changed)" if args.dry_run else ""))
    for line in summary.lines():
        print(line)
    return 0
