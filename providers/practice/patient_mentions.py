"""Pseudonyms of a practice's patients in free text.

A pseudonym is a view's mask, never practice data: the data API refuses to store one
(`pseudonyms_in`), of any patient of the practice, not only the appointment's own. (Names
in text are found by providers/practice/masking.py's practice-wide matcher.)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import regex

from providers.practice.models import Patient
from providers.practice.pseudonym import pseudonym

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
