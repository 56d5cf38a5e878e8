"""Test helper: find patient names and phone numbers wherever the server lets data out.

Wrap the WSGI app and attach the log handler, run a scenario, then ``assert_clean()``::

    scanner = LeakScanner(["Maria", "Muster", "+43 664 1234567"])
    app = scanner.wsgi(app)
    logging.getLogger().addHandler(handler := scanner.log_handler())
    logging.getLogger().setLevel(logging.DEBUG)   # records below the root level never exist
    ...
    scanner.assert_clean()

Data is searched after undoing every encoding a name can hide behind on the way out:
iCalendar folding (also inside a UTF-8 sequence) and text escapes, RFC 6868 parameter
escapes (``^'`` ``^n`` ``^^``), JSON ``\\u00fc``, XML/HTML entities and character
references, percent-encoding (UTF-8 and Latin-1, with and without ``+`` for space), base64
runs, UTF-8 or Latin-1 bytes. Matching is NFKC-casefolded, accent-insensitive, ignores
invisible characters and transliterates every script to ASCII (``anyascii``) on both sides,
accepting the spelling variants of transliteration ("oe" for "ö"/"ø", "dj" for "đ"), so
"Jürgen" is also found as "JURGEN", "Juergen" and "Jur\\u00adgen", "Søren" as "Soeren",
"Đoković" as "Djokovic" and "小明" as "Xiaoming" (an ASCII slug in a URL is still a leak).

Secrets are scanned exactly as given (pass name parts separately, not "Anna-Lena von Berg").
A secret made only of digits and ``+ ()./-`` and spaces is a phone number: it must have at
least 6 digits, and any 7 consecutive digits of it (all, if fewer) found in a run of digits
joined by separators is a leak, so "+43 664 1234567" is found as "0664/123 45 67".
Names are found as substrings, except names shorter than 3 letters after transliteration
("Li", "O"; a name in a script written without spaces never counts as short): those
only as whole words (not next to a letter) and not in XML element or attribute names, else
every ``<D:href>``-like tag would be a finding. iCalendar day codes (MO, TU, ... SU) and
similar tokens can still collide with two-letter names: pick fixture names that don't.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import itertools
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

from anyascii import anyascii

_FOLD_BYTES = re.compile(rb"\r?\n[ \t]")
_FOLD_TEXT = re.compile(r"\r?\n[ \t]")
_ICAL_ESCAPE = re.compile(r"\\([\\;,nN])")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_XML_NAME = re.compile(r"(?<=<)/?[\w.\-]+(?::[\w.\-]+)?|(?<=\s)[\w.\-]+(?::[\w.\-]+)?(?=\s*=)")
_PHONE_SECRET = re.compile(r"[\d\s+()./\-]+")
_DIGIT_RUN = re.compile(r"\d(?:\d|[ ./()+\-]{1,3}(?=\d))*")
_WHITESPACE = re.compile(r"\s+")
_LETTER = r"[^\W\d_]"
_PHONE_WINDOW = 7
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
_CARET = re.compile(r"\^([n'^])")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")
# A run of lowercase hex digits standing on its own is a server-made identifier (object
# names, opaque names and UIDs, or a piece of one that iCalendar folding cut), never base64
# of text: decoded as base64, its random bytes would spell two-letter names ("Wu", "Zoë")
# now and then.
_HEX_ID = re.compile(r"(?<![A-Za-z0-9+])[0-9a-f]{12,}(?![A-Za-z0-9+/=])")
_SPACELESS = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)
_STANDARD_LOG_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _fold(text: str) -> str:
    """NFKC casefold without marks and invisible characters, transliterated to ASCII, whitespace
    runs as one space."""
    if text.isascii():
        return _WHITESPACE.sub(" ", text.lower())
    composed = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(
        anyascii(c).lower()
        for c in composed
        if unicodedata.category(c)[0] != "M" and unicodedata.category(c) != "Cf"
    )
    decomposed = unicodedata.normalize("NFKD", kept)
    return _WHITESPACE.sub(" ", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _base64_texts(text: str) -> list[str]:
    """Text hidden in base64 runs (an ATTACH, a data: URL), decoded as UTF-8."""
    found = []
    for run in _BASE64_RUN.findall(_HEX_ID.sub(" ", text)):
        padded = run + "=" * (-len(run) % 4)
        try:
            found.append(base64.b64decode(padded, validate=True).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            continue
    return found


def _digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


def _decode_once(text: str) -> list[str]:
    """One round of undoing output encodings; the first entry continues the chain."""
    text = html.unescape(text)
    text = _FOLD_TEXT.sub("", text)
    text = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _ICAL_ESCAPE.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)
    text = _CARET.sub(lambda m: {"n": "\n", "'": '"', "^": "^"}[m.group(1)], text)
    return [
        unquote(text, errors="replace"),
        unquote_plus(text, errors="replace"),
        unquote(text, encoding="latin-1"),
    ]


def _views(data: bytes) -> set[str]:
    """Every decoding of ``data`` worth searching (raw and decoded, before and after each step)."""
    texts = set()
    for raw in (data, _FOLD_BYTES.sub(b"", data)):
        texts.add(raw.decode("utf-8", "replace"))
        texts.add(raw.decode("latin-1"))
    views = set(texts)
    for text in texts:
        for _ in range(4):
            decoded = _decode_once(text)
            views.update(decoded)
            if decoded[0] == text:
                break
            text = decoded[0]
    for view in list(views):
        views.update(_base64_texts(view))
    return views


class _Secret:
    """One secret and how to find it; ``label`` never shows more than one character of it."""

    def __init__(self, index: int, secret: str) -> None:
        secret = unicodedata.normalize("NFC", secret.strip())
        self.phone: set[str] | None = None
        self.pattern: re.Pattern[str] | None = None
        self.short = False
        if _PHONE_SECRET.fullmatch(secret) and any(c.isdigit() for c in secret):
            digits = _digits(secret)
            if len(digits) < 6:
                raise ValueError(f"secret #{index}: a phone number needs at least 6 digits")
            width = min(_PHONE_WINDOW, len(digits))
            self.phone = {digits[i : i + width] for i in range(len(digits) - width + 1)}
            self.label = f"secret #{index} (phone ***{digits[-2:]})"
            return
        folded = _fold(secret.casefold().translate(_UMLAUTS))
        if not folded.strip():
            raise ValueError(f"secret #{index} is empty after normalisation")
        # Transliteration variants: an "e" may follow a, o, u ("oe" for ö and ø) and a "j" a
        # "d" ("dj" for đ), whether or not the stored name has them.
        folded = re.sub(r"(?<=[aou])e|(?<=d)j", "", folded)
        body = "".join(re.escape(c) + ("e?" if c in "aou" else "j?" if c == "d" else "") for c in folded)
        self.short = len(folded.replace(" ", "")) < 3 and not _SPACELESS.search(secret)
        if self.short:
            body = rf"(?<!{_LETTER}){body}(?!{_LETTER})"
        self.pattern = re.compile(body)
        self.label = f"secret #{index} (name {secret[0]}***)"

    def found_in(self, folded: str, folded_no_tags: str) -> bool:
        if self.phone is not None:
            runs = [_digits(m.group()) for m in _DIGIT_RUN.finditer(folded)]
            return any(w in run for run in runs for w in self.phone)
        assert self.pattern is not None
        return self.pattern.search(folded_no_tags if self.short else folded) is not None


class LeakScanner:
    """Records everything the server emits and reports where a secret shows up."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = [_Secret(i, s) for i, s in enumerate(secrets, 1) if s and s.strip()]
        self._records: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._responses = itertools.count(1)

    def __repr__(self) -> str:  # never the secrets: pytest may print the object
        return f"<LeakScanner {len(self._secrets)} secrets, {len(self._records)} records>"

    def record(self, data: bytes | str, where: str) -> None:
        """Remember ``data`` (str is stored as UTF-8) as emitted at ``where``."""
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
        with self._lock:
            self._records.append((where, raw))

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """Middleware recording each response's status line, every header and the whole body."""

        def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            where = f"response #{next(self._responses)}"
            body: list[bytes] = []

            def recording_start_response(
                status: str, headers: list[tuple[str, str]], exc_info: Any = None
            ) -> Callable[[bytes], Any]:
                self.record(status, f"{where} status line")
                for name, value in headers:
                    self.record(f"{name}: {value}", f"{where} header {name!r}")
                write = start_response(status, headers, exc_info)

                def recording_write(data: bytes) -> Any:
                    body.append(bytes(data))
                    return write(data)

                return recording_write

            result = app(environ, recording_start_response)
            return _RecordedBody(result, body, lambda: self.record(b"".join(body), f"{where} body"))

        return middleware

    @contextlib.contextmanager
    def debug_log(self, only: Callable[[logging.LogRecord], bool] | None = None) -> Iterator[None]:
        """Record every log line at debug level (records below the root level never exist),
        or those ``only`` accepts."""
        handler = self.log_handler()
        if only is not None:
            handler.addFilter(only)
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)

    def log_handler(self) -> logging.Handler:
        """Handler recording each formatted log line (with traceback) and any ``extra=`` fields."""
        return _RecordingHandler(self)

    def leaks(self) -> list[str]:
        """One finding per secret and place, e.g. "secret #2 (name M***) in response #1 body"."""
        with self._lock:
            records = list(self._records)
        findings: list[str] = []
        for where, data in records:
            views = _views(data)
            folded = [_fold(v) for v in views]
            no_tags = [_fold(_XML_NAME.sub(" ", v)) for v in views]
            for secret in self._secrets:
                if any(secret.found_in(f, n) for f, n in zip(folded, no_tags, strict=True)):
                    finding = f"{secret.label} in {where}"
                    if finding not in findings:
                        findings.append(finding)
        return findings

    def assert_clean(self) -> None:
        """Raise AssertionError listing every finding (secrets masked in the message)."""
        findings = self.leaks()
        if findings:
            raise AssertionError("patient data leaked:\n  " + "\n  ".join(findings))


class _RecordedBody:
    """Re-yields the app's body and records it in one piece (a name may span two chunks)."""

    def __init__(self, result: Iterable[bytes], body: list[bytes], done: Callable[[], None]):
        self._result, self._body, self._done = result, body, done
        self._recorded = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._result:
            self._body.append(bytes(chunk))
            yield chunk
        self._finish()

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self) -> None:
        if not self._recorded:
            self._recorded = True
            self._done()


class _RecordingHandler(logging.Handler):
    def __init__(self, scanner: LeakScanner) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self._scanner = scanner

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_LOG_ATTRS}
            if extras:
                line += f" {extras!r}"
        except Exception:  # a broken log call must not hide the others
            self.handleError(record)
            return
        self._scanner.record(line, f"log {record.name} {record.levelname}")
