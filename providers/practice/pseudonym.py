"""Patient pseudonyms and free-text masking: the one place that decides what of a patient's
name and phone number may reach a practitioner's device.

Devices sit outside the practice: lock screens, cloud backups, other apps that read the
calendar. With "no patient names on devices", event titles show ``pseudonym(...)`` and all
free text goes through ``mask_patient_data(...)``. When masking, a leak is worse than
over-masking, so every doubtful case is decided towards masking more.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left, bisect_right
from functools import lru_cache

import regex

__all__ = ["pseudonym", "mask_patient_data", "name_words"]

_GRAPHEME = regex.compile(r"\X")
_TOKEN_SPLIT = regex.compile(
    r"[\s\p{Z}\p{Cc},;]+"
)  # between the words of a name field (str.split also splits at U+001C-1F)
_PART_SPLIT = regex.compile(r"[\p{Pd}'’ʼ`´.]+")  # inside a word: Anna-Lena, O'Brien
_EDGE_PUNCT = regex.compile(r"^[\p{P}\p{Z}]+|[\p{P}\p{Z}]+$")
_GAP_WORD = regex.compile(r"[^\s\p{P}]+")
# Phone-like runs: digits joined by at most three separator characters ("+43 (0) 664 12-34").
_PHONE_RUN = regex.compile(r"[+(]{0,2}\d(?:\d|[\s./()\p{Pd}\p{Cf}]{1,3}(?=\d))*")
_MIN_PHONE_DIGITS = 5  # fewer digits are no phone number: not masked
_PHONE_WINDOW = 7  # digits in a row that identify a number (a local subscriber number)

# Academic titles and salutations, casefolded, without dots ("Dr.", "Mag.a", "Dipl.-Ing.").
_TITLE_WORDS = frozenset(
    "dr ddr prof mag mmag di dipl ing univ priv doz ao hon med dent vet phil rer nat pol techn "
    "jur oec soc theol mult habil sc bsc msc ba ma mba phd ph llm mas bakk bed hr fr herr frau "
    "in a b c d h m".split()
)
_TITLE_HEADS = frozenset(w for w in _TITLE_WORDS if len(w) > 1)  # "A." alone is an initial
_UNDOTTED_TITLES = frozenset(
    "dr ddr prof mag mmag dipl-ing univ-prof bsc msc phd mba llm bakk herr frau".split()
)
_UPPERCASE_TITLES = frozenset({"DI", "MA", "BA", "MAS"})  # "Di", "Ma" are also names
# Name particles skipped for the pseudonym's family part and never masked on their own.
_PARTICLES = frozenset(
    "von vom zu zum zur van der den de del della dei di da das do dos du la le lo ten ter te "
    "af av y e los las".split()
)
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def _graphemes(text: str) -> list[str]:
    return _GRAPHEME.findall(text)


def _counts(grapheme: str) -> bool:
    """Whether a grapheme is a character of the name (not punctuation, space or a lone mark)."""
    return unicodedata.category(grapheme[0])[0] not in "PZCM"


def _letters(word: str) -> list[str]:
    return [g for g in _graphemes(word) if _counts(g)]


def _is_title(token: str) -> bool:
    """Academic title or salutation: "Dr.", "Prof.", "Mag.a", "Dipl.-Ing.", "DI", "MSc", "Frau"."""
    if token in _UPPERCASE_TITLES or token.casefold() in _UNDOTTED_TITLES:
        return True
    parts = [p for p in regex.split(r"[.\-]+", token.casefold()) if p]
    return (
        "." in token
        and bool(parts)
        and all(p in _TITLE_WORDS for p in parts)
        and any(p in _TITLE_HEADS for p in parts)
    )


def _tokens(field: str | None) -> list[str]:
    """NFC words of a name field without leading/trailing titles and punctuation-only words.

    A dotted title ("Dr.") is always dropped; an undotted one ("DI", "MA") only while another
    word remains, because it may be a name.
    """
    if not field:
        return []
    tokens = [t for t in _TOKEN_SPLIT.split(unicodedata.normalize("NFC", field)) if _letters(t)]
    while tokens and _is_title(tokens[0]) and ("." in tokens[0] or len(tokens) > 1):
        tokens.pop(0)
    while tokens and _is_title(tokens[-1]) and ("." in tokens[-1] or len(tokens) > 1):
        tokens.pop()
    return tokens


def name_words(field: str | None) -> list[str]:
    """The words of a name field as the pseudonym reads them (titles and salutations dropped)."""
    return [t for t in _tokens(field) if not ("." in t and _is_title(t))]


def _recase(grapheme: str, first: bool) -> str:
    """Title-case the first, lower-case the second grapheme, unless that changes the letter."""
    changed = unicodedata.normalize("NFC", grapheme.title() if first else grapheme.lower())
    if len(_graphemes(changed)) == 1 and changed.casefold() == grapheme.casefold():
        return changed
    return grapheme  # "ß" -> "SS" would be two characters; dotless "ı" -> "I" another letter


def _initials(word: str) -> str:
    """Two characters of a name part, but never all of them: "Maria" -> "Ma", "Li" -> "L"."""
    letters = _letters(word)
    count = max(1, min(2, len(letters) - 1))
    return "".join(_recase(g, i == 0) for i, g in enumerate(letters[:count]))


def pseudonym(first_name: str | None, last_name: str | None, patient_number: str | int) -> str:
    """Short label a practitioner recognises but that does not name the patient.

    ``pseudonym("Maria", "Muster", 1042) == "MaMu 1042"``; ``("Jürgen", "Öztürk", 7)`` ->
    ``"JüÖz 7"``. Rules, applied to each field after NFC normalisation:

    * Characters are grapheme clusters (``\\X``): decomposed "Ju\\u0308rgen" gives "Jü"; a ZWJ
      family emoji or a flag is one character. Punctuation, spaces and lone combining marks are
      skipped: "O'Brien" -> "Ob".
    * Words are split on whitespace, "," and ";" (leading/trailing/multiple spaces are ignored).
      Leading and trailing academic titles and salutations are skipped ("Prof. Dr.", "Mag.",
      "MMag.", "DI", "Dipl.-Ing.", "Dr.in", "MSc", "Frau"); an undotted one only if another
      word remains ("MA" alone is kept, it may be the surname Ma).
    * First part: the first *given* name, i.e. the first word of ``first_name``;
      "Anna-Lena Maria" -> "An".
    * Family part: the first word of ``last_name`` after leading particles (von, van der, de,
      di, ...; any case), as practice software and German phone books sort them (DIN 5007-2):
      "von Berg" -> "Be", "De Luca" -> "Lu". A particle that is the whole name is kept ("Van").
    * Never a whole name part: two characters, but at most all but one ("Li Wu" -> "LW 1008",
      "Eva" -> "Ev", "김 민준" -> "민김"); a one-letter word gives its one character
      ("O" -> "O"). A missing, empty or
      whitespace-only field contributes nothing ("Mu 1042"); both missing -> just the ID.
    * Case is normalised so that "MARIA MUSTER" and "maria muster" give the same "MaMu": the
      first character title-cased, the second lower-cased, unless that would change the
      letter or the number of characters ("ß" stays, Turkish "ı" stays).
    * The patient ID is appended after one space as written (NFC, inner whitespace
      collapsed); a name the practice typed into the ID field is removed from it. An empty ID
      is omitted.

    The result is NFC, deterministic and never holds more than two characters of each field,
    nor a whole word of a name of more than one character.
    """
    if isinstance(patient_number, bool) or not isinstance(patient_number, (str, int)):
        raise TypeError(f"patient_number must be str or int, not {type(patient_number).__name__}")
    given = _tokens(first_name)
    family = _tokens(last_name)
    while len(family) > 1 and family[0].casefold() in _PARTICLES:
        family.pop(0)
    letters = (_initials(given[0]) if given else "") + (_initials(family[0]) if family else "")
    letters = unicodedata.normalize("NFC", letters)
    pid = unicodedata.normalize("NFC", str(patient_number))
    spans = _name_spans(pid, first_name, last_name, need_letter=True)
    pid = " ".join(_replace(pid, spans, " ").split())
    return " ".join(p for p in (letters, pid) if p)


def mask_patient_data(
    text: str, first_name: str | None, last_name: str | None, phone: str | None, replacement: str
) -> str:
    """``text`` (NFC-normalised) with the patient's names and phone number replaced.

    Apply it to property values before iCalendar escaping and folding.

    Names: every word of both fields (titles dropped as in ``pseudonym``; particles like
    "von" only when another word remains) and every part of a word with at least two
    characters ("Anna-Lena" -> "Anna-Lena", "Anna", "Lena"; "O'Brien" -> "Brien"). Matching is
    case-, accent- and umlaut-insensitive after NFKC casefolding, ignoring invisible
    characters: "JÜRGEN", "Jurgen", "Juergen", "Jür\\u00adgen" all match "Jürgen".

    * Names of four or more characters match anywhere, also inside words, so "Marias",
      "mmuster@gmx.at", "MariaMuster" and "Muster1970" are caught. This over-masks common
      words ("Lang" in "langsam", "Anna" in "Johanna"): accepted, a leak is worse.
    * Shorter names ("Li", "Eva", "O") match only as whole words (neighbours are not
      letters; digits, "_" and punctuation are boundaries), optionally with a genitive "s" or
      "'s" ("Evas"): as substrings they would wipe out ordinary text ("Ina" in "Medizinal").
      Consequence: "evahuber@..." keeps "eva" (the long "Huber" is masked).

    Phone: a run of digits (optionally after "+" or "(") joined by up to three of space . / ( )
    - or invisible characters is replaced when it shares seven consecutive digits with the
    patient's number (all of it if that has fewer), so
    "+43 664 1234567", "0043 (0) 664/123 45 67", "0664-1234567" and the bare "1234567" match.
    Numbers with fewer than five digits are not masked.

    Matches separated only by spaces, punctuation or particles become one ``replacement``:
    "Anna-Lena von Berg" -> one replacement, not three.
    """
    text = unicodedata.normalize("NFC", text)
    return _replace(text, _name_spans(text, first_name, last_name) + _phone_spans(text, phone), replacement)


def _replace(text: str, spans: list[tuple[int, int]], replacement: str) -> str:
    """Replace spans, widened to whole graphemes and merged across glue, by one replacement."""
    if not spans:
        return text
    bounds = [0] + [m.end() for m in _GRAPHEME.finditer(text)]  # never cut a character
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        start = bounds[bisect_right(bounds, start) - 1]
        end = bounds[bisect_left(bounds, end)]
        if merged and _only_glue(text[merged[-1][1] : start]):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out += [text[last:start], replacement]
        last = end
    out.append(text[last:])
    return "".join(out)


def _only_glue(gap: str) -> bool:
    """Gap between two matches that holds nothing but spaces, punctuation and particles."""
    return all(w.casefold() in _PARTICLES for w in _GAP_WORD.findall(gap))


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    """Casefolded compatibility decomposition without marks and invisible format characters."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())
    return "".join(
        c for c in decomposed if unicodedata.category(c)[0] != "M" and unicodedata.category(c) != "Cf"
    )


