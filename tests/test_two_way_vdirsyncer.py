"""vdirsyncer conflicts resolve the configured way ("a wins" / "b wins"), and an item the
server stores in another form comes back once and then rests (SQLite: the backend does not
matter here, the PostgreSQL round trip is covered by test_vdirsyncer)."""

from __future__ import annotations

import pytest

from tests.two_way import new_practitioner, row
from tests.vdirsyncer_run import Sync, local_item, practice_edit


@pytest.fixture(scope="module")
def live(sqlite_live):
    return sqlite_live


@pytest.mark.parametrize("winner", ["a wins", "b wins"])
def test_conflict_resolution(live, tmp_path, winner):
    user = new_practitioner("vdir-conflict")
    sync = Sync(live, user, tmp_path)
    (sync.local / "both.ics").write_text(local_item("both", "Original"))
    sync.run(winner)
    sync.assert_noop(winner)
    (sync.local / "both.ics").write_text(local_item("both", "Lokal geändert"))
    practice_edit(user, "both", "Praxis geändert")
    sync.run(winner)
    expected = "Lokal geändert" if winner == "a wins" else "Praxis geändert"
    assert row(user, "both").subject == expected
    assert f"SUMMARY:{expected}" in sync.files()["both.ics"]
    sync.settle(winner)
    sync.assert_noop(winner)


def test_device_form_that_maps_onto_the_row_is_served_as_sent(live, tmp_path):
    """An item the row represents exactly (DURATION instead of DTEND) rests after one sync."""
    user = new_practitioner("vdir-canonical")
    sync = Sync(live, user, tmp_path)
    item = local_item("dur", "Kurz").replace("DTEND;TZID=Europe/Vienna:20260310T110000", "DURATION:PT30M")
    (sync.local / "dur.ics").write_text(item)
    sync.run()
    assert row(user, "dur").end_local.minute == 30
    sync.assert_noop()
    assert sync.files()["dur.ics"] == item.replace("\r\n", "\n")  # never rewritten


def test_device_form_is_replaced_by_the_stored_form_once(live, tmp_path):
    """An item the server stores differently (a Windows zone name -> IANA) comes back once,
    then rests."""
    user = new_practitioner("vdir-canonical")
    sync = Sync(live, user, tmp_path)
    windows = "TZID=W. Europe Standard Time"
    item = local_item("win", "Kurz").replace("TZID=Europe/Vienna", windows)
    (sync.local / "win.ics").write_text(item)
    sync.run()
    sync.run()  # the PUT response had no ETag (stored form differs): the client re-reads it
    assert "DTSTART;TZID=Europe/Berlin:20260310T100000" in sync.files()["win.ics"]
    sync.assert_noop()
