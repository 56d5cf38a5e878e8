"""The import's JSON Schema (providers/practice/import-schema.json, published as docs/import-schema.json)
is what the importer checks at runtime: one file, so no test compares key lists any more.

Here: the schema is valid draft 2020-12 and the example fits it; every structural refusal
of the importer (fastjsonschema) is one line with the JSON path and our wording, and a
reference validator (jsonschema) refuses the same data, so the published schema says what
the importer does; null counts as an absent key in both.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from providers.practice import import_schema
from providers.practice.importer import ImportError_, import_data, import_file
from providers.practice.models import Practice

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "import-schema.json").read_text(encoding="utf-8"))
EXAMPLE = json.loads((ROOT / "docs" / "import-example.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_docs_publish_the_file_the_importer_reads():
    assert (ROOT / "docs" / "import-schema.json").resolve() == import_schema.SCHEMA_PATH.resolve()
    assert import_schema.schema() == SCHEMA


def test_the_schema_is_valid_and_the_example_fits_it():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    VALIDATOR.validate(EXAMPLE)


def _example(mutate) -> dict:
    data = copy.deepcopy(EXAMPLE)
    data["practice"]["id"] = "schema-practice"  # not the demo's practice (nor its login)
    data["practitioners"][0]["username"] = "schema user"
    mutate(data)
    return data


# (mutation, the start of the importer's one-line message)
REFUSED = {
    "typo-in-practitioner": (
        lambda d: d["practitioners"][0].update(pseudonymise=True),
        "practitioners[0]: unknown key 'pseudonymise'; did you mean 'pseudonymize'?",
    ),
    "typo-at-top-level": (
        lambda d: d.update(practicioners=[]),
        "top level: unknown key 'practicioners'; did you mean 'practitioners'?",
    ),
    "typo-in-override": (
        lambda d: d["appointments"][1]["overrides"][0].update({"recurrence-id": "2026-12-16T10:00"}),
        "appointments[1].overrides[0]: unknown key 'recurrence-id'; did you mean 'recurrence_id'?",
    ),
    "offset": (
        lambda d: d["appointments"][0].update(start="2026-12-01T09:00+01:00"),
        "appointments[0].start: give local wall-clock time and a tzid, not an offset",
    ),
    "not-a-time": (
        lambda d: d["appointments"][2].update(end="next friday"),
        "appointments[2].end: not an ISO date-time",
    ),
    "status": (
        lambda d: d["appointments"][0].update(status="maybe"),
        "appointments[0].status: expected one of confirmed, tentative, cancelled",
    ),
    "required": (lambda d: d["appointments"][0].pop("practitioner"), "appointments[0].practitioner: missing"),
    "required-null": (
        lambda d: d["appointments"][0].update(practitioner=None),
        "appointments[0].practitioner: missing",
    ),
    "empty-id": (lambda d: d["locations"][0].update(id=""), "locations[0].id: missing"),
    "phone-number": (lambda d: d["patients"][0].update(phone=43), "patients[0].phone: expected text"),
    "flag": (
        lambda d: d["practitioners"][0].update(is_admin="yes"),
        "practitioners[0].is_admin: expected true or false",
    ),
    "section": (lambda d: d.update(locations={"id": "x"}), "locations: expected a list"),
    "record": (lambda d: d["appointments"].append("t-1"), "appointments[3]: expected a JSON object"),
    "practice": (lambda d: d.pop("practice"), "top level.practice: missing"),
    "server-id": (
        lambda d: d["appointments"][0].update(server_id="4711"),
        "appointments[0].server_id: expected a whole number",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refusal_names_the_path_and_the_reference_validator_agrees(sqlite_live, case):
    mutate, expected = REFUSED[case]
    data = _example(mutate)
    with pytest.raises(ImportError_) as err:
        import_data(data)
    message = str(err.value)
    assert message.startswith(expected), message
    assert "\n" not in message
    assert "Muster" not in message and "Maria" not in message
    if "null" not in case:
        assert not VALIDATOR.is_valid(data), "the published schema must refuse it too"
    assert Practice.get_or_none(Practice.external_id == "schema-practice") is None


def test_null_is_an_absent_key(sqlite_live, tmp_path):
    """An export's nulls for empty optional fields import as absent keys, from a file too."""
    data = _example(lambda d: d["practice"].update(id="schema-nulls"))
    data["practitioners"][0].update(email=None, display_name=None)
    data["locations"] = None
    for rec in data["appointments"]:
        rec.update(notes=None, location=None)
    data["appointments"][1]["overrides"][0]["subject"] = None
    path = tmp_path / "nulls.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    summary = import_file(str(path))
    assert summary.by_type["appointments"].created == 3
    assert summary.by_type["locations"].created == 0
