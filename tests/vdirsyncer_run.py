"""Running vdirsyncer (a real sync client) as a subprocess against the live server."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from providers.practice import api
from providers.practice.models import Change
from tests.two_way import PASSWORD, calendar_path, row

VDIRSYNCER = str(Path(sys.executable).with_name("vdirsyncer"))


def local_item(uid: str, summary: str, day: int = 10) -> str:
    """A local item in the form the server stores it (so hashes agree after the round trip)."""
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//tests//vdirsyncer//EN",
            "BEGIN:VEVENT",
            f"SUMMARY:{summary}",
            f"DTSTART;TZID=Europe/Vienna:202603{day:02d}T100000",
            f"DTEND;TZID=Europe/Vienna:202603{day:02d}T110000",
            "DTSTAMP:20260301T000000Z",
            f"UID:{uid}",
            "STATUS:CONFIRMED",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


class Sync:
    """One vdirsyncer pair: local filesystem (a) <-> our calendar (b)."""

    def __init__(self, live, user, tmp: Path):
        self.live, self.user, self.tmp = live, user, tmp
        self.local = tmp / "local"
        self.local.mkdir()
        self.discovered = False

    def run(self, conflict: str = "a wins") -> str:
        config = self.tmp / "config"
        config.write_text(f"""[general]
status_path = "{self.tmp / "status"}/"

[pair praxis]
a = "praxis_local"
b = "praxis_remote"
collections = null
conflict_resolution = "{conflict}"

[storage praxis_local]
type = "filesystem"
path = "{self.local}/"
fileext = ".ics"

[storage praxis_remote]
type = "caldav"
url = "{self.live.url(calendar_path(self.user))}"
username = "{self.user.username}"
password = "{PASSWORD}"
""")
        output = ""
        commands = ("sync",) if self.discovered else ("discover", "sync")
        self.discovered = True
        for command in commands:
            done = subprocess.run(
                [VDIRSYNCER, "-c", str(config), command],
                capture_output=True,
                text=True,
                timeout=60,
                input="y\n" * 5,
            )
            output += done.stdout + done.stderr
            assert done.returncode == 0, output
        return output

    def files(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(self.local.glob("*.ics"))}

    def server_changes(self) -> int:
        return Change.select().where(Change.practitioner == self.user.id).count()

    def settle(self, conflict: str = "a wins") -> None:
        """The sync after a device-side update re-reads the stored form, changing nothing.

        The PUT response carried no ETag (RFC 4791 §5.3.4) and vdirsyncer keeps the old hash
        for an updated item, so it copies our stored form to the local side once; the server
        must see no write at all.
        """
        changes = self.server_changes()
        output = self.run(conflict)
        assert "to praxis_remote" not in output and "Deleting" not in output, output
        assert self.server_changes() == changes

    def assert_noop(self, conflict: str = "a wins") -> None:
        files, changes = self.files(), self.server_changes()
        output = self.run(conflict)
        assert "Copying" not in output and "Deleting" not in output, output
        assert self.files() == files and self.server_changes() == changes


def practice_appointment(user, uid: str, subject: str, day: int) -> None:
    """An appointment the practice software creates (with a patient)."""
    patient = api.upsert_patient(user.practice, f"V{user.id}-{uid}", "Lena", "Beispiel")
    api.create_appointment(
        user,
        api.AppointmentFields(
            start_local=dt.datetime(2026, 3, day, 8), end_local=dt.datetime(2026, 3, day, 9), subject=subject
        ),
        patient=patient,
        uid=uid,
        resource_name=f"{uid}.ics",
    )


def practice_edit(user, uid: str, subject: str) -> None:
    """The practice software changes the subject (times, notes and location as they are)."""
    appt = row(user, uid)
    api.update_appointment(
        appt,
        api.AppointmentFields(
            start_local=appt.start_local,
            end_local=appt.end_local,
            tzid=appt.tzid,
            subject=subject,
            notes=appt.notes,
            location=appt.location,
        ),
    )
