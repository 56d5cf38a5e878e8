"""SyncEvolution (Debian's `syncevolution`) two-way sync between a local file calendar and
our calendar: create locally, sync, edit locally, sync — no conflict; a further sync changes
nothing on either side and rewrites no local file.

Skipped when `syncevolution` is not installed, unless PRAXIS_REQUIRE_SYNCEVOLUTION=1 (.ci/run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from providers.practice.models import Appointment
from tests.test_two_way_fidelity import own_event
from tests.two_way import PASSWORD, calendar_path, new_practitioner

REQUIRE = os.environ.get("PRAXIS_REQUIRE_SYNCEVOLUTION") == "1"
_ROW = re.compile(r"^\|\s+calendar \|(.*)\|\s*$", re.MULTILINE)


class SyncEvolution:
    """A local file calendar (`local`) paired with our calendar through SyncEvolution's
    local sync (target-config@praxis holds the CalDAV side); no D-Bus, no keyring."""

    def __init__(self, live, user, tmp: Path):
        self.local = tmp / "calendar"
        self.local.mkdir()
        home = tmp / "home"
        self.env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
        }
        url = live.url(calendar_path(user))
        self.run("--configure", "--template", "webdav", f"username={user.username}", f"password={PASSWORD}",
                 f"syncURL={url}", "target-config@praxis", "calendar")  # fmt: skip
        self.run("--configure", "backend=caldav", f"database={url}", "target-config@praxis", "calendar")
        self.run("--configure", "--template", "SyncEvolution_Client", "syncURL=local://@praxis", "username=",
                 "password=", "backend=file", f"database=file://{self.local}", "databaseFormat=text/calendar",
                 "praxis", "calendar")  # fmt: skip

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["syncevolution", "--keyring=no", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        return output

    def sync(self, mode: str | None = None) -> list[list[int]]:
        """One sync; the change counts of both sides' tables (NEW MOD DEL ERR ... CONFLICTS)."""
        output = self.run(*(["--sync", mode] if mode else []), "praxis", "calendar")
        assert "Synchronization successful" in output, output
        rows = [[int(n) for n in row.replace("|", " ").split()] for row in _ROW.findall(output)]
        assert rows, output
        return rows

    def files(self) -> dict[str, tuple[str, int]]:
        return {p.name: (p.read_text(), p.stat().st_mtime_ns) for p in sorted(self.local.iterdir())}


@pytest.fixture()
def syncevolution():
    if shutil.which("syncevolution") is None:
        if REQUIRE:
            pytest.fail("syncevolution required (PRAXIS_REQUIRE_SYNCEVOLUTION=1) but not installed")
        pytest.skip("syncevolution not installed (Debian package syncevolution)")


def test_create_edit_sync_never_conflicts_and_then_rests(live, tmp_path, syncevolution):
    user = new_practitioner("syncevolution")
    sync = SyncEvolution(live, user, tmp_path)
    sync.sync("slow")  # both sides empty: the first sync of a pair is a slow one
    (sync.local / "100").write_text(own_event("se"), newline="")
    sync.sync()
    [appt] = Appointment.select().where(Appointment.practitioner == user.id)
    assert appt.subject == "Intervision, Gruppe B"

    (sync.local / "100").write_text(own_event("se").replace("Gruppe B", "Gruppe lokal"), newline="")
    rows = sync.sync()
    assert all(row[-1] == 0 for row in rows), rows  # no conflict
    assert Appointment.get_by_id(appt.id).subject == "Intervision, Gruppe lokal"

    files = sync.files()
    assert all(n == 0 for row in sync.sync() for n in row)
    assert sync.files() == files
