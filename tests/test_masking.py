"""Practice-wide masking: every reproducer of issue 15 (names and phone formats) is pinned."""

from __future__ import annotations

import unicodedata

import pytest

from providers.practice.masking import Person, PracticeNames, contains_patient_name, mask_phones, mask_text

PEOPLE = PracticeNames(
    [
        Person("Maria", "Muster", "1042"),
        Person("Maria", "Muster", "1043"),
        Person(unicodedata.normalize("NFD", "Jürgen"), "Öztürk", "7"),
        Person("Ayşe", "Yıldız", "1004"),
        Person("Łukasz", "Wałęsa", "1005"),
        Person("Søren", "Ærø", "1006"),
        Person("Đorđe", "Đoković", "1007"),
        Person("Li", "Wu", "1008"),
        Person("小明", "王", "1010"),
        Person("민준", "김", "1011"),
        Person("Zoë🌸", "Straßmann", "1014"),
        Person("Sinéad", "O'Brien", "1013"),
    ]
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Telefonat mit Maria Muster wegen Befund", "Telefonat mit … wegen Befund"),  # two of them
        ("Begleitung: Ehemann Jürgen Öztürk", "Begleitung: Ehemann JüÖz 7"),
        ("Hausbesuch Familie Öztürk", "Hausbesuch Familie JüÖz 7"),
        ("AYŞE YILDIZ", "AyYı 1004"),
        ("Lukasz Walesa", "ŁuWa 1005"),
        ("Soeren", "SøÆr 1006"),
        ("Soren", "SøÆr 1006"),
        ("Aero", "SøÆr 1006"),
        ("Dorde Djokovic", "ĐoĐo 1007"),
        ("王小明复诊", "小王 1010复诊"),
        ("김민준님", "민김 1011님"),
        ("LiWu", "LW 1008"),
        ("Zoë Straßmann", "ZoSt 1014"),
        ("Strassmann", "ZoSt 1014"),
        ("Sinead OBrien", "SiOb 1013"),
        ("Ju\u0308r\u00adgen", "JüÖz 7"),
        ("ｍａｒｉａ", "…"),
    ],
)
def test_names_of_every_patient_in_every_spelling_are_masked(text, expected) -> None:
    assert mask_text(text, PEOPLE) == expected
    assert contains_patient_name(text, PEOPLE)


@pytest.mark.parametrize(
    "text",
    ["Kontrolle nach OP", "Teambesprechung", "Befund am Dienstag", "Röntgen", "Wundkontrolle"],
)
def test_ordinary_text_is_left_alone(text) -> None:
    assert mask_text(text, PEOPLE) == text
    assert not contains_patient_name(text, PEOPLE)


@pytest.mark.parametrize(
    "phone",
    [
        "0664·765·43·21",
        "0664 ; 765 ; 4321",
        "0664_765_43_21",
        "0664&#160;765&#160;43&#160;21",
        "+43 (0) 664/123 45 67",
        "57913",
        "0664 123 45 67",
    ],
)
def test_every_phone_format_is_masked(phone) -> None:
    assert mask_phones(f"Rückruf {phone} bitte") == "Rückruf … bitte"


@pytest.mark.parametrize("text", ["am 01.12.2026", "2026-12-01", "9:00-10:30", "Raum 12", "1234"])
def test_dates_times_and_short_numbers_are_no_phones(text) -> None:
    assert mask_phones(text) == text
