"""The import reads its file as a stream: the reader's memory does not grow with the number of
appointments, the order of the top-level keys does not matter, and a broken file is refused
with its line before anything is written. (Peak RSS of whole imports of 100,000 and 300,000
appointments: docs/benchmarks/import.md.)"""

from __future__ import annotations

import json
import tracemalloc

import pytest

from providers.practice.import_stream import FileSource
from providers.practice.importer import ImportError_, import_file
from providers.practice.models import Change, Practice
from scripts.bench_import import export


def _write(path, data) -> str:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return str(path)


def _reading_peak(path: str) -> int:
    """Peak bytes Python allocates while both passes read the file (no database)."""
    tracemalloc.start()
    try:
        source = FileSource(path)
        _, count = source.skeleton()
        assert sum(1 for _ in source.appointments()) == count
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_memory_does_not_grow_with_the_appointments(tmp_path):
    small = _write(tmp_path / "small.json", export(1_000))
    large = _write(tmp_path / "large.json", export(20_000))
    # json.load would hold all 20,000 records (~20x the small file's); the stream holds one.
    assert _reading_peak(large) < 1.5 * _reading_peak(small)


def test_the_skeleton_counts_appointments_without_holding_them(tmp_path):
    data = export(30)
    top, count = FileSource(_write(tmp_path / "e.json", data)).skeleton()
    assert count == 30 and top["appointments"] == []
    assert top["practice"] == data["practice"] and top["patients"] == data["patients"]
    data["appointments"] = {"id": "x"}
    top, count = FileSource(_write(tmp_path / "e.json", data)).skeleton()
    assert count == 0 and top["appointments"] == {"id": "x"}


def _small_export(practice_id: str) -> dict:
    data = export(5)
    data["practice"]["id"] = practice_id
    data["practitioners"] = [
        dict(p, username=f"{practice_id} {p['username']}") for p in data["practitioners"]
    ]
    return data


def test_appointments_before_the_practice_import_alike(sqlite_live, tmp_path):
    data = _small_export("stream-order")
    reordered = {
        "appointments": data["appointments"],
        **{k: v for k, v in data.items() if k != "appointments"},
    }
    summary = import_file(_write(tmp_path / "reordered.json", reordered))
    assert summary.by_type["appointments"].created == 5
    assert import_file(_write(tmp_path / "same.json", data)).by_type["appointments"].unchanged == 5


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda text: text[: text.rindex('"id"')], "not valid JSON"),  # cut off in the last record
        (lambda text: text + "\n{}", "not valid JSON"),  # more after the end
        (
            lambda text: text.replace('"subject": "Sitzung"', '"subject": "Sitzung",,', 1),
            "not valid JSON (line",
        ),
    ],
)
def test_a_broken_file_is_refused_before_any_write(sqlite_live, tmp_path, damage, message):
    data = _small_export("stream-broken")
    path = tmp_path / "broken.json"
    path.write_text(damage(json.dumps(data, indent=1)), encoding="utf-8")
    changes = Change.select().count()
    with pytest.raises(ImportError_, match=message.replace("(", r"\(")) as err:
        import_file(str(path))
    assert "\n" not in str(err.value)
    assert Practice.get_or_none(Practice.external_id == "stream-broken") is None
    assert Change.select().count() == changes


def test_the_line_of_a_syntax_error(sqlite_live, tmp_path):
    data = _small_export("stream-line")
    text = json.dumps(data, indent=1)
    lines = text.splitlines()
    target = max(i for i, line in enumerate(lines) if '"subject"' in line)  # in the last appointment
    lines[target] = lines[target].replace('"subject":', '"subject" ::')
    path = tmp_path / "line.json"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ImportError_, match=rf"not valid JSON \(line {target + 1}\)"):
        import_file(str(path))


def test_a_bad_last_record_writes_nothing(sqlite_live, tmp_path):
    """Checked before the first write: the first 4 appointments are not written either."""
    data = _small_export("stream-last")
    data["appointments"][-1]["rrule"] = "FREQ=FORTNIGHTLY"
    changes = Change.select().count()
    with pytest.raises(ImportError_, match=r"^appointments\[4\]\.rrule"):
        import_file(_write(tmp_path / "last.json", data))
    assert Practice.get_or_none(Practice.external_id == "stream-last") is None
    assert Change.select().count() == changes
