"""docs/import-schema.json, the published JSON Schema of the import format, agrees with the
importer: the same keys per record kind, the example validates, and what the importer
refuses for its shape the schema refuses too."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from providers.practice.import_format import KNOWN_KEYS

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCHEMA = json.loads((DOCS / "import-schema.json").read_text(encoding="utf-8"))
EXAMPLE = json.loads((DOCS / "import-example.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _record_schema(kind: str) -> dict:
    props = SCHEMA["properties"]
    if kind == "top level":
        return SCHEMA
    if kind == "practice":
        return props["practice"]
    if kind == "overrides":
        return props["appointments"]["items"]["properties"]["overrides"]["items"]
    return props[kind]["items"]


@pytest.mark.parametrize("kind", sorted(KNOWN_KEYS))
def test_schema_and_importer_know_the_same_keys(kind):
    assert set(_record_schema(kind)["properties"]) == KNOWN_KEYS[kind]


def test_the_example_is_valid():
    VALIDATOR.validate(EXAMPLE)
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["practitioners"][0].update(pseudonymise=True),
        lambda d: d["appointments"][0].update(start="2026-12-01T09:00+01:00"),
        lambda d: d["appointments"][0].update(status="maybe"),
        lambda d: d["appointments"][0].pop("practitioner"),
        lambda d: d["patients"][0].update(phone=43),
    ],
)
def test_what_the_importer_refuses_for_its_shape_the_schema_refuses(mutate):
    data = copy.deepcopy(EXAMPLE)
    mutate(data)
    assert not VALIDATOR.is_valid(data)
