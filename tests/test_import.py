"""JSON import: idempotent upserts by external id, series with exceptions, all-or-nothing errors.

Runs against the real server on SQLite and PostgreSQL (`live`): what an import writes is
checked through CalDAV as a device sees it.
"""

from __future__ import annotations

import copy
import json
import re

import icalendar
import pytest
from lxml import etree

from providers.practice import demo
from providers.practice.importer import ImportError_, import_data, import_file
from providers.practice.models import Appointment, Change, Patient, Practice, Practitioner, SchemaVersion
from providers.sql.db import open_database
from providers.sql.migrations import HEAD as SCHEMA_VERSION

DAV = "DAV:"
CS = "http://calendarserver.org/ns/"
USER, PASSWORD = "ida import", "ida-pw"
CAL = "/ida_import/calendar/"


def practice_data() -> dict:
    return {
        "practice": {"id": "imp-practice", "name": "Import-Praxis", "timezone": "Europe/Vienna"},
        "practitioners": [
            {
                "id": "imp-p1",
                "username": USER,
                "display_name": "Ida Import",
                "email": "ida@example.org",
                "password": PASSWORD,
            }
        ],
        "patients": [
            {
                "id": "imp-pat1",
                "patient_number": "501",
                "first_name": "Karl",
                "last_name": "Kurz",
                "phone": "+43 1 234",
            }
        ],
        "locations": [{"id": "imp-loc1", "name": "Raum 2", "address": "Hauptstraße 5"}],
        "appointments": [
            {
                "id": "imp-a1",
                "practitioner": "imp-p1",
                "patient": "imp-pat1",
                "location": "imp-loc1",
                "subject": "Beratung",
                "notes": "erste Sitzung",
                "start": "2031-03-03T09:00:00",
                "end": "2031-03-03T09:45:00",
            },
            {
                "id": "imp-a2",
                "practitioner": "imp-p1",
                "patient": "imp-pat1",
                "subject": "Serie",
                "start": "2031-03-04T10:00:00",
                "end": "2031-03-04T10:30:00",
                "rrule": "FREQ=WEEKLY;COUNT=6",
                "exdates": ["2031-03-11T10:00:00"],
                "overrides": [
                    {
                        "recurrence_id": "2031-03-18T10:00:00",
                        "start": "2031-03-19T15:00:00",
                        "end": "2031-03-19T15:30:00",
                        "subject": "Serie (verschoben)",
                    },
                    {"recurrence_id": "2031-03-25T10:00:00", "status": "cancelled"},
                ],
            },
            {
                "id": "imp-a3",
                "practitioner": "imp-p1",
                "subject": "Urlaub",
                "all_day": True,
                "start": "2031-04-01",
                "end": "2031-04-03",
            },
        ],
    }


def propfind(live, path: str, body: str, depth: str = "1") -> dict[str, dict[str, str]]:
    resp = live.request("PROPFIND", path, body, headers={"Depth": depth}, user=USER, password=PASSWORD)
    assert resp.status_code == 207, resp.status_code
    out = {}
    for r in etree.fromstring(resp.content).findall(f"{{{DAV}}}response"):
        out[r.findtext(f"{{{DAV}}}href")] = {el.tag: el.text for el in r.iter() if isinstance(el.tag, str)}
    return out


ETAGS = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
CTAG = (
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
    "<D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>"
)


def etags(live) -> dict[str, str]:
    return {h: p[f"{{{DAV}}}getetag"] for h, p in propfind(live, CAL, ETAGS).items() if h != CAL}


def ctag(live) -> str:
    return propfind(live, CAL, CTAG, depth="0")[CAL][f"{{{CS}}}getctag"]


def calendars(live) -> dict[str, icalendar.Calendar]:
    out = {}
    for href in etags(live):
        resp = live.request("GET", href, user=USER, password=PASSWORD)
        assert resp.status_code == 200
        out[href] = icalendar.Calendar.from_ical(resp.content)
    return out


def find(cals: dict[str, icalendar.Calendar], summary_part: str):
    for href, cal in cals.items():
        if any(summary_part in str(e.get("SUMMARY")) for e in cal.walk("VEVENT")):
            return href, cal
    raise AssertionError(summary_part)


@pytest.fixture(scope="module")
def imported(live):
    summary = import_data(practice_data())
    created = {kind: counts.created for kind, counts in summary.by_type.items()}
    assert created == {"practitioners": 1, "patients": 1, "locations": 1, "appointments": 3}
    assert (summary.created, summary.updated) == (6, 0)
    return summary


# ---------------------------------------------------------------- idempotency


