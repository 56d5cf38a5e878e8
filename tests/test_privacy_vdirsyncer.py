"""Issue 15, "done when": a practitioner synced in clear mode, a device stored extras naming
patients, then pseudonymization is switched on; one vdirsyncer sync later the local copy holds
no patient name, phone number or address in any byte."""

from __future__ import annotations

import datetime as dt

from providers.practice import api
from providers.practice.models import Appointment
from tests import privacy_corpus as corpus
from tests.leak_scanner import LeakScanner
from tests.two_way import new_practitioner
from tests.vdirsyncer_run import Sync


def test_switching_to_pseudonymized_cleans_a_clear_copy_with_device_extras(live, tmp_path):
    user = new_practitioner("vdir-corpus", include_phone=True)
    patients = [
        api.upsert_patient(user.practice, n, f, last, ph, ext) for ext, n, f, last, ph in corpus.PATIENTS
    ]
    home = api.upsert_location(user.practice, "Hausbesuch Familie Öztürk", corpus.HOME_ADDRESS, "v-home")
    for i, (patient, subject, notes, location) in enumerate(corpus.APPOINTMENTS[:8]):
        begin = dt.datetime(2026, 12, 1, 8) + dt.timedelta(days=i)
        api.create_appointment(
            user,
            api.AppointmentFields(
                begin,
                begin + dt.timedelta(minutes=50),
                subject=subject,
                notes=notes,
                location=home if location == "home" else None,
            ),
            patient=patients[patient] if patient is not None else None,
            uid=f"vdir-corpus-{i}",
        )
    sync = Sync(live, user, tmp_path)
    sync.run()
    clear = "".join(sync.files().values())
    assert "Maria Muster" in clear and len(sync.files()) == 8
    # The clear-mode device adds extras that name patients to every appointment.
    for path in sorted(sync.local.glob("*.ics")):
        text = path.read_text()
        path.write_text(text.replace("END:VEVENT", corpus.DEVICE_EXTRAS + "\r\nEND:VEVENT", 1))
    sync.run()
    stored = Appointment.select().where(Appointment.practitioner == user.id)
    assert all("X-ALT-DESC" in (row.device_ical or "") for row in stored)  # the server keeps them

    api.update_practitioner(user, pseudonymize=True)
    sync.run()
    scanner = LeakScanner(corpus.SECRETS + corpus.EXTRA_SECRETS)
    files = sync.files()
    for name, text in files.items():
        scanner.record(text, f"local copy {name}")
        assert corpus.LANDLINE not in text
    scanner.assert_clean()
    assert len(files) == 8 and "ATTENDEE" not in "".join(files.values())
