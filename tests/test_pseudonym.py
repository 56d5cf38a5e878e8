"""Pseudonyms and masking decide what of a patient's identity reaches devices: every edge
case of the documented rules is pinned here."""

from __future__ import annotations

import unicodedata

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.practice.pseudonym import mask_patient_data, pseudonym


def _graphemes(text: str) -> list[str]:
    return regex.findall(r"\X", text)


# --- pseudonym: one test per rule -------------------------------------------------------


def test_examples() -> None:
    assert pseudonym("Maria", "Muster", 1042) == "MaMu 1042"
    assert pseudonym("Jürgen", "Öztürk", 7) == "JüÖz 7"


def test_decomposed_input_gives_composed_result() -> None:
    decomposed = unicodedata.normalize("NFD", "Jürgen"), unicodedata.normalize("NFD", "Öztürk")
    assert pseudonym(*decomposed, 7) == "JüÖz 7"


def test_one_letter_names() -> None:
    assert pseudonym("Li", "O", 3) == "LO 3"
    assert pseudonym("O", "Li", 3) == "OL 3"


@pytest.mark.parametrize("missing", [None, "", "   ", "\t\n", " - "])
def test_missing_first_or_last_name(missing: str | None) -> None:
    assert pseudonym(missing, "Muster", 1042) == "Mu 1042"
    assert pseudonym("Maria", missing, 1042) == "Ma 1042"
    assert pseudonym(missing, missing, 1042) == "1042"


def test_first_given_name_of_hyphenated_and_multiple_given_names() -> None:
    assert pseudonym("Anna-Lena", "Berg", 1) == "AnBe 1"
    assert pseudonym("Anna Maria", "Berg", 1) == "AnBe 1"


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ("von Berg", "Be"),
        ("Von Berg", "Be"),
        ("van der Berg", "Be"),
        ("De Luca", "Lu"),
        ("di Stefano", "St"),
        ("Van", "Va"),
        ("von", "Vo"),
        ("Müller-Lüdenscheidt", "Mü"),
        ("García Márquez", "Ga"),
    ],
)
def test_family_name_skips_particles(last: str, expected: str) -> None:
    assert pseudonym("Anna-Lena", last, 1) == f"An{expected} 1"


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("Dr. Maria", "Muster"),
        ("Mag. Maria", "Muster"),
        ("Prof. Dr. Maria", "Muster"),
        ("DI Maria", "Muster"),
        ("MMag. Maria", "Muster"),
        ("Dipl.-Ing. Maria", "Muster"),
        ("Dr.in Maria", "Muster"),
        ("Mag.a Maria", "Muster"),
        ("Univ.-Prof. Dr. med. Maria", "Muster"),
        ("Frau Maria", "Muster"),
        ("Maria", "Dr. Muster"),
        ("Maria", "Muster, MSc"),
        ("Maria", "Muster BSc PhD"),
        ("dr. maria", "MUSTER"),
    ],
)
def test_academic_titles_are_skipped(first: str, last: str) -> None:
    assert pseudonym(first, last, 1042) == "MaMu 1042"


def test_title_only_field_counts_as_missing_but_ambiguous_words_stay_names() -> None:
    assert pseudonym("Prof. Dr.", "Muster", 1) == "Mu 1"
    assert pseudonym("Li", "MA", 1) == "LM 1"  # the surname Ma, written in capitals
    assert pseudonym("Di", "Wu", 1) == "DW 1"  # "DI" is a title only in capitals
    assert pseudonym("A.", "Muster", 1) == "AMu 1"  # an initial, not a title


def test_leading_trailing_and_multiple_spaces() -> None:
    assert pseudonym("  Maria   Anna ", "\u00a0Muster  ", " 1042 ") == "MaMu 1042"


def test_emoji_sequences_are_one_character() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert pseudonym(family + "xz", "\U0001f1e6\U0001f1f9yz", 1) == f"{family}x\U0001f1e6\U0001f1f9y 1"


@pytest.mark.parametrize(
    ("first", "last", "number", "expected"),
    [
        ("Li", "Wu", 1008, "LW 1008"),
        ("민준", "김", 1011, "민김 1011"),
        ("小明", "王", 1010, "小王 1010"),
        ("Eva", "Ott", 3, "EvOt 3"),
        ("मनोज", "शर्मा", 12, None),
    ],
)
def test_a_pseudonym_never_spells_a_whole_name_part(first, last, number, expected) -> None:
    label = pseudonym(first, last, number)
    if expected is not None:
        assert label == expected
    letters = label.rsplit(" ", 1)[0]
    for part in (first, last):  # a one-character part is its own (only possible) initial
        if len(_graphemes(part)) > 1:
            assert unicodedata.normalize("NFC", part) not in letters


