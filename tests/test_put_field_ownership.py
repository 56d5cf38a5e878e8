"""Field ownership (issue 16): what a device may change depends on what its view showed.

Every row of the issue's table, replayed from a pseudonymized view: the real subject, notes,
location link and patient link stay intact, only the legitimate change is applied, and the
device converges on its next sync (the ETag moved, the PUT answer carried none).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid

import icalendar
import pytest

from davserver.ical import render
from providers.practice import api, opaque_names
from providers.practice.models import Appointment, Patient
from providers.practice.pseudonym import pseudonym
from tests.two_way import ICAL, PASSWORD, calendar_path, event, new_practitioner

NAME = "owned.ics"
# The labels a pseudonymized view shows for the practice's patients (whatever the rule).
MARIA = pseudonym("Maria", "Muster", "1042")
MARIO = pseudonym("Mario", "Mustermann", "1016")
JUERGEN = pseudonym("Jürgen", "Öztürk", "1002")


def unfold(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n ", "")


class View:
    """One practitioner's view of one practice appointment, and a device writing back to it."""

    def __init__(self, live, pseudonymize: bool, patient: str = "patient", home: bool = False, **fields):
        self.live = live
        self.user = new_practitioner(f"own-{uuid.uuid4().hex[:6]}", pseudonymize=pseudonymize)
        practice = self.user.practice
        self.patient = api.upsert_patient(practice, "1042", "Maria", "Muster", "+43 664 1234567")
        self.other = api.upsert_patient(practice, "1016", "Mario", "Mustermann")
        self.juergen = api.upsert_patient(practice, "1002", "Jürgen", "Öztürk")
        self.home = api.upsert_location(practice, "Hausbesuch bei Muster", "Gasse 3")
        values = dict(
            start_local=dt.datetime(2026, 3, 10, 9),
            end_local=dt.datetime(2026, 3, 10, 9, 50),
            tzid="Europe/Vienna",
            subject="Kontrolle",
            notes="",
            location=self.home if home else None,
        )
        values.update(fields)
        self.appt = api.create_appointment(
            self.user,
            api.AppointmentFields(**values),
            patient=getattr(self, patient),
            uid="owned-1",
            resource_name=NAME,
        )

    @property
    def href(self) -> str:
        """The object's URL in this view (a pseudonymized view names it opaquely)."""
        opaque = api.find_practitioner(self.user.username).pseudonymize
        name = opaque_names.shown_name(self.user.id, NAME) if opaque else NAME
        return calendar_path(self.user) + name

    def get(self) -> tuple[str, str]:
        r = self.live.request("GET", self.href, user=self.user.username, password=PASSWORD)
        assert r.status_code == 200
        return unfold(r.content), r.headers["ETag"]

    def put(self, text: str, etag: str):
        return self.live.request(
            "PUT",
            self.href,
            text,
            user=self.user.username,
            password=PASSWORD,
            headers={**ICAL, "If-Match": etag},
        )

    def write_back(self, change) -> tuple[Appointment, str]:
        """GET, let `change(text) -> text` edit it as a device would, PUT it back.

        Asserts convergence: the answer carries no ETag unless the server now serves exactly
        the upload, and the device's next GET shows the server's state under a new ETag.
        """
        text, etag = self.get()
        sent = change(text)
        response = self.put(sent, etag)
        assert response.status_code == 204, response.text
        served, new_etag = self.get()
        if "ETag" in response.headers:
            assert response.headers["ETag"] == new_etag and served == sent
        else:
            assert new_etag != etag
        return self.row(), served

    def row(self) -> Appointment:
        return Appointment.get_by_id(self.appt.id)

    def intact(self, row: Appointment, **changed) -> None:
        """The row equals the practice's row except for `changed`; the patients are untouched."""
        for name in ("subject", "notes", "location_id", "location_text", "patient_id", "start_local"):
            expected = changed.get(name, getattr(self.appt, name))
            assert getattr(row, name) == expected, name
        for patient in (self.patient, self.other, self.juergen):
            assert Patient.get_by_id(patient.id).__data__ == patient.__data__


def prop(text: str, name: str) -> str | None:
    for line in text.split("\r\n"):
        if line.split(":", 1)[0].split(";", 1)[0] == name:
            return line.split(":", 1)[1]
    return None


def replace_prop(text: str, name: str, value: str | None) -> str:
    """The object with the first `name` line's value replaced (None: the line removed)."""
    lines = text.split("\r\n")
    for i, line in enumerate(lines):
        if line.split(":", 1)[0].split(";", 1)[0] == name:
            if value is None:
                del lines[i]
            else:
                lines[i] = line.split(":", 1)[0] + ":" + value
            return "\r\n".join(lines)
    at = lines.index("END:VEVENT")
    lines.insert(at, f"{name}:{value}")
    return "\r\n".join(lines)


def moved(text: str) -> str:
    """The device also moves the appointment by an hour (a legitimate change)."""
    return text.replace("T090000", "T100000").replace("T095000", "T105000")


