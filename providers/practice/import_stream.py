"""Where an import's records come from: a JSON file read as a stream, or a dict in memory.

A practice export grows with its appointments, so a file is never held whole: a first pass
(ijson's event stream) builds the top level with every section but `appointments`, which it
only counts; each later pass streams the appointments one record at a time. Patients,
practitioners and locations are held, as the importer needs them to check references.
Memory then grows with the practice, not with the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO, Any

import ijson
from ijson.backends import python as ijson_python

from providers.practice.import_format import ImportError_

STREAMED = "appointments"  # the one section read record by record
_ITEM = STREAMED + ".item"
# Events at an item's own prefix that do not start a new item (an object's keys and ends).
_NOT_A_VALUE = ("map_key", "end_map", "end_array")


class DataSource:
    """A dict already in memory (the demo, tests): the same two views as a file."""

    def __init__(self, data: Any):
        if not isinstance(data, dict):
            raise ImportError_("top level: expected a JSON object")
        self.data = data

    def skeleton(self) -> tuple[dict, int]:
        """(the top level with `appointments` empty if it is a list, the number of appointments)."""
        top = dict(self.data)
        listed = top.get(STREAMED)
        if isinstance(listed, list):
            top[STREAMED] = []
            return top, len(listed)
        return top, 0

    def appointments(self) -> Iterator[Any]:
        listed = self.data.get(STREAMED)
        return iter(listed) if isinstance(listed, list) else iter(())


class FileSource:
    """A JSON file, read in passes and never whole; every error is one line."""

    def __init__(self, path: str):
        self.path = path

    def skeleton(self) -> tuple[dict, int]:
        with self._open() as fh, self._json_errors():
            return _skeleton(ijson.parse(fh, use_float=True))

    def appointments(self) -> Iterator[Any]:
        with self._open() as fh, self._json_errors():
            yield from ijson.items(fh, _ITEM, use_float=True)

    def _open(self) -> IO[bytes]:
        try:
            return open(self.path, "rb")  # noqa: SIM115 (closed by the callers' with)
        except OSError as exc:
            raise ImportError_(f"cannot read {self.path}: {exc.strerror}") from None

    def _json_errors(self):
        return _JSONErrors(self)

    def describe(self, exc: Exception) -> str:
        """One line for a file ijson refused: not UTF-8, or not JSON and on which line."""
        if isinstance(exc, OSError):
            return f"cannot read {self.path}: {exc.strerror}"
        if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
            return f"{self.path}: not UTF-8 text"
        # The C parser does not say where; the pure-Python one (slower, only on this path)
        # gives the character offset, from which the line is counted in chunks.
        try:
            with open(self.path, "rb") as fh:
                for _ in ijson_python.parse(fh):
                    pass
        except UnicodeDecodeError:
            return f"{self.path}: not UTF-8 text"
        except ijson.JSONError as again:
            found = re.search(r" at (\d+)$", str(again))
            if found:
                return f"{self.path}: not valid JSON (line {self._line_of(int(found[1]))})"
        return f"{self.path}: not valid JSON (it ends too early or has more after its end)"

    def _line_of(self, offset: int) -> int:
        line, left = 1, offset
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            while left > 0:
                chunk = fh.read(min(left, 1 << 16))
                if not chunk:
                    break
                line += chunk.count("\n")
                left -= len(chunk)
        return line


class _JSONErrors:
    """Turns ijson's (and the operating system's) errors while reading into one-line ImportError_s."""

    def __init__(self, source: FileSource):
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, ijson.JSONError | UnicodeDecodeError | OSError):
            raise ImportError_(self.source.describe(exc)) from None
        return False


def _skeleton(events: Iterator[tuple[str, str, Any]]) -> tuple[dict, int]:
    """The first pass: top-level values built, `appointments` only counted (a list stands
    empty in the result, anything else as itself so the schema names its type)."""
    first = next(events, None)
    if first is None:
        raise ijson.IncompleteJSONError("empty file")
    if first[1] != "start_map":
        raise ImportError_("top level: expected a JSON object")
    top: dict = {}
    key: str | None = None
    builder: ijson.ObjectBuilder | None = None
    count, in_list = 0, False
    for prefix, event, value in events:
        if in_list:  # most events: inside the appointments, only counted here
            if prefix == _ITEM:
                if event not in _NOT_A_VALUE:
                    count += 1
            elif prefix == STREAMED:  # the list's end
                in_list = False
            continue
        if prefix == "":  # between two top-level values: the next key, or the end
            if builder is not None and key is not None:
                top[key] = builder.value
            builder = None
            if event == "map_key":
                key = value
                continue
            break
        if key == STREAMED and prefix == STREAMED and event == "start_array":
            top[key], in_list = [], True
            continue
        if builder is None:
            builder = ijson.ObjectBuilder()
        builder.event(event, value)
    for _ in events:  # anything after the top-level object is an error ijson raises here
        pass
    return top, count
