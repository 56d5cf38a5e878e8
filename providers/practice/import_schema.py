"""The structural checks of an import: the published JSON Schema (providers/practice/import-schema.json,
linked from docs/) run on every record, with our own messages: the JSON path first, the
nearest valid key for an unknown one, never the value (it may be patient data).

The schema says types, required keys, unknown keys, enums and the shape of local times;
import_format checks what it cannot say (IANA zones, references between records, the rrule
grammar, real calendar dates, a practitioner's password only when one is created).
"""

from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

# fastjsonschema compiles the schema to Python once: many times faster than jsonschema on a
# large import (docs/benchmarks/import.md).
import fastjsonschema

from providers.practice.import_format import ImportError_

SCHEMA_PATH = Path(__file__).with_name("import-schema.json")
_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a JSON object",
    "null": "null",
}


@functools.cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def _compiled(part: str):
    """The top level (with `appointments` checked as a list only) or one appointment record."""
    whole = schema()
    if part == "appointment":
        sub = whole["properties"]["appointments"]["items"]
    else:
        sub = {**whole, "properties": {**whole["properties"], "appointments": {"type": "array"}}}
    sub = {k: v for k, v in sub.items() if k not in ("$schema", "$id")}
    return fastjsonschema.compile({**sub, "$defs": whole["$defs"]})


def without_nulls(value: Any) -> Any:
    """A record with its null values left out: null is the same as an absent key (exports
    often write null for an empty field; the schema then has one type per key)."""
    if not isinstance(value, dict):
        return value
    out = {k: v for k, v in value.items() if v is not None}
    if isinstance(out.get("overrides"), list):
        out["overrides"] = [without_nulls(o) for o in out["overrides"]]
    return out


def top_without_nulls(top: dict) -> dict:
    """The top level and each record of its sections without null values."""
    out = {k: v for k, v in top.items() if v is not None}
    for key, value in out.items():
        out[key] = [without_nulls(r) for r in value] if isinstance(value, list) else without_nulls(value)
    return out


def check_top_level(top: dict) -> None:
    """The practice, practitioners, patients and locations (appointments are streamed)."""
    _check("top-level", top, "")


def check_appointment(record: Any, where: str) -> None:
    """One appointment record; `where` is its path (appointments[17])."""
    _check("appointment", record, where)


def _check(part: str, value: Any, where: str) -> None:
    try:
        _compiled(part)(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ImportError_(_message(exc, where)) from None


def _path(parts: list[str], where: str) -> str:
    out = where
    for part in parts[1:]:  # parts[0] is fastjsonschema's "data"
        out += f"[{part}]" if part.isdigit() else f".{part}" if out else part
    return out or "top level"


def _message(exc: fastjsonschema.JsonSchemaValueException, where: str) -> str:
    path, rule, value, definition = _path(exc.path, where), exc.rule, exc.value, exc.definition or {}
    if rule == "additionalProperties" and isinstance(value, dict):
        known = sorted(definition.get("properties", {}))
        unknown = next((str(k) for k in value if k not in known), "?")
        near = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        return f"{path}: unknown key {unknown[:40]!r}{hint}"
    if rule == "required" and isinstance(value, dict):
        missing = next((k for k in definition.get("required", []) if k not in value), "?")
        return f"{path}.{missing}: missing"
    if rule == "minLength":
        return f"{path}: missing"
    if rule == "type":
        types = definition.get("type")
        types = [types] if isinstance(types, str) else types or []
        return f"{path}: expected {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}"
    if rule == "enum":
        return f"{path}: expected one of {', '.join(map(str, definition.get('enum', [])))}"
    if rule == "pattern":
        return f"{path}: {_pattern_problem(value)}"
    return f"{path}: does not fit the import format ({rule})"


def _pattern_problem(value: Any) -> str:
    """The only patterns are local times: say whether an offset was given (not the value)."""
    text = str(value)
    if len(text) > 16 and (text.endswith("Z") or "+" in text[10:] or "-" in text[10:]):
        return "give local wall-clock time and a tzid, not an offset"
    return "not an ISO date-time (2026-12-01T09:00, or 2026-12-01 for all-day)"
