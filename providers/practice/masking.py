"""Practice-wide masking: every patient name of the practice and every phone-like number.

Masking the linked patient's name alone cannot be complete: staff type relatives, callers
and other patients into subjects, and many appointments have no patient at all. A
``PracticeNames`` matcher holds the name terms of *every* patient of a practice, built
once per version of the patient table (``practice_names``) and shared by every render.

Both sides (names and text) are folded the same way: NFKC, Unicode full case folding,
transliterated to ASCII with ``anyascii`` ("Łukasz" ~ "Lukasz", "Søren" ~ "Soren",
"王" ~ "wang"), invisible format characters dropped, and the spelling variants of
transliteration merged ("oe" ~ "o" so "Soeren" ~ "Søren", "dj" ~ "d" so "Djokovic" ~
"Đoković"). Terms of four or more folded letters match anywhere (also inside words:
"MariaMuster", "mmuster@gmx.at"); shorter ones as whole words (optionally with a
genitive "s"). Names in scripts written without spaces (Han, Hangul, Kana, Thai, ...)
also match as substrings in their own script ("王小明复诊", "김민준님").
A leak is worse than over-masking: every doubtful case masks more.
"""

from __future__ import annotations

import threading
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import regex
from anyascii import anyascii

from providers.practice.pseudonym import name_words, pseudonym

__all__ = [
    "PracticeNames",
    "Person",
    "contains_patient_name",
    "mask_text",
    "mask_phones",
    "phone_spans",
    "practice_names",
]

