"""`import --snapshot`, `--dry-run` and the closing report, run through the real command line.

A snapshot cancels what the file no longer holds, within its scope (the practitioners it
lists, or the practice), and leaves appointments a device created alone unless asked; a dry
run reports the same counts and leaves the database and every sync token as they were.
"""

from __future__ import annotations

import datetime as dt
import json

import icalendar
import pytest

from providers.practice import api, store
from providers.practice.models import STATUS_CANCELLED, Appointment, Change, Practitioner
from providers.sql.db import open_database
from tests.test_cli import assert_one_line_error, cli
from tests.two_way import PASSWORD
from tests.vdirsyncer_run import Sync, local_item


def _export(appointment_ids: list[str], practitioners=("sn-p1", "sn-p2")) -> dict:
    return {
        "practice": {"id": "sn-practice", "name": "Snapshot-Praxis", "timezone": "Europe/Vienna"},
        "practitioners": [{"id": p, "username": f"user {p}", "password": "pw-snap"} for p in practitioners],
        "appointments": [
            {
                "id": a,
                "practitioner": "sn-p2" if a.startswith("b") else "sn-p1",
                "subject": "Termin",
                # the day follows from the id, so a record reads the same in every file
                "start": f"2031-05-{int(a[1:]) + (10 if a.startswith('b') else 0):02d}T09:00:00",
                "end": f"2031-05-{int(a[1:]) + (10 if a.startswith('b') else 0):02d}T09:30:00",
            }
            for a in appointment_ids
        ],
    }


