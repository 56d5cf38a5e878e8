"""Data flows one way: davserver (protocol) -> providers (resources, domain, SQL).

The import contract in pyproject.toml says so (import-linter): providers never import
davserver, and davserver reaches the data only through the resources, the data API and
domain services, never `providers.sql`, the models or the store. This test runs the
contract as CI does, and proves on a scratch copy of the code that it fails when broken.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    assert LINT_IMPORTS.exists(), "lint-imports is missing: install the test extra (pip install -e '.[test]')"
    # --no-cache: nothing is written into the work tree.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def _scratch_copy(tmp_path: Path) -> Path:
    for name in ("davserver", "providers"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_import_contract_holds() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("davserver/methods/delete.py", "from providers.practice import store", "davserver reaches the data"),
        ("davserver/health.py", "import providers.sql.db", "davserver reaches the data"),
        (
            "davserver/setup_info.py",
            "from providers.practice.models import Practitioner",
            "davserver reaches",
        ),
        ("providers/resources.py", "from davserver.ical import render", "sits above providers"),
    ],
)
def test_the_contract_fails_on_a_forbidden_import(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    """In a scratch copy, one added import (inside a function: it counts too) breaks it."""
    scratch = _scratch_copy(tmp_path)
    target = scratch / module
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n\ndef _scratch():\n    {line}\n", encoding="utf-8"
    )
    result = _lint(scratch)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert broken, result.stdout
    assert contract in result.stdout.split("Contracts:")[0]
    assert "1 broken" in result.stdout


# ---------------------------------------------------------------- no queries through record types

_QUERY_METHODS = {
    "select",
    "insert",
    "insert_many",
    "insert_from",
    "update",
    "delete",
    "create",
    "get",
    "get_or_none",
    "get_by_id",
    "get_or_create",
    "raw",
    "replace",
    "bulk_create",
    "bulk_update",
}


def _queries_on_records(source: str) -> list[str]:
    """Calls like `Practitioner.select(...)` on a name imported from providers.practice.records:
    davserver may hold rows and name their types, never query or write them itself."""
    import ast

    tree = ast.parse(source)
    record_names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "providers.practice.records"
        for alias in node.names
    }
    return [
        f"{node.func.value.id}.{node.func.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in record_names
        and node.func.attr in _QUERY_METHODS
    ]


def test_davserver_never_queries_through_record_types() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in sorted((ROOT / "davserver").rglob("*.py"))
        if (found := _queries_on_records(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


def test_the_record_query_check_sees_a_query() -> None:
    source = "from providers.practice.records import DevicePassword as D\nD.select(D.id).where(D.id == 1)\n"
    assert _queries_on_records(source) == ["D.select (line 2)"]