ELLIPSIS = "…"
_MIN_SUBSTRING = 4  # folded letters from which a term matches inside words
_SPACELESS = regex.compile(r"[\p{Han}\p{Hangul}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
_WORD = regex.compile(r"[a-z]+")
_PART_SPLIT = regex.compile(r"[^\p{L}\p{M}\p{N}]+")
_PARTICLES = frozenset(
    "von vom zu zum zur van der den de del della dei di da das do dos du la le lo ten ter te "
    "af av y e los las".split()
)
# A phone-like number: digit groups joined by up to four characters that are neither
# letters nor line breaks ("+43 (0) 664/123 45 67", "0664·765·43·21", "0664 ; 765 ; 4321",
# "0664_765_43_21", "0664&#160;765"). Five digits or more make a number worth hiding.
_PHONE_RUN = regex.compile(r"\+?\d(?:\d|(?:&#\d{1,6};|&nbsp;|[^\p{L}\d\n\r]){1,4}(?=\d))*")
_MIN_PHONE_DIGITS = 5
# Dates and times are not phone numbers: "01.12.2026", "2026-12-01", "9:00-10:30".
_NOT_A_PHONE = regex.compile(
    r"\d{1,2}\.\d{1,2}\.(?:\d{2}|\d{4})|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}(?:\s*[-–]\s*\d{1,2}:\d{2})?"
)
_GLUE = regex.compile(r"[^\p{L}\p{N}]*")


@dataclass(frozen=True)
class Person:
    """What the matcher needs of one patient (or any other person the practice stores)."""

    first_name: str | None
    last_name: str | None
    patient_number: str = ""


@lru_cache(maxsize=16384)
def _fold_char(char: str) -> str:
    """One character as lower-case ASCII letters and digits ("" for invisible ones)."""
    if unicodedata.category(char) in ("Cf", "Mn", "Me", "Mc"):
        return ""
    folded = anyascii(unicodedata.normalize("NFKC", char).casefold()).lower()
    return "".join(c if c.isalnum() else " " for c in folded) if folded else " "


@lru_cache(maxsize=16384)
def _script_char(char: str) -> str:
    """One character NFKC-casefolded, kept only if it belongs to a script written without spaces."""
    folded = unicodedata.normalize("NFKC", char).casefold()
    return folded if _SPACELESS.search(folded) else ""


def _skeleton(pairs: list[tuple[str, int]]) -> tuple[str, list[int], list[int]]:
    """Merge transliteration variants: "e" after a/o/u ("oe" ~ "ø") and "j" after "d" ("dj" ~ "đ").

    Returns the folded text and, per folded character, the first and the last index in the
    original text it stands for (a dropped letter widens its neighbour, so "Zoë" is covered
    whole even though it folds to "zo")."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for char, origin in pairs:
        if chars and ((char == "e" and chars[-1] in "aou") or (char == "j" and chars[-1] == "d")):
            ends[-1] = origin
            continue
        chars.append(char)
        starts.append(origin)
        ends.append(origin)
    return "".join(chars), starts, ends


def _fold_text(text: str) -> tuple[str, list[int], list[int]]:
    """Folded skeleton of ``text`` with the first and last index in ``text`` of each character."""
    return _skeleton([(c, i) for i, ch in enumerate(text) for c in _fold_char(ch)])


@lru_cache(maxsize=65536)
def _fold_term(term: str) -> str:
    letters = "".join(c for c in unicodedata.normalize("NFKC", term) if unicodedata.category(c)[0] in "LN")
    folded = _fold_text(letters)[0]
    return folded.replace(" ", "")


@lru_cache(maxsize=65536)
def _field_terms(field: str | None) -> tuple[tuple[str, ...], frozenset[str]]:
    """The name words of one field (particles dropped while another word remains) and its
    terms: the words and their parts ("Anna-Lena" -> "Anna-Lena", "Anna", "Lena").
    Cached: a practice's patients share first and family names."""
    words = name_words(field)
    kept = [w for w in words if w.casefold() not in _PARTICLES] or words
    terms = set(kept)
    for word in kept:
        terms.update(p for p in _PART_SPLIT.split(word) if len(p) >= 2)
    return tuple(kept), frozenset(terms)


def _terms(person: Person) -> set[str]:
    """Raw name terms of one person: words, their parts, and the name run together."""
    terms: set[str] = set()
    wholes: list[list[str]] = []
    for field in (person.first_name, person.last_name):
        kept, field_terms = _field_terms(field)
        wholes.append(kept)
        terms.update(field_terms)
    first, last = ("".join(w) for w in wholes)
    if first and last:  # "LiWu", "WuLi", "MariaMuster"
        terms.update({first + last, last + first})
    return terms


class PracticeNames:
    """Name terms of every person of a practice, ready to be found in any text."""

    def __init__(self, people: Iterable[Person]) -> None:
        self.people = list(people)
        self._labels: dict[int, str] = {}  # pseudonyms, made when first needed
        self._long: dict[str, set[int]] = {}
        self._short: dict[str, set[int]] = {}
        self._script: dict[str, set[int]] = {}
        for index, person in enumerate(self.people):
            for term in _terms(person):
                folded = _fold_term(term)
                if len(folded) >= _MIN_SUBSTRING:
                    self._long.setdefault(folded, set()).add(index)
                elif len(folded) >= 2:
                    self._short.setdefault(folded, set()).add(index)
                script = "".join(map(_script_char, term))
                if script:
                    self._script.setdefault(script, set()).add(index)
        self._long_lengths = sorted({len(t) for t in self._long}, reverse=True)
        self._script_lengths = sorted({len(t) for t in self._script}, reverse=True)

    def __len__(self) -> int:
        return len(self.people)

    def spans(self, text: str) -> list[tuple[int, int, frozenset[int]]]:
        """(start, end, people) of every name term found in ``text``."""
        if not text or not self.people:
            return []
        found: list[tuple[int, int, frozenset[int]]] = []
        folded, origin, ends = _fold_text(text)
        for start in range(len(folded)):
            if not folded[start].isalpha():
                continue
            for length in self._long_lengths:
                if start + length > len(folded):
                    continue
                who = self._long.get(folded[start : start + length])
                if who:
                    found.append((origin[start], ends[start + length - 1] + 1, frozenset(who)))
        if self._short:
            for word in _WORD.finditer(folded):
                term = word.group()
                who = self._short.get(term) or (term.endswith("s") and self._short.get(term[:-1]))
                if who:
                    found.append((origin[word.start()], ends[word.end() - 1] + 1, frozenset(who)))
        if self._script:
            script = [(c, i) for i, ch in enumerate(text) for c in _script_char(ch)]
            chars = "".join(c for c, _ in script)
            for start in range(len(chars)):
                for length in self._script_lengths:
                    if start + length > len(chars):
                        continue
                    who = self._script.get(chars[start : start + length])
                    if who:
                        found.append((script[start][1], script[start + length - 1][1] + 1, frozenset(who)))
        return found

    def label(self, people: frozenset[int]) -> str:
        """What replaces a name: the person's pseudonym if the name is unambiguous, else "…"."""
        if len(people) != 1:
            return ELLIPSIS
        (index,) = people
        if index not in self._labels:
            person = self.people[index]
            self._labels[index] = pseudonym(person.first_name, person.last_name, person.patient_number)
        return self._labels[index]


def phone_spans(text: str) -> list[tuple[int, int]]:
    """Spans of phone-like numbers: runs of at least five digits with any separators between groups."""
    spans = []
    for run in _PHONE_RUN.finditer(text or ""):
        digits = sum(1 for c in run.group() if c.isdigit())
        if digits >= _MIN_PHONE_DIGITS and not _NOT_A_PHONE.fullmatch(run.group()):
            spans.append(run.span())
    return spans


def contains_patient_name(text: str, names: PracticeNames) -> bool:
    """Whether ``text`` holds any name term of any person in ``names``."""
    return bool(names.spans(text))


def mask_phones(text: str) -> str:
    """``text`` with every phone-like number replaced by "…"."""
    return _replace(text, [(s, e, None) for s, e in phone_spans(text)], None)


def mask_text(text: str, names: PracticeNames | None, *, phones: bool = True) -> str:
    """``text`` with every name of ``names`` replaced by that person's pseudonym ("…" when
    ambiguous) and, with ``phones``, every phone-like number by "…".

    Matches separated only by spaces, punctuation or name particles become one replacement
    ("Anna-Lena von Berg" -> one pseudonym).
    """
    if not text:
        return text or ""
    spans: list[tuple[int, int, frozenset[int] | None]] = []
    if names is not None:
        spans.extend(names.spans(text))
    if phones:
        spans.extend((s, e, None) for s, e in phone_spans(text))
    return _replace(text, spans, names)


def _only_glue(gap: str) -> bool:
    words = regex.findall(r"[\p{L}\p{N}]+", gap)
    return all(w.casefold() in _PARTICLES for w in words)


def _replace(
    text: str, spans: list[tuple[int, int, frozenset[int] | None]], names: PracticeNames | None
) -> str:
    if not spans:
        return text
    bounds = [0] + [m.end() for m in regex.finditer(r"\X", text)]  # never cut a character
    merged: list[list] = []
    for start, end, who in sorted(spans, key=lambda s: (s[0], -s[1])):
        start = bounds[bisect_right(bounds, start) - 1]
        end = bounds[bisect_left(bounds, end)]
        last = merged[-1] if merged else None
        if last is not None and start <= last[1]:
            last[1] = max(last[1], end)
            last[2] = _combine(last[2], who)
        elif (
            last is not None and who is not None and last[2] is not None and _only_glue(text[last[1] : start])
        ):
            last[1] = max(last[1], end)
            last[2] = _combine(last[2], who)
        else:
            merged.append([start, end, who])
    out, position = [], 0
    for start, end, who in merged:
        label = names.label(who) if (names is not None and who) else ELLIPSIS
        out += [text[position:start], label]
        position = end
    out.append(text[position:])
    return "".join(out)


def _combine(a: frozenset[int] | None, b: frozenset[int] | None) -> frozenset[int] | None:
    """People a merged match may be: those all its parts share (none left: ambiguous)."""
    if a is None or b is None:
        return None  # a phone number in it: replaced by "…"
    return (a & b) or frozenset()


# ---------------------------------------------------------------- the per-practice cache

_cache: dict[int, tuple[object, PracticeNames]] = {}
_cache_lock = threading.Lock()


def practice_names(practice_id: int, version: object, load: Callable[[], Iterable[Person]]) -> PracticeNames:
    """The practice's matcher for this ``version`` of its patient table, built once.

    ``load()`` returns the practice's ``Person`` list; it runs only when the version changed.
    """
    with _cache_lock:
        entry = _cache.get(practice_id)
        if entry is not None and entry[0] == version:
            return entry[1]
    names = PracticeNames(load())
    with _cache_lock:
        _cache[practice_id] = (version, names)
    return names
