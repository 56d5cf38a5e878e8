"""The demo practice: generated relative to today, loaded through the JSON import path."""

from __future__ import annotations

import datetime as dt

from providers.practice.importer import ImportSummary, import_data

DEMO_USER = "anna maier"
DEMO_PASSWORD = "demo-praxis"
DEMO_COLLEAGUE = "bernd huber"


def demo_data(today: dt.date | None = None) -> dict:
    """A small practice with single appointments, a weekly series with exceptions and an all-day event."""
    today = today or dt.date.today()
    monday = today - dt.timedelta(days=today.weekday())

    def at(days: int, hour: int, minute: int = 0) -> str:
        return dt.datetime.combine(monday + dt.timedelta(days=days), dt.time(hour, minute)).isoformat()

    patients = [
        ("pat-1", "1042", "Maria", "Muster", "+43 664 1234567"),
        ("pat-2", "7", "Jürgen", "Öztürk", "+43 676 7654321"),
        ("pat-3", "2001", "Anna-Lena", "von Berg", None),
        ("pat-4", "315", "Sophie", "Gruber", "+43 1 5551234"),
    ]
    appointments = [
        {
            "id": "demo-a1",
            "practitioner": "prac-1",
            "patient": "pat-1",
            "location": "loc-1",
            "subject": "Erstgespräch",
            "start": at(0, 9),
            "end": at(0, 9, 50),
        },
        {
            "id": "demo-a2",
            "practitioner": "prac-1",
            "patient": "pat-2",
            "location": "loc-1",
            "subject": "Physiotherapie",
            "start": at(1, 10),
            "end": at(1, 10, 50),
            "rrule": "FREQ=WEEKLY;COUNT=12",
            "exdates": [at(15, 10)],
            "overrides": [{"recurrence_id": at(8, 10), "start": at(9, 14), "end": at(9, 14, 50)}],
        },
        {
            "id": "demo-a3",
            "practitioner": "prac-1",
            "patient": "pat-3",
            "location": "loc-2",
            "subject": "Hausbesuch",
            "start": at(2, 16),
            "end": at(2, 16, 50),
        },
        {
            "id": "demo-a4",
            "practitioner": "prac-1",
            "subject": "Fortbildung",
            "all_day": True,
            "start": (monday + dt.timedelta(days=4)).isoformat(),
            "end": (monday + dt.timedelta(days=5)).isoformat(),
        },
        {
            "id": "demo-a5",
            "practitioner": "prac-1",
            "patient": "pat-4",
            "location": "loc-1",
            "subject": "Kontrolle",
            "start": at(3, 8, 30),
            "end": at(3, 9, 20),
            "rrule": "FREQ=WEEKLY;BYDAY=TH",
            "notes": "Befund mitbringen",
        },
        {
            "id": "demo-b1",
            "practitioner": "prac-2",
            "patient": "pat-4",
            "location": "loc-1",
            "subject": "Erstgespräch",
            "start": at(0, 11),
            "end": at(0, 11, 50),
        },
    ]
    return {
        "practice": {"id": "demo-practice", "name": "Praxis am Park", "timezone": "Europe/Vienna"},
        "practitioners": [
            {
                "id": "prac-1",
                "username": DEMO_USER,
                "display_name": "Dr. Anna Maier",
                "email": "anna.maier@example.org",
                "password": DEMO_PASSWORD,
                "include_phone": True,
            },
            {
                "id": "prac-2",
                "username": DEMO_COLLEAGUE,
                "display_name": "Bernd Huber",
                "email": None,
                "password": DEMO_PASSWORD,
            },
        ],
        "patients": [
            {"id": i, "patient_number": n, "first_name": f, "last_name": last, "phone": p}
            for i, n, f, last, p in patients
        ],
        "locations": [
            {"id": "loc-1", "name": "Praxis am Park", "address": "Parkring 1, 1010 Wien"},
            {"id": "loc-2", "name": "Hausbesuch"},
        ],
        "appointments": appointments,
    }


def load_demo(today: dt.date | None = None) -> ImportSummary:
    return import_data(demo_data(today))