MOVED = dt.datetime(2026, 3, 10, 10)


# ---------------------------------------------------------------- the table


def test_summary_with_the_pseudonym_in_the_subject_keeps_the_real_subject(live):
    view = View(live, True)
    row, served = view.write_back(lambda t: replace_prop(t, "SUMMARY", f"{MARIA} – Kontrolle bei {MARIA}"))
    view.intact(row)
    assert prop(served, "SUMMARY") == f"{MARIA} – Kontrolle"


@pytest.mark.parametrize("separator", [" - ", " – ", " — ", ": ", " | ", "\u00a0-\u00a0", " ‐ "])
def test_any_dash_or_separator_after_the_pseudonym_is_removed(live, separator):
    view = View(live, True, subject="Erstgespräch")
    row, served = view.write_back(lambda t: replace_prop(t, "SUMMARY", f"{MARIA}{separator}Kontrolle"))
    view.intact(row, subject="Kontrolle")
    assert prop(served, "SUMMARY") == f"{MARIA} – Kontrolle"


def test_summary_sent_back_unchanged_in_nfd_changes_nothing(live):
    view = View(live, True, patient="juergen", subject="Erstgespräch")

    def nfd(text: str) -> str:
        summary = prop(text, "SUMMARY")
        assert summary == f"{JUERGEN} – Erstgespräch"
        return moved(replace_prop(text, "SUMMARY", unicodedata.normalize("NFD", summary)))

    row, _ = view.write_back(nfd)
    view.intact(row, start_local=MOVED)


def test_a_pseudonym_added_to_the_notes_is_not_stored(live):
    view = View(live, True, notes="")
    row, served = view.write_back(lambda t: moved(replace_prop(t, "DESCRIPTION", f"{MARIO} zurückrufen")))
    view.intact(row, start_local=MOVED)
    assert prop(served, "DESCRIPTION") is None


def test_a_description_left_out_never_erases_the_notes(live):
    view = View(live, True, notes="Kollegin: Befund von Dr. Berg abwarten")
    row, _ = view.write_back(lambda t: moved(replace_prop(t, "DESCRIPTION", None)))
    view.intact(row, start_local=MOVED)


def test_a_location_edit_never_drops_the_location_link_for_masked_text(live):
    view = View(live, True, home=True)

    def floor(text: str) -> str:
        location = prop(text, "LOCATION")
        assert location == render.HOME_VISIT  # the row's name mentions the patient
        return replace_prop(text, "LOCATION", location + " (2. Stock)")

    row, _ = view.write_back(floor)
    view.intact(row)
    assert row.location_id == view.home.id and row.location_text is None


def test_an_edit_of_a_subject_holding_names_keeps_it_and_the_device_converges(live):
    view = View(live, True, subject="Anruf Maria wegen Befund")

    def urgent(text: str) -> str:
        summary = prop(text, "SUMMARY")
        assert summary == f"{MARIA} – Anruf {MARIA} wegen Befund"
        return moved(replace_prop(text, "SUMMARY", summary + " (dringend)"))

    row, served = view.write_back(urgent)
    view.intact(row, start_local=MOVED)
    assert prop(served, "SUMMARY") == f"{MARIA} – Anruf {MARIA} wegen Befund"


# ---------------------------------------------------------------- what a pseudonymized device may change


def test_a_clean_subject_from_a_pseudonymized_view_is_taken_notes_and_location_never(live):
    """The view shows no notes and only the location row's (masked) name: neither is the
    device's to change, whatever it sends."""
    view = View(live, True, home=True, notes="alt")

    def edit(text: str) -> str:
        text = replace_prop(text, "SUMMARY", f"{MARIA} – Nachkontrolle")
        text = replace_prop(text, "DESCRIPTION", "Röntgenbild mitbringen")
        text = replace_prop(text, "STATUS", "TENTATIVE")
        return replace_prop(text, "LOCATION", "Praxis Zentrum")

    row, _ = view.write_back(edit)
    view.intact(row, subject="Nachkontrolle")
    assert row.status == "tentative"


def test_clean_texts_from_a_clear_view_are_taken(live):
    view = View(live, False, home=True, notes="alt")

    def edit(text: str) -> str:
        text = replace_prop(text, "SUMMARY", "Maria Muster – Nachkontrolle")
        text = replace_prop(text, "DESCRIPTION", "Röntgenbild mitbringen")
        return replace_prop(text, "LOCATION", "Praxis Zentrum")

    row, _ = view.write_back(edit)
    view.intact(
        row,
        subject="Nachkontrolle",
        notes="Röntgenbild mitbringen",
        location_id=None,
        location_text="Praxis Zentrum",
    )


def test_a_clear_view_without_phone_never_stores_the_mask_over_the_number(live):
    view = View(live, False, notes="Rückruf 0664 7654321 abends")

    def edit(text: str) -> str:
        shown = prop(text, "DESCRIPTION")
        assert "7654321" not in shown
        return replace_prop(text, "DESCRIPTION", shown + " dringend")

    row, _ = view.write_back(edit)
    view.intact(row)