def test_reimporting_the_demo_changes_nothing(live):
    demo_cal = "/anna_maier/calendar/"
    before = live.request("PROPFIND", demo_cal, CTAG, headers={"Depth": "0"}).text
    summary = demo.load_demo()
    assert str(summary).startswith("0 created, 0 updated")
    assert live.request("PROPFIND", demo_cal, CTAG, headers={"Depth": "0"}).text == before


def test_second_import_creates_and_updates_nothing(live, imported):
    tags, token = etags(live), ctag(live)
    changes = Change.select().count()
    summary = import_data(practice_data())
    assert str(summary).startswith("0 created, 0 updated")
    assert Change.select().count() == changes
    assert etags(live) == tags and ctag(live) == token


# ---------------------------------------------------------------- what a device sees


def test_imported_appointments_as_a_device_sees_them(live, imported):
    cals = calendars(live)
    assert len(cals) == 3
    assert all(re.fullmatch(r"/ida_import/calendar/[0-9a-f]{32}\.ics", h) for h in cals)
    _, single = find(cals, "Beratung")
    (event,) = single.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Karl Kurz – Beratung"
    assert str(event["LOCATION"]) == "Raum 2, Hauptstraße 5"
    assert "erste Sitzung" in str(event["DESCRIPTION"])
    _, all_day = find(cals, "Urlaub")
    (event,) = all_day.walk("VEVENT")
    assert (event.decoded("DTEND") - event.decoded("DTSTART")).days == 2


def test_series_with_exceptions_is_one_resource(live, imported):
    _, cal = find(calendars(live), "Serie")
    vevents = list(cal.walk("VEVENT"))
    (master,) = [e for e in vevents if "RECURRENCE-ID" not in e]
    overrides = {e.decoded("RECURRENCE-ID").strftime("%m-%d"): e for e in vevents if "RECURRENCE-ID" in e}
    assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=6"
    exdates = master["EXDATE"] if isinstance(master["EXDATE"], list) else [master["EXDATE"]]
    assert [d.dt.strftime("%m-%d %H:%M") for x in exdates for d in x.dts] == ["03-11 10:00"]
    assert set(overrides) == {"03-18", "03-25"}
    moved = overrides["03-18"]
    assert moved.decoded("DTSTART").strftime("%m-%d %H:%M") == "03-19 15:00"
    assert str(moved["SUMMARY"]) == "Karl Kurz – Serie (verschoben)"
    assert str(overrides["03-25"]["STATUS"]) == "CANCELLED"
    assert {str(e["UID"]) for e in vevents} == {str(master["UID"])}


# ---------------------------------------------------------------- upserts


def test_changed_record_is_updated_in_place(live, imported):
    tags, token = etags(live), ctag(live)
    data = practice_data()
    data["appointments"][0]["subject"] = "Beratung (neu)"
    summary = import_data(data)
    assert str(summary).startswith("0 created, 1 updated")
    after = etags(live)
    assert set(after) == set(tags)  # same URLs: updated, not re-created
    changed = [h for h in after if after[h] != tags[h]]
    assert len(changed) == 1
    assert ctag(live) != token
    body = live.request("GET", changed[0], user=USER, password=PASSWORD).text
    assert "SUMMARY:Karl Kurz – Beratung (neu)" in body
    import_data(practice_data())  # back


def test_patient_change_reaches_every_appointment_of_the_patient(live, imported):
    tags = etags(live)
    data = practice_data()
    data["patients"][0]["last_name"] = "Lang"
    import_data(data)
    try:
        after = etags(live)
        assert sum(after[h] != tags[h] for h in after) == 2  # the single one and the series
        assert len(Patient.select().where(Patient.external_id == "imp-pat1")) == 1
        _, cal = find(calendars(live), "Beratung")
        assert "Karl Lang" in str(next(iter(cal.walk("VEVENT")))["SUMMARY"])
    finally:
        import_data(practice_data())


def test_practitioner_is_matched_by_external_id(live, imported):
    data = practice_data()
    data["practitioners"][0].update(display_name="Dr. Ida Import", password="ignored")
    import_data(data)
    ida = Practitioner.get(Practitioner.external_id == "imp-p1")
    assert ida.display_name == "Dr. Ida Import"
    assert (
        live.request("PROPFIND", "/", headers={"Depth": "0"}, user=USER, password=PASSWORD).status_code == 207
    )  # password not reset
    data["practitioners"][0]["username"] = "ida neu"
    with pytest.raises(ImportError_, match=r"practitioners\[0\]\.username"):
        import_data(data)
    assert Practitioner.select().where(Practitioner.external_id == "imp-p1").count() == 1
    import_data(practice_data())


# ---------------------------------------------------------------- errors: one line, nothing imported


