"""A hostile practice for the privacy tests: names, texts and device extras that leaked once.

Patients use every hard case of issue 15 (umlauts, ß, ł/ø/đ/ı, names stored in NFD, CJK,
Hangul, Devanagari, an emoji, "Li Wu", "von Berg", "O'Brien", two "Maria Muster");
appointments carry names of *other* patients and phone numbers in every format, some have no
patient at all, and device extras (stored as a clear-mode device would have sent them) name
patients in values, parameters, base64, HTML entities and components.

``SECRETS`` is what must never reach a pseudonymized view: every name token of more than
one character (a one-character part such as "김" or "王" is its own initial and so part of
the pseudonym by rule), every phone number and every home address.
"""

from __future__ import annotations

import base64
import datetime as dt
import unicodedata

from providers.practice import api

NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731 - stored decomposed on purpose

# (external id, patient number, first name, last name, phone)
PATIENTS = [
    ("h-01", "1042", "Maria", "Muster", "+43 664 1234567"),
    ("h-02", "1043", "Maria", "Muster", "+43 650 2223334"),
    ("h-03", "7", NFD("Jürgen"), NFD("Öztürk"), "0664 765 43 21"),
    ("h-04", "1004", "Ayşe", "Yıldız", "+90 532 1112233"),
    ("h-05", "1005", "Łukasz", "Wałęsa", "+48 601 998877"),
    ("h-06", "1006", "Søren", "Ærø", "+45 2012 3456"),
    ("h-07", "1007", "Đorđe", "Đoković", "+381 64 1239876"),
    ("h-08", "1008", "Li", "Wu", "0043 1 4445556"),
    ("h-09", "1009", "Anna-Lena", "von Berg", "+43 1 5559876"),
    ("h-10", "1010", "小明", "王", "+86 138 0013 8000"),
    ("h-11", "1011", "민준", "김", "+82 10 2345 6789"),
    ("h-12", "1012", "मनोज", "शर्मा", "+91 98765 43210"),
    ("h-13", "1013", "Sinéad", "O'Brien", "+353 87 6543210"),
    ("h-14", "1014", "Zoë🌸", "Straßmann", "0676 3332221"),
    ("h-15", "1015", "Hämäläinen", "Eeva", "+358 40 7654321"),
]

HOME_ADDRESS = "Quellenstraße 88/14"
# Appointment 1 as a device named it (issue 15, 6): its name and UID spell a patient.
DEVICE_NAMED = ("Maria-Muster-Kontrolle.ics", "kontrolle-maria-muster-2026@example")
LANDLINE = "57913"

SECRETS = sorted(
    {
        part
        for _, _, first, last, _ in PATIENTS
        for field in (first, last)
        for part in unicodedata.normalize("NFC", field).replace("-", " ").replace("'", " ").split()
        if len(part.rstrip("🌸")) > 1 and part not in ("von",)
    }
    | {phone for *_, phone in PATIENTS}
    | {"Quellenstraße", "Gasse 17"}
)
# Found by eye in a rendering; the scanner takes them as extra secrets of their own.
EXTRA_SECRETS = ["Zoë", "LiWu", "王小明", "김민준"]

_B64 = base64.b64encode(b"Befund Maria Muster, Tel. +43 664 1234567").decode()

