"""scripts/i18n_to_po.py on a copy of the settings page's catalogs: what ships is compiled and
complete, --compile is byte-stable, and --check catches what a translator can get wrong."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from davserver.settings_page import catalogs, i18n

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import i18n_to_po  # noqa: E402

PAGE = ROOT / "davserver" / "settings_page"
CONVERTED = PAGE / "locale"


@pytest.fixture
def copy(tmp_path):
    """A repository root holding a copy of the settings page with its catalogs."""
    shutil.copytree(PAGE, tmp_path / "davserver" / "settings_page")
    return tmp_path


def locale(root: Path) -> Path:
    return root / "davserver" / "settings_page" / "locale"


def load_copy(root: Path):
    path = root / "davserver" / "settings_page" / "i18n.py"
    spec = importlib.util.spec_from_file_location("i18n_copy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalogs_check_clean_and_compile_byte_stable(copy):
    assert i18n_to_po.check(locale(copy)) == []
    assert catalogs.languages(locale(copy)) == sorted(i18n.LANGUAGES)
    assert i18n_to_po.main(["--root", str(copy), "--compile"]) == 0
    for mo in locale(copy).glob("*/LC_MESSAGES/*.mo"):
        assert mo.read_bytes() == (CONVERTED / mo.relative_to(locale(copy))).read_bytes()


def test_gnu_msgfmt_reads_every_message(copy):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("GNU gettext's msgfmt is not installed")
    for language, texts in i18n.LANGUAGES.items():
        po = locale(copy) / language / "LC_MESSAGES" / "messages.po"
        done = subprocess.run(
            [msgfmt, "--check", "--statistics", "-o", "/dev/null", str(po)], capture_output=True, text=True
        )
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
        assert f"{len(texts)} translated messages." in done.stderr


def test_edited_po_needs_compile(copy):
    po = locale(copy) / "en" / "LC_MESSAGES" / "messages.po"
    po.write_text(
        po.read_text(encoding="utf-8").replace('msgstr "Copy"', 'msgstr "Copy it"'), encoding="utf-8"
    )
    assert i18n_to_po.check(locale(copy)) == [
        "en: messages.mo is not compiled from messages.po (run --compile)"
    ]
    assert i18n_to_po.main(["--root", str(copy), "--compile"]) == 0
    assert i18n_to_po.check(locale(copy)) == []
    assert catalogs.load("en", locale(copy))["copy"] == "Copy it"


def test_check_catches_a_missing_key_and_unequal_fields(copy):
    po = locale(copy) / "de" / "LC_MESSAGES" / "messages.po"
    text = po.read_text(encoding="utf-8")
    text = text.replace('msgid "copy"\nmsgstr "Kopieren"\n', "")
    text = text.replace("Angemeldet als {name}", "Angemeldet als {user}")
    po.write_text(text, encoding="utf-8")
    i18n_to_po.compile_catalogs(locale(copy))
    assert i18n_to_po.check(locale(copy)) == [
        "de: copy: missing or empty",
        "en: logged_in_as: fields differ from de's",
    ]


def test_converting_twice_is_refused(copy):
    with pytest.raises(SystemExit, match="converted already"):
        i18n_to_po.main(["--root", str(copy)])


def test_committed_catalogs():
    """What ships is compiled from the .po files and has every key in every language."""
    assert i18n_to_po.check(CONVERTED) == []
