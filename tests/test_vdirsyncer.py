"""vdirsyncer (a real sync client, as a subprocess) against the live server on SQLite and
PostgreSQL: create, edit and delete on each side converge, and a sync after convergence is a
no-op (nothing copied or deleted, no change on either side)."""

from __future__ import annotations

import datetime as dt

from providers.practice import api
from providers.practice.models import STATUS_CANCELLED
from tests.two_way import ICAL, PASSWORD, calendar_path, new_practitioner, row
from tests.vdirsyncer_run import Sync, local_item, practice_appointment, practice_edit


def test_two_way_sync_converges(live, tmp_path):
    user = new_practitioner("vdirsyncer")
    sync = Sync(live, user, tmp_path)
    practice_appointment(user, "praxis-1", "Erstgespräch", 9)
    (sync.local / "device-1.ics").write_text(local_item("device-1", "Fortbildung"))

    sync.run()  # both directions
    assert row(user, "device-1").subject == "Fortbildung"
    assert "SUMMARY:Lena Beispiel – Erstgespräch" in sync.files()["praxis-1.ics"]
    sync.assert_noop()

    # Edits on both sides, and a second device creates through the server.
    (sync.local / "device-1.ics").write_text(local_item("device-1", "Fortbildung Tag 2", 11))
    practice_edit(user, "praxis-1", "Kontrolle")
    put = live.request(
        "PUT",
        calendar_path(user) + "other.ics",
        local_item("other", "Telefonat"),
        user=user.username,
        password=PASSWORD,
        headers={**ICAL, "If-None-Match": "*"},
    )
    assert put.status_code == 201
    sync.run()
    device = row(user, "device-1")
    assert (device.subject, device.start_local) == ("Fortbildung Tag 2", dt.datetime(2026, 3, 11, 10))
    assert "Lena Beispiel – Kontrolle" in sync.files()["praxis-1.ics"]
    assert "SUMMARY:Telefonat" in sync.files()["other.ics"]
    assert row(user, "praxis-1").patient is not None  # the device never touched the link
    sync.settle()
    sync.assert_noop()

    # Deletes on all sides: locally, by the practice, by the second device.
    (sync.local / "device-1.ics").unlink()
    api.delete_appointment(row(user, "praxis-1"))
    etag = live.request(
        "GET", calendar_path(user) + "other.ics", user=user.username, password=PASSWORD
    ).headers["ETag"]
    assert (
        live.request(
            "DELETE",
            calendar_path(user) + "other.ics",
            user=user.username,
            password=PASSWORD,
            headers={"If-Match": etag},
        ).status_code
        == 204
    )
    sync.run()
    assert row(user, "device-1").status == STATUS_CANCELLED
    assert sync.files() == {}
    sync.assert_noop()