def test_capitalisation_is_normalised() -> None:
    assert pseudonym("MARIA", "MUSTER", 1042) == "MaMu 1042"
    assert pseudonym("maria", "mUSTER", 1042) == "MaMu 1042"
    assert pseudonym("ǆenan", "ÖZTÜRK", 7) == "ǅeÖz 7"


def test_case_change_never_changes_a_letter_or_adds_one() -> None:
    assert pseudonym("ßaz", "ıbz", 1) == "ßaıb 1"  # "SS" would be two, "I" another letter


def test_punctuation_inside_names_is_skipped() -> None:
    assert pseudonym("Jean-Luc", "O'Brien", 5) == "JeOb 5"
    assert pseudonym("(Maria)", "'Muster", 5) == "MaMu 5"


def test_patient_id_forms() -> None:
    assert pseudonym("Maria", "Muster", "P-1042") == "MaMu P-1042"
    assert pseudonym("Maria", "Muster", "10 42") == "MaMu 10 42"
    assert pseudonym("Maria", "Muster", "") == "MaMu"
    assert pseudonym("Maria", "Muster", "Muster 1042") == "MaMu 1042"  # name typed into the ID
    with pytest.raises(TypeError):
        pseudonym("Maria", "Muster", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pseudonym("Maria", "Muster", True)


def test_junction_of_the_two_parts_may_look_like_a_name() -> None:
    # "AnNa" contains "nna" from "Anna": a coincidence at the junction of two two-character
    # parts, it reveals nothing beyond "An" + "Na". No 3-character window inside one part.
    assert pseudonym("Anna", "Nabil", 1) == "AnNa 1"


# --- pseudonym: properties --------------------------------------------------------------

_name_chars = st.characters(codec="utf-8", exclude_categories=("Cs",))
_names = st.one_of(
    st.none(),
    st.text(_name_chars, max_size=12),
    st.sampled_from(
        [
            "Anna-Lena",
            "von Berg",
            "Prof. Dr. Jürgen",
            "Öztürk",
            "O'Brien",
            "Li",
            "Ju\u0308rgen",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467",
            "MA",
            "ß",
        ]
    ),
)
_ids = st.integers(min_value=0, max_value=10**12)


def _half(first: str | None, last: str | None, pid: int) -> str:
    out = pseudonym(first, last, pid)
    return out[: -len(str(pid))].rstrip(" ")


def _subsequence(part: str, field: str | None) -> bool:
    """Every character of ``part`` is (case-insensitively) a character of ``field``, in order."""
    wanted = [g.casefold() for g in _graphemes(part)]
    have = iter(g.casefold() for g in _graphemes(unicodedata.normalize("NFC", field or "")))
    return all(any(w == h for h in have) for w in wanted)


@settings(max_examples=400, deadline=None)
@given(_names, _names, _ids)
def test_property_at_most_two_characters_of_each_field(first: str | None, last: str | None, pid: int) -> None:
    out = pseudonym(first, last, pid)
    first_part, last_part = _half(first, None, pid), _half(None, last, pid)
    letters = unicodedata.normalize("NFC", first_part + last_part)
    assert out == (f"{letters} {pid}" if letters else str(pid))
    for part, field in ((first_part, first), (last_part, last)):
        assert len(_graphemes(part)) <= 2
        assert _subsequence(part, field)


@settings(max_examples=400, deadline=None)
@given(_names, _names, _ids)
def test_property_no_three_character_window_of_a_name_part(
    first: str | None, last: str | None, pid: int
) -> None:
    for field, part in ((first, _half(first, None, pid)), (last, _half(None, last, pid))):
        shown = [g.casefold() for g in _graphemes(part)]
        for name_part in (field or "").split():
            chars = [g.casefold() for g in _graphemes(unicodedata.normalize("NFC", name_part))]
            windows = {tuple(chars[i : i + 3]) for i in range(len(chars) - 2)}
            assert not windows & {tuple(shown[i : i + 3]) for i in range(len(shown) - 2)}


@settings(max_examples=400, deadline=None)
@given(_names, _ids)
def test_property_never_a_whole_name_word_of_more_than_one_character(field: str | None, pid: int) -> None:
    for part in (_half(field, None, pid), _half(None, field, pid)):
        shown = [g.casefold() for g in _graphemes(part)]
        for word in (field or "").split():
            graphemes = _graphemes(unicodedata.normalize("NFC", word))
            # A character of a name: not punctuation, space, control or a lone mark.
            letters = [g.casefold() for g in graphemes if unicodedata.category(g[0])[0] not in "PZCM"]
            if len(letters) > 1:
                assert shown != letters


@settings(max_examples=300, deadline=None)
@given(_names, _names, _ids)
def test_property_nfc_deterministic_and_normalisation_invariant(
    first: str | None, last: str | None, pid: int
) -> None:
    out = pseudonym(first, last, pid)
    assert unicodedata.is_normalized("NFC", out)
    assert pseudonym(first, last, pid) == out

    def nfd(s: str | None) -> str | None:
        return None if s is None else unicodedata.normalize("NFD", s)

    assert pseudonym(nfd(first), nfd(last), pid) == out


# --- mask_patient_data ------------------------------------------------------------------


def _mask(
    text: str, first: str = "Anna-Lena", last: str = "von Berg", phone: str | None = "+43 664 1234567"
) -> str:
    return mask_patient_data(text, first, last, phone, "█")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Anna-Lena von Berg kommt", "█ kommt"),
        ("Anna und Lena", "█ und █"),
        ("ANNA-LENA, berg", "█"),
        ("annalena.berg@gmx.at", "█@gmx.at"),
        ("Annas Befund, Bergs Rückruf", "█s Befund, █s Rückruf"),
        ("Termin von 9 bis 10", "Termin von 9 bis 10"),  # particle alone: not masked
        ("Bergsteigen", "█steigen"),  # over-masking, accepted
    ],
)
def test_mask_names(text: str, expected: str) -> None:
    assert _mask(text) == expected


