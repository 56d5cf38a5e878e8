"""Switching a practitioner's view between clear and pseudonymized moves the hrefs and UIDs
of device-named objects (opaque_names.py): a vdirsyncer copy follows without duplicates, holds
no device-chosen name afterwards, and a local edit through the opaque copy reaches the row."""

from __future__ import annotations

from providers.practice import api, store
from tests.two_way import PASSWORD, calendar_path, new_practitioner
from tests.vdirsyncer_run import Sync, local_item, practice_appointment

UID = "kontrolle-maria-muster-2026@example"  # vdirsyncer names its upload with a UUID
NAMED_UID = "termin-maria-muster@example"  # another device names the resource after it


def _row(user):
    return store.find_by_uid(user.id, UID)


def test_a_vdirsyncer_copy_follows_the_switch_without_duplicates(live, tmp_path):
    user = new_practitioner("vdir-opaque")
    practice_appointment(user, "vdir-opaque-practice", "Befund", 12)
    other_device = live.request(
        "PUT",
        calendar_path(user) + "Maria-Muster-Termin.ics",
        local_item(NAMED_UID, "Termin", day=11),
        user=user.username,
        password=PASSWORD,
        headers={"Content-Type": "text/calendar"},
    )
    assert other_device.status_code == 201
    sync = Sync(live, user, tmp_path)
    (sync.local / "kontrolle.ics").write_text(local_item(UID, "Kontrolle"))
    sync.run()
    sync.settle()
    stored = _row(user)
    assert len(sync.files()) == 3

    api.update_practitioner(user, pseudonymize=True)
    sync.run()
    files = sync.files()
    assert len(files) == 3
    assert "muster" not in "".join(files).lower() and "muster" not in "".join(files.values()).lower()
    sync.assert_noop()

    # A local edit of the opaque copy moves the appointment; its name and UID stay.
    (name,) = [n for n, text in files.items() if "SUMMARY:Kontrolle" in text]
    (sync.local / name).write_text(files[name].replace("T100000", "T140000").replace("T110000", "T150000"))
    sync.run()
    moved = _row(user)
    assert (moved.id, moved.resource_name, moved.uid) == (stored.id, stored.resource_name, UID)
    assert moved.start_local.hour == 14 and stored.start_local.hour == 10

    api.update_practitioner(user, pseudonymize=False)
    sync.run()
    files = sync.files()
    assert len(files) == 3 and f"UID:{UID}" in "".join(files.values())
    assert f"UID:{NAMED_UID}" in "".join(files.values())