@pytest.mark.parametrize(
    "field,value",
    [
        ("SUMMARY", f"{MARIA} – Kontrolle mit Mario Mustermann"),  # another patient's name
        ("SUMMARY", f"{MARIA} – Kontrolle, dann {JUERGEN}"),  # another patient's pseudonym
        ("SUMMARY", "Kontrolle " + MARIA.replace(" ", "\u00a0")),  # the own pseudonym, not as the label
        ("DESCRIPTION", "Jürgen Öztürk anrufen"),
        ("LOCATION", f"bei {JUERGEN}"),
    ],
)
def test_a_text_naming_any_patient_is_not_taken_from_a_pseudonymized_view(live, field, value):
    view = View(live, True, notes="alt", location_text="Praxis")
    row, _ = view.write_back(lambda t: moved(replace_prop(t, field, value)))
    view.intact(row, start_local=MOVED)


def test_a_removed_description_clears_the_notes_in_a_clear_view(live):
    view = View(live, False, notes="alt")
    row, _ = view.write_back(lambda t: replace_prop(t, "DESCRIPTION", None))
    view.intact(row, notes="")


# ---------------------------------------------------------------- the data API itself


@pytest.mark.parametrize(
    "texts",
    [
        dict(subject=f"Kontrolle {MARIA}"),
        dict(notes=f"Rückruf {MARIA.lower()}"),
        dict(location_text="Hausbesuch " + MARIA.replace(" ", "\u00a0")),
        dict(subject=f"Termin für {JUERGEN}"),
        dict(subject=unicodedata.normalize("NFD", f"Termin für {JUERGEN}")),
    ],
)
def test_the_data_api_never_stores_a_pseudonym(live, texts):
    view = View(live, False)
    fields = api.AppointmentFields(
        start_local=dt.datetime(2026, 3, 11, 9), end_local=dt.datetime(2026, 3, 11, 10), **texts
    )
    with pytest.raises(api.DataError, match="pseudonym"):
        api.create_appointment(view.user, fields)
    with pytest.raises(api.DataError, match="pseudonym"):
        api.update_appointment(view.appt, fields)
    view.intact(view.row())


def test_the_data_api_checks_override_texts_too(live):
    view = View(live, False)
    start = dt.datetime(2026, 3, 11, 9)
    override = api.OverrideFields(
        recurrence_id=start + dt.timedelta(days=7),
        start_local=start + dt.timedelta(days=7, hours=1),
        end_local=start + dt.timedelta(days=7, hours=2),
        tzid="Europe/Vienna",
        subject=f"verschoben wegen {MARIA}",
    )
    fields = api.AppointmentFields(
        start_local=start,
        end_local=start + dt.timedelta(hours=1),
        rrule="FREQ=WEEKLY;COUNT=3",
        overrides=[override],
    )
    with pytest.raises(api.DataError, match="pseudonym"):
        api.create_appointment(view.user, fields)


def test_ordinary_numbers_and_pseudonyms_of_another_practice_are_stored(live):
    view = View(live, False)
    fields = api.AppointmentFields(
        start_local=dt.datetime(2026, 3, 11, 9),
        end_local=dt.datetime(2026, 3, 11, 10),
        subject="Raum 1042, Zimmer 1016",
        notes=MARIA.replace("1042", "9999") + " ist kein Patient",
    )
    created = api.create_appointment(view.user, fields)
    assert created.subject == "Raum 1042, Zimmer 1016"


def test_a_device_cannot_create_an_event_holding_a_pseudonym(live):
    view = View(live, True)
    body = event("new-with-pseudonym", summary=f"Rückruf {MARIO}")
    r = live.request(
        "PUT",
        calendar_path(view.user) + "new.ics",
        body,
        user=view.user.username,
        password=PASSWORD,
        headers={**ICAL, "If-None-Match": "*"},
    )
    assert r.status_code == 403 and b"valid-calendar-data" in r.content
    assert Appointment.get_or_none(Appointment.uid == "new-with-pseudonym") is None


def test_an_unchanged_write_back_keeps_every_field(live):
    view = View(live, True, subject="Anruf Maria wegen Befund", notes="Maria: Tel. 0664 1234567")
    text, etag = view.get()
    cal = icalendar.Calendar.from_ical(text)
    r = view.put(cal.to_ical().decode(), etag)
    assert r.status_code == 204
    view.intact(view.row())


def test_a_row_holding_a_pseudonym_from_before_stays_editable(live):
    """Rows written before the data API refused pseudonyms keep their text and take edits."""
    view = View(live, True, notes="Rückruf")
    Appointment.update(notes=f"Rückruf {MARIO}").where(Appointment.id == view.appt.id).execute()
    view.appt = view.row()
    row, _ = view.write_back(moved)
    view.intact(row, start_local=MOVED)