def _bad(mutate):
    data = practice_data()
    data["practice"]["id"] = "bad-practice"
    data["practitioners"][0].update(id="bad-p1", username="bad import")
    for key in ("patients", "locations"):
        for rec in data[key]:
            rec["id"] = "bad-" + rec["id"]
    for appt in data["appointments"]:
        appt.update(id="bad-" + appt["id"], practitioner="bad-p1")
        if "patient" in appt:
            appt["patient"] = "bad-imp-pat1"
        if "location" in appt:
            appt["location"] = "bad-imp-loc1"
    mutate(data)
    return data


BAD_RECORDS = {
    "start": (lambda d: d["appointments"][1].update(start="next tuesday"), "appointments[1].start"),
    "offset": (
        lambda d: d["appointments"][1].update(start="2031-03-04T10:00:00+01:00"),
        "appointments[1].start",
    ),
    "practitioner": (
        lambda d: d["appointments"][2].update(practitioner="nobody"),
        "appointments[2].practitioner",
    ),
    "patient": (lambda d: d["appointments"][0].update(patient="nobody"), "appointments[0].patient"),
    "rrule": (lambda d: d["appointments"][1].update(rrule="FREQ=FORTNIGHTLY"), "appointments[1].rrule"),
    "tzid": (lambda d: d["appointments"][1].update(tzid="Europe/Atlantis"), "appointments[1].tzid"),
    "posix-zone": (lambda d: d["practice"].update(timezone="CET+1"), "practice.timezone"),
    "posix-zone-unused": (
        lambda d: (d["practice"].update(timezone="CET+1"), [a.update(tzid="UTC") for a in d["appointments"]]),
        "practice.timezone",
    ),
    "ends-before": (lambda d: d["appointments"][2].update(end="2031-03-01"), "appointments[2].end"),
    "override": (
        lambda d: d["appointments"][1]["overrides"][0].pop("recurrence_id"),
        "appointments[1].overrides[0].recurrence_id",
    ),
    "not-an-object": (lambda d: d["appointments"].append(42), "appointments[3]"),
    "not-a-list": (lambda d: d.update(patients={"id": 1}), "patients"),
    "number": (lambda d: d["patients"][0].pop("patient_number"), "patients[0].patient_number"),
    "duplicate": (lambda d: d["patients"].append(dict(d["patients"][0], id="bad-2")), "patients[1]"),
    "password": (lambda d: d["practitioners"][0].pop("password"), "practitioners[0].password"),
    "email": (lambda d: d["practitioners"][0].update(email="kein-at"), "practitioners[0]"),
    "flag": (lambda d: d["practitioners"][0].update(pseudonymize="ja"), "practitioners[0].pseudonymize"),
    "subject": (lambda d: d["appointments"][0].update(subject=["a"]), "appointments[0].subject"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_record_is_named_and_nothing_is_imported(live, case):
    mutate, where = BAD_RECORDS[case]
    counts = [m.select().count() for m in (Practice, Practitioner, Appointment, Change, Patient)]
    with pytest.raises(ImportError_) as err:
        import_data(_bad(mutate))
    message = str(err.value)
    assert message.startswith(where), message
    assert "\n" not in message
    assert "Karl" not in message and "Kurz" not in message  # no patient data in errors
    assert [m.select().count() for m in (Practice, Practitioner, Appointment, Change, Patient)] == counts
    assert Practice.get_or_none(Practice.external_id == "bad-practice") is None


def test_import_file_errors(live, imported, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{\n "practice": {"id": "x", "name": "y"},\n "appointments": [,]\n}')
    with pytest.raises(ImportError_, match=r"not valid JSON \(line 3\)"):
        import_file(str(broken))
    with pytest.raises(ImportError_, match="cannot read"):
        import_file(str(tmp_path / "missing.json"))
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"practice": {"id": "x", "name": "Praxis Müller"}}'.encode("cp1252"))
    with pytest.raises(ImportError_, match="not UTF-8"):
        import_file(str(latin))
    with pytest.raises(ImportError_, match="cannot read"):
        import_file(str(tmp_path))  # a directory
    with pytest.raises(ImportError_, match="top level"):
        import_data([1, 2])  # type: ignore[arg-type]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(copy.deepcopy(practice_data())), encoding="utf-8")
    assert str(import_file(str(good))).startswith("0 created, 0 updated")


# ---------------------------------------------------------------- schema


def test_schema_version_is_recorded_and_reopening_is_harmless(live):
    assert [r.version for r in SchemaVersion.select()] == [SCHEMA_VERSION]
    open_database(live.db_url)
    open_database(live.db_url)
    assert [r.version for r in SchemaVersion.select()] == [SCHEMA_VERSION]
    resp = live.request("PROPFIND", "/anna_maier/calendar/", CTAG, headers={"Depth": "0"})
    assert resp.status_code == 207