# What a clear-mode device (or a colleague with a read-write grant) stored with an event.
DEVICE_EXTRAS = "\r\n".join(
    [
        'ATTENDEE;CN="Maria Muster";ROLE=REQ-PARTICIPANT:mailto:maria.muster@example.org',
        "ORGANIZER;CN=Jürgen Öztürk:mailto:j.oeztuerk@example.org",
        'X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE="Hausbesuch Maria Muster":geo:48.2,16.3',
        'CONTACT;ALTREP="cid:x@example.org":Ayşe Yıldız\\, 0664·765·43·21',
        f"ATTACH;ENCODING=BASE64;VALUE=BINARY;FMTTYPE=text/plain:{_B64}",
        "X-ALT-DESC;FMTTYPE=text/html:<p>R&uuml;ckruf &#197;r&#248; 0664&#160;765&#160;43&#160;21</p>",
        "COMMENT:Soeren Aero bringt Befund",
        "CATEGORIES:Wałęsa,Kontrolle",
        "DESCRIPTION:Lukasz Walesa anrufen",
        "X-CUSTOM;X-NOTE=Dorde^'Djokovic^':1",
        "COLOR:Muster",
        "COLOR:turquoise",
        "TRANSP:OPAQUE",
        "SEQUENCE:3",
        "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
        "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "TRIGGER;RELATED=START:-PT15M",
        "DESCRIPTION:Maria Muster anrufen 0664 123 45 67",
        "X-WR-ALARMUID:maria-muster-alarm",
        "UID:4E1C9A3B-0D5F-4C7E-9B1A-2F6D8E3C7A10",
        "END:VALARM",
        "BEGIN:VALARM",
        "ACTION:EMAIL",
        "TRIGGER:-PT1H",
        "ATTENDEE:mailto:maria.muster@example.org",
        "SUMMARY:Maria Muster",
        "DESCRIPTION:Maria Muster",
        "END:VALARM",
    ]
)
DEVICE_COMPONENT = "BEGIN:X-PATIENT\r\nX-NAME:Zoë Straßmann\r\nEND:X-PATIENT"

# (patient index or None, subject, notes, location key or None)
APPOINTMENTS = [
    (None, "Telefonat mit Maria Muster wegen Befund", "Rückruf +43 664 1234567", None),
    (0, "Kontrolle", "Begleitung: Ehemann Jürgen Öztürk, 0664 765 43 21", "home"),
    (2, "Befund für Herrn Öztürk", "Jürgen bringt Röntgen mit", "practice"),
    (3, "AYŞE YILDIZ Nachkontrolle", f"Tel. {LANDLINE}", None),
    (None, "Lukasz Walesa und Soeren Aero", "0664·765·43·21 / 0664 ; 765 ; 4321", None),
    (6, "Dorde Djokovic Erstgespräch", "0664_765_43_21", "practice"),
    (7, "LiWu Kontrolle", "Li Wu und Wu Li", None),
    (9, "王小明复诊", "", None),
    (10, "김민준님 상담", "", None),
    (11, "मनोज शर्मा जाँच", "", None),
    (12, "Sinead OBrien, Sinéad O’Brien", "", None),
    (13, "Zoë Straßmann (Strassmann)", "", "home2"),
    (8, "Anna-Lena von Berg", f"wohnt {HOME_ADDRESS}", None),
    (14, "EEVA Hamalainen", "", None),
    (None, "Teambesprechung", "", "practice"),
]


def build(practitioner, practice) -> list:
    """Patients, locations and appointments of the corpus (device extras on every other one)."""
    patients = [api.upsert_patient(practice, n, f, last, ph, ext) for ext, n, f, last, ph in PATIENTS]
    locations = {
        "practice": api.upsert_location(practice, "Praxis am Park", "Parkring 1", "h-loc-1"),
        "home": api.upsert_location(practice, "Hausbesuch Familie Öztürk", HOME_ADDRESS, "h-loc-2"),
        "home2": api.upsert_location(practice, "Hausbesuch", "Gasse 17", "h-loc-3"),
    }
    start = dt.datetime(2026, 12, 1, 8)
    rows = []
    for i, (patient, subject, notes, location) in enumerate(APPOINTMENTS):
        begin = start + dt.timedelta(days=i // 4, hours=i % 4)
        name, uid = DEVICE_NAMED if i == 1 else (f"corpus-{i}.ics", f"corpus-{i}")
        device = None
        if i % 2 == 0:
            device = (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//device//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uid}\r\n{DEVICE_EXTRAS}\r\nEND:VEVENT\r\n{DEVICE_COMPONENT}\r\nEND:VCALENDAR\r\n"
            )
        fields = api.AppointmentFields(
            begin,
            begin + dt.timedelta(minutes=50),
            subject=subject,
            notes=notes,
            location=locations.get(location) if location else None,
            location_text=f"bei {HOME_ADDRESS}" if i == 4 else None,
            rrule="FREQ=WEEKLY;COUNT=3" if i == 2 else None,
            device_ical=device,
        )
        rows.append(
            api.create_appointment(
                practitioner,
                fields,
                patient=patients[patient] if patient is not None else None,
                uid=uid,
                resource_name=name,
            )
        )
    return rows
