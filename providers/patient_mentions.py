"""Patients of a practice referred to in free text: by pseudonym or by name.

A pseudonym is a view's mask, never practice data: the data API refuses to store one
(`pseudonyms_in`). A pseudonymized device may not write a patient's name either, because it
never saw the real text it would replace (`names_any_patient`). Both look at every patient of
the practice, not only the appointment's own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import regex

from davserver.pseudonym import mask_patient_data, pseudonym
from providers.models import Patient

_SPACE = regex.compile(r"\s+")
_EDGE = regex.compile(r"^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$")
_MAX_CANDIDATES = 500  # distinct number-like words looked up per text (an IN list)


def _plain(text: str) -> str:
    """NFC, casefolded, any run of whitespace (NBSP included) as one space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text).casefold())


def _number_words(texts: Iterable[str]) -> set[str]:
    """Words that could be a patient number: those with a digit, as written and trimmed."""
    words: set[str] = set()
    for text in texts:
        for word in _SPACE.split(unicodedata.normalize("NFC", text)):
            if any(c.isdigit() for c in word):
                words.update({word, _EDGE.sub("", word)})
    words.discard("")
    return set(sorted(words)[:_MAX_CANDIDATES])


def pseudonyms_in(practice_id: int, texts: Iterable[str | None]) -> list[str]:
    """The pseudonyms of this practice's patients that occur in `texts` (NFC, any case,
    any whitespace); one query, made only when a text holds a word with a digit.

    A pseudonym ends in the patient number, so only patients whose number is a word of the
    text are candidates. A label that is the bare number (a patient without names) is no
    pseudonym here: it cannot be told from an ordinary number.
    """
    texts = [t for t in texts if t]
    words = _number_words(texts)
    if not words:
        return []
    haystack = "\n".join(_plain(t) for t in texts)
    found = []
    query = Patient.select(Patient.first_name, Patient.last_name, Patient.patient_number).where(
        (Patient.practice == practice_id) & Patient.patient_number.in_(sorted(words))
    )
    for first, last, number in query.tuples():
        label = pseudonym(first, last, number)
        if _plain(label) == _plain(str(number)):
            continue
        pattern = r"(?<![\p{L}\p{N}])" + regex.escape(_plain(label)) + r"(?![\p{L}\p{N}])"
        if regex.search(pattern, haystack):
            found.append(label)
    return found


# ---------------------------------------------------------------- names


@lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    """Casefolded, without marks and invisible characters, umlaut spellings merged: a cheap
    superset test before the exact matcher ("Jürgen", "Juergen", "JURGEN" fold alike)."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    bare = "".join(
        c for c in decomposed if unicodedata.category(c)[0] != "M" and unicodedata.category(c) != "Cf"
    )
    return bare.replace("ae", "a").replace("oe", "o").replace("ue", "u")


def _name_words(name: str | None) -> list[str]:
    return [w for w in regex.split(r"[^\p{L}\p{N}]+", _fold(name or "")) if w]


def names_any_patient(practice_id: int, text: str | None) -> bool:
    """Whether `text` names any patient of the practice (first or last name, as the
    pseudonymized renderer would mask it).

    One query over the practice's patients, then the renderer's own matcher for those whose
    name words occur in the text at all. A practice-wide matcher in davserver/pseudonym.py,
    once there is one, should replace this function's body.
    """
    if not text or not text.strip():
        return False
    folded = _fold(text)
    query = Patient.select(Patient.first_name, Patient.last_name).where(Patient.practice == practice_id)
    for first, last in query.tuples():
        words = _name_words(first) + _name_words(last)
        if not any(w in folded for w in words):
            continue
        if mask_patient_data(text, first, last, None, "\x00") != unicodedata.normalize("NFC", text):
            return True
    return False