def _write(tmp_path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _state() -> dict:
    """Every appointment's (status, revision) and every calendar's sync token."""
    rows = {
        a.external_id or a.uid: (a.status, a.revision)
        for a in Appointment.select().join(Practitioner).where(Practitioner.username.startswith("user sn-"))
    }
    tokens = {p.id: store.current_change(p.id) for p in Practitioner.select()}
    return {"rows": rows, "tokens": tokens, "changes": Change.select().count()}


@pytest.fixture
def practice(db_url, tmp_path):
    """a1..a3 of sn-p1, b1 of sn-p2, and one appointment a device of sn-p1 created."""
    open_database(db_url)
    result = cli(
        "--database", db_url, "import", _write(tmp_path, "full.json", _export(["a1", "a2", "a3", "b1"]))
    )
    assert result.returncode == 0, result.stderr
    p1 = api.find_practitioner("user sn-p1")
    api.create_appointment(
        p1,
        api.AppointmentFields(start_local=dt.datetime(2031, 6, 1, 9), end_local=dt.datetime(2031, 6, 1, 10)),
        uid="device-made@example.org",
    )
    yield db_url
    with api.transaction():
        owners = [p1.id, api.find_practitioner("user sn-p2").id]
        Appointment.delete().where(Appointment.practitioner.in_(owners)).execute()


def _served(username: str) -> int:
    return len(store.list_members(api.find_practitioner(username).id))


def test_dry_run_reports_and_changes_nothing(practice, tmp_path):
    before = _state()
    path = _write(tmp_path, "drop.json", _export(["a1", "a3", "a4"], practitioners=("sn-p1",)))
    result = cli("--database", practice, "import", path, "--snapshot", "practitioner", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run of" in result.stdout and "nothing was changed" in result.stdout
    assert "appointments: 1 created, 0 updated, 2 unchanged, 1 cancelled" in result.stdout
    assert (
        "appointments of practitioner sn-p1: 1 created, 0 updated, 2 unchanged, 1 cancelled" in result.stdout
    )
    assert _state() == before


def test_snapshot_of_the_listed_practitioners_cancels_what_the_file_dropped(practice, tmp_path):
    path = _write(tmp_path, "drop.json", _export(["a1", "a3", "a4"], practitioners=("sn-p1",)))
    result = cli("--database", practice, "import", path, "--snapshot", "practitioner")
    assert result.returncode == 0, result.stderr
    assert "appointments: 1 created, 0 updated, 2 unchanged, 1 cancelled" in result.stdout
    rows = _state()["rows"]
    assert rows["a2"][0] == STATUS_CANCELLED
    assert rows["a1"][0] == rows["a4"][0] == rows["b1"][0] == "confirmed"  # sn-p2 was not in the file
    assert rows["device-made@example.org"][0] == "confirmed"
    assert _served("user sn-p1") == 4  # a1, a3, a4 and the device's own
    again = cli("--database", practice, "import", path, "--snapshot", "practitioner")
    assert "0 created, 0 updated, 3 unchanged, 0 cancelled" in again.stdout  # idempotent


def test_practice_snapshot_and_device_created(practice, tmp_path):
    path = _write(tmp_path, "p1-only.json", _export(["a1", "a2", "a3"]))
    result = cli("--database", practice, "import", path, "--snapshot", "practice")
    assert result.returncode == 0, result.stderr
    assert (
        "appointments of practitioner sn-p2: 0 created, 0 updated, 0 unchanged, 1 cancelled" in result.stdout
    )
    assert _state()["rows"]["device-made@example.org"][0] == "confirmed"
    result = cli("--database", practice, "import", path, "--snapshot", "practice", "--include-device-created")
    assert result.returncode == 0, result.stderr
    assert (
        "appointments of practitioner sn-p1: 0 created, 0 updated, 3 unchanged, 1 cancelled" in result.stdout
    )
    assert _state()["rows"]["device-made@example.org"][0] == STATUS_CANCELLED
    assert _served("user sn-p1") == 3


def test_bad_options_are_one_line(practice, tmp_path):
    path = _write(tmp_path, "x.json", _export(["a1"]))
    assert_one_line_error(
        cli("--database", practice, "import", path, "--include-device-created"), "--snapshot"
    )
    result = cli("--database", practice, "import", path, "--snapshot", "everything")
    assert result.returncode != 0 and "invalid choice" in result.stderr


def test_nightly_snapshot_leaves_a_device_copy_in_the_new_state_after_one_sync(live, tmp_path):
    """The issue's done-when, with vdirsyncer as the device: drop, move and add in one
    snapshot; one sync later the device holds exactly the new state and its own appointment."""
    base = _export(["a1", "a2", "a3"], practitioners=("sn-p1",))
    base["practice"]["id"] = base["practitioners"][0]["id"] = "vs"
    base["practitioners"][0].update(username="snap sync", password=PASSWORD)
    for record in base["appointments"]:
        record["practitioner"] = "vs"
        record["id"] = "vs-" + record["id"]
    base["practice"]["name"] = "Vdirsyncer-Praxis"
    assert cli("--database", live.db_url, "import", _write(tmp_path, "base.json", base)).returncode == 0
    user = api.find_practitioner("snap sync")
    sync = Sync(live, user, tmp_path)
    (sync.local / "device-1.ics").write_text(local_item("device-1", "Fortbildung"))
    sync.run()
    assert len(sync.files()) == 4

    nightly = json.loads(json.dumps(base))
    nightly["appointments"] = [base["appointments"][0], dict(base["appointments"][2])]  # vs-a2 dropped
    nightly["appointments"][1].update(start="2031-05-20T15:00:00", end="2031-05-20T15:30:00")  # moved
    added = dict(base["appointments"][0], id="vs-a4", start="2031-05-21T08:00:00", end="2031-05-21T08:30:00")
    nightly["appointments"].append(added)
    result = cli(
        "--database", live.db_url, "import", _write(tmp_path, "n.json", nightly), "--snapshot", "practitioner"
    )
    assert "appointments: 1 created, 1 updated, 1 unchanged, 1 cancelled" in result.stdout, result.stdout
    sync.run()
    uids = {a.external_id: a.uid for a in Appointment.select().where(Appointment.practitioner == user.id)}
    by_uid = {}
    for text in sync.files().values():
        event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
        by_uid[str(event["UID"])] = event
    assert set(by_uid) == {uids["vs-a1"], uids["vs-a3"], uids["vs-a4"], "device-1"}
    assert by_uid[uids["vs-a3"]].decoded("DTSTART").replace(tzinfo=None) == dt.datetime(2031, 5, 20, 15)