def test_mask_is_accent_umlaut_and_invisible_character_insensitive() -> None:
    text = "Jürgen, Jurgen, JUERGEN, Jür\u00adgen, Ju\u0308rgen am Montag"
    assert mask_patient_data(text, "Jürgen", "Öztürk", None, "█") == "█ am Montag"
    assert mask_patient_data("Oeztuerks Akte", "Jürgen", "Öztürk", None, "█") == "█s Akte"


def test_short_names_only_as_whole_words() -> None:
    text = "Li kommt, Linie 3, Lis Hund, li@example.org, Li2, Medizinal Ina."
    masked = mask_patient_data(text, "Ina", "Li", None, "█")
    assert masked == "█ kommt, Linie 3, █ Hund, █@example.org, █2, Medizinal █."


def test_one_letter_name_and_apostrophes() -> None:
    assert mask_patient_data("O. kommt, Ort", "Jin", "O", None, "█") == "█. kommt, Ort"
    assert mask_patient_data("Mr OBrien called", "Sean", "O'Brien", None, "█") == "Mr O█ called"


def test_titles_are_not_masked() -> None:
    masked = mask_patient_data("Dr. Maria Muster, MSc", "Dr. Maria", "Muster MSc", None, "█")
    assert masked == "Dr. █, MSc"


@pytest.mark.parametrize(
    "number",
    [
        "+43 664 1234567",
        "0664/1234567",
        "0043 (0) 664 123 45 67",
        "0664-123-4567",
        "1234567",
        "0664\u00a01234567",
        "0664\u200b1234567",
    ],
)
def test_mask_phone_in_any_format(number: str) -> None:
    assert _mask(f"Rückruf unter {number} bitte") == "Rückruf unter █ bitte"


def test_phone_in_uri_and_next_to_name() -> None:
    assert _mask("tel:+436641234567") == "tel:█"
    assert _mask("Berg 0664 1234567") == "█"


def test_phone_does_not_mask_other_numbers() -> None:
    text = "Termin 14.03.2026 um 10:30, Raum 12, Praxis 01 5551234"
    assert _mask(text) == text
    assert mask_patient_data("Raum 1234", "A", "B", "1234", "█") == "Raum 1234"  # < 5 digits


def test_mask_returns_nfc_and_handles_missing_data() -> None:
    assert mask_patient_data("Cafe\u0301", None, None, None, "█") == "Café"
    assert mask_patient_data("", "Maria", "Muster", "0664 1234567", "█") == ""


_long_names = st.sampled_from(
    ["Maria", "Muster", "Jürgen", "Öztürk", "Anna-Lena", "Berg-Huber", "Ğülşen", "Nguyễn", "Ωμέγα"]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), _long_names, st.text(max_size=20), st.booleans())
def test_property_masked_text_never_contains_the_name(
    prefix: str, name: str, suffix: str, as_last: bool
) -> None:
    first, last = (None, name) if as_last else (name, None)
    written = name.upper() if len(prefix) % 2 else unicodedata.normalize("NFD", name)
    out = mask_patient_data(prefix + written + suffix, first, last, None, "█")
    folded = unicodedata.normalize("NFC", out).casefold()
    for part in name.split("-"):
        assert unicodedata.normalize("NFC", part).casefold() not in folded


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([" ", "-", "/", ".", ""]), min_size=9, max_size=9),
    st.sampled_from(["+43", "0043", "0", "+43 (0)"]),
)
def test_property_phone_with_any_separators_is_masked(seps: list[str], prefix: str) -> None:
    digits = "6641234567"
    written = prefix + " " + "".join(d + s for d, s in zip(digits, seps + [""], strict=True))
    out = _mask(f"Tel {written} ok")
    assert out == "Tel █ ok"
