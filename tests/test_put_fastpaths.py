"""The shortcuts of the PUT path give exactly what the long way gives: parsing with cached
VTIMEZONEs, the 'cannot equal a rendering' test before the ETag decision, and the INSERTs
built once per column set."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest

from davserver.ical import parse as ical_parse
from davserver.ical import render
from davserver.methods import put
from providers.practice import api, store
from providers.practice.api import appointment_fields
from providers.practice.models import Appointment, database_proxy
from providers.sql.db import open_database

ZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:{name}\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
)
EVENT = (
    "BEGIN:VEVENT\r\nUID:fast-1\r\nDTSTART;TZID={name}:20300105T100000\r\n"
    "DTEND;TZID={name}:20300105T110000\r\nSUMMARY:s\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\n"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:fast-1\r\nRECURRENCE-ID;TZID={name}:20300112T100000\r\n"
    "DTSTART;TZID={name}:20300112T120000\r\nDTEND;TZID={name}:20300112T130000\r\n"
    "END:VEVENT\r\n"
)
HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
END = "END:VCALENDAR\r\n"


def _bodies() -> list[str]:
    custom, vienna = ZONE.format(name="Fast Custom"), ZONE.format(name="Europe/Vienna")
    ev = EVENT.format(name="Fast Custom")
    return [
        HEAD + custom + ev + END,
        HEAD + ev + custom + END,  # forward reference
        HEAD + vienna + EVENT.format(name="Europe/Vienna") + END,
        HEAD + custom + ZONE.format(name="Fast Other") + ev + END,
        HEAD + custom.replace("TZOFFSETTO:+0100", "TZOFFSETTO:broken") + ev + END,
        HEAD + custom + ev + END + HEAD + END,  # two calendars
        HEAD + "BEGIN:VEVENT\r\n" + custom + "UID:n\r\nDTSTART:20300101T100000\r\nEND:VEVENT\r\n" + END,
        HEAD + custom.replace("DTSTART:1970", "DTSTART;TZID=X:1970") + ev + END,
        HEAD + custom.replace("\r\nTZOFFSETFROM:+0200", "\r\n TZOFFSETFROM:+0200") + ev + END,
        HEAD + custom.replace("END:VTIMEZONE", "END:STANDARD") + ev + END,
        (HEAD + custom + ev + END).replace("\r\n", "\n"),
    ]


def _outcome(body: str):
    try:
        obj = ical_parse.parse_object(body.encode())
    except ical_parse.InvalidObject as exc:
        return ("refused", exc.condition, exc.message)
    return (
        obj.uid,
        obj.master.to_ical(),
        repr(obj.master["DTSTART"].dt),
        [(o.to_ical(), repr(o["DTSTART"].dt)) for o in obj.overrides],
        {k: v.to_ical() for k, v in obj.timezones.items()},
        obj.text,
    )


@pytest.mark.parametrize("body", _bodies())
def test_cached_zones_parse_like_the_full_parse(body):
    ical_parse._ZONES.clear()
    first = _outcome(body)  # full parse (and the zones are remembered)
    again = _outcome(body)  # with cached zones, where the body allows it
    assert again == first


def test_known_zones_are_used_from_the_cache():
    ical_parse._ZONES.clear()
    body = _bodies()[0]
    _outcome(body)
    assert len(ical_parse._ZONES) == 1
    key = next(iter(ical_parse._ZONES))
    assert ical_parse.parse_object(body.encode()).timezones["Fast Custom"] is ical_parse._ZONES[key]


@pytest.fixture()
def sqlite_db(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'fast.db'}")
    yield db
    database_proxy.close()


def _fields(**kwargs) -> api.AppointmentFields:
    return api.AppointmentFields(dt.datetime(2030, 1, 7, 9), dt.datetime(2030, 1, 7, 10), **kwargs)


def test_every_rendering_carries_the_mark(sqlite_db):
    practice = api.get_or_create_practice("Fast")
    owner = api.create_practitioner(practice, "fast", "pw")
    patient = api.upsert_patient(practice, "1", "Anna", "Leitner", phone="+43 1")
    device = HEAD + "BEGIN:VEVENT\r\nUID:d\r\nDTSTART:20300107T090000\r\nX-A:b\r\nEND:VEVENT\r\n" + END
    rows = [
        api.create_appointment(owner, _fields(subject="x"), patient=patient),
        api.create_appointment(owner, _fields(tzid=None, device_ical=device)),
        api.create_appointment(owner, _fields(all_day=True, tzid=None)),
        api.create_appointment(
            owner,
            _fields(
                rrule="FREQ=DAILY;COUNT=3",
                overrides=[
                    api.OverrideFields(
                        dt.datetime(2030, 1, 8, 9),
                        dt.datetime(2030, 1, 8, 11),
                        dt.datetime(2030, 1, 8, 12),
                        "Europe/Vienna",
                    )
                ],
            ),
        ),
    ]
    for row in rows:
        full = store.load_one(owner.id, row.resource_name)
        for policy in (
            render.RenderPolicy(),
            render.RenderPolicy(True, False),
            render.RenderPolicy(False, True),
        ):
            assert put._RENDERED_MARK in render.render_appointment(full, policy)


def test_prepared_insert_stores_what_model_create_stores(sqlite_db):
    practice = api.get_or_create_practice("Fast")
    owner = api.create_practitioner(practice, "fast", "pw")
    fields = _fields(subject="s", notes="n", device_ical="D", exdates=[dt.datetime(2030, 1, 8, 9)])
    made = api.create_appointment(owner, fields, uid="u1", resource_name="r1.ics")
    values = dict(
        practice=owner.practice_id,
        practitioner=owner,
        patient=None,
        uid="u2",
        resource_name="r2.ics",
        revision=made.revision,
        external_id=None,
        **appointment_fields._row_values(fields),
    )
    values["created_at"], values["modified_at"] = made.created_at, made.modified_at
    Appointment.create(**values)
    columns = [c.name for c in sqlite_db.get_columns("appointment")]
    skip = {"id", "uid", "resource_name"}
    typed = ", ".join(f"typeof({c}), {c}" for c in columns if c not in skip)
    a, b = sqlite_db.execute_sql(f"SELECT {typed} FROM appointment ORDER BY id").fetchall()
    assert a == b
    assert made.id == 1 and not made.is_dirty()


@pytest.mark.parametrize(
    "line",
    [
        "BEGIN:VEVENT",
        "end:vtimezone",
        "BEGIN:X-FOO-1",
        "Begin:Standard",
        "BEGIN;X=1:VALARM",
        "END:VEVENT ",
        "BEGINX:y",
        "ENDING:z",
        "SUMMARY:x",
    ],
)
def test_structure_lines_read_like_icalendar(line):
    from icalendar.parser.content_line import Contentline

    content = Contentline(line)
    name, _, value = content.parts()
    expected = (name.upper(), value.upper()) if name.upper() in ("BEGIN", "END") else None
    assert ical_parse._structure(content) == expected


def test_a_created_row_returned_as_stored_renders_like_the_row_read_back(db_url):
    """PostgreSQL's create returns the stored row, and PUT renders that instead of reading
    it again: it must be the same row, its location included, down to the rendering."""
    open_database(db_url)
    practice = api.get_or_create_practice("Fast Returning", "fast-returning")
    owner = api.find_practitioner("fast returning") or api.create_practitioner(
        practice, "fast returning", "pw"
    )
    room = api.upsert_location(practice, "Raum R", "Gasse 1, 1010 Wien", external_id="room-r")
    device = HEAD + "BEGIN:VEVENT\r\nUID:ret\r\nDTSTART:20300107T090000\r\nX-A:b\r\nEND:VEVENT\r\n" + END
    made = api.create_appointment(
        owner, _fields(subject="s", location=room, device_ical=device, exdates=[dt.datetime(2030, 1, 8, 9)])
    )
    assert made.as_stored == isinstance(database_proxy.obj, pw.PostgresqlDatabase)
    read = store.load_one(owner.id, made.resource_name)
    assert made.__data__ == read.__data__ and not made.is_dirty()
    assert made.location.name == "Raum R" and made.patient is None
    assert made.override_rows == ([] if made.as_stored else None)  # None: not loaded
    policy = render.RenderPolicy()
    assert render.render_appointment(made, policy) == render.render_appointment(read, policy)
    with_overrides = api.create_appointment(
        owner,
        _fields(
            rrule="FREQ=DAILY;COUNT=3",
            overrides=[
                api.OverrideFields(
                    dt.datetime(2030, 1, 8, 9),
                    dt.datetime(2030, 1, 8, 11),
                    dt.datetime(2030, 1, 8, 12),
                    "Europe/Vienna",
                )
            ],
        ),
    )
    assert not with_overrides.as_stored  # a series with overrides is read again