def _name_terms(first_name: str | None, last_name: str | None, need_letter: bool) -> set[str]:
    terms: set[str] = set()
    for field in (first_name, last_name):
        tokens = [t for t in _tokens(field) if not ("." in t and _is_title(t))]
        words = [t for t in tokens if t.casefold() not in _PARTICLES] or tokens
        for word in words:
            word = _EDGE_PUNCT.sub("", word)
            terms.add(word)
            terms.update(p for p in _PART_SPLIT.split(word) if len(_letters(p)) >= 2)
    return {t for t in terms if regex.search(r"\p{L}" if need_letter else r"\S", t)}


def _term_pattern(term: str) -> regex.Pattern[str] | None:
    folded = "".join(map(_fold_char, unicodedata.normalize("NFC", term).casefold().translate(_UMLAUTS)))
    if not folded:
        return None
    body = "".join(
        p[0] + "e?" if p in ("ae", "oe", "ue") else regex.escape(p)
        for p in regex.split(r"(ae|oe|ue)", folded)
        if p
    )
    if len(_letters(term)) < 4:  # whole word; a digit is a boundary unless the name has one there
        left = r"\p{L}\p{N}" if folded[0].isdigit() else r"\p{L}"
        right = r"\p{L}\p{N}" if folded[-1].isdigit() else r"\p{L}"
        body = rf"(?<![{left}]){body}(?:s|['’]s?)?(?![{right}])"
    return regex.compile(body)


def _name_spans(
    text: str, first_name: str | None, last_name: str | None, need_letter: bool = False
) -> list[tuple[int, int]]:
    """Spans of ``text`` holding a name term, found in a folded copy mapped back to ``text``."""
    patterns = [p for p in map(_term_pattern, _name_terms(first_name, last_name, need_letter)) if p]
    if not patterns:
        return []
    pieces, origin = [], []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        pieces.append(folded)
        origin.extend([index] * len(folded))
    haystack = "".join(pieces)
    return [
        (origin[m.start()], origin[m.end() - 1] + 1)
        for pattern in patterns
        for m in pattern.finditer(haystack, overlapped=True)
        if m.end() > m.start()
    ]


def _digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text if unicodedata.decimal(c, None) is not None)


def _phone_spans(text: str, phone: str | None) -> list[tuple[int, int]]:
    number = _digits(phone or "")
    if len(number) < _MIN_PHONE_DIGITS:
        return []
    width = min(_PHONE_WINDOW, len(number))
    windows = {number[i : i + width] for i in range(len(number) - width + 1)}
    spans = []
    for run in _PHONE_RUN.finditer(text):
        digits = _digits(run.group())
        if any(w in digits for w in windows):
            spans.append(run.span())
    return spans
