"""Switching pseudonymization after a device is set up: a vdirsyncer copy follows on its next sync.

Today's products ask practitioners to choose *before* setting up a device, because devices keep
what they downloaded. Here a switch changes every ETag and the sync token, so the next sync
replaces every local copy.
"""

from __future__ import annotations

import datetime as dt

from providers.practice import api
from tests.leak_scanner import LeakScanner
from tests.two_way import new_practitioner
from tests.vdirsyncer_run import Sync

NAMES = ["Magdalena", "Wunderlich", "+43 699 8765432"]


def test_vdirsyncer_copy_follows_the_switch_both_ways(live, tmp_path):
    user = new_practitioner("vdir-pseudo")
    patient = api.upsert_patient(user.practice, f"77{user.id}", "Magdalena", "Wunderlich", "+43 699 8765432")
    api.update_practitioner(user, include_phone=True)
    for day in (3, 4):
        api.create_appointment(
            user,
            api.AppointmentFields(
                start_local=dt.datetime(2026, 12, day, 9),
                end_local=dt.datetime(2026, 12, day, 10),
                subject="Kontrolle Magdalena Wunderlich",
                rrule="FREQ=WEEKLY;COUNT=3" if day == 4 else None,
            ),
            patient=patient,
        )
    sync = Sync(live, user, tmp_path)
    sync.run()
    clear = "".join(sync.files().values())
    assert "Magdalena Wunderlich" in clear and len(sync.files()) == 2

    api.update_practitioner(user, pseudonymize=True)
    sync.run()
    scanner = LeakScanner(NAMES)
    for name, text in sync.files().items():
        scanner.record(text, f"local copy {name}")
    scanner.assert_clean()
    pseudo = "".join(sync.files().values())
    assert f"MaWu {patient.patient_number}" in pseudo and len(sync.files()) == 2

    api.update_practitioner(user, pseudonymize=False)
    sync.run()
    assert "Magdalena Wunderlich" in "".join(sync.files().values())
    sync.assert_noop()
