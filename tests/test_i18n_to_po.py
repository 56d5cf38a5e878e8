"""scripts/i18n_to_po.py on a copy of the settings page: the catalogs hold exactly the dicts' texts,
the rewritten i18n.py serves them behind the same API, and --check catches what the key test did."""

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
    """A repository root holding a copy of the settings page, converted."""
    if CONVERTED.exists():
        pytest.skip("converted already: the catalogs are tested by test_committed_catalogs")
    shutil.copytree(PAGE, tmp_path / "davserver" / "settings_page")
    assert i18n_to_po.main(["--root", str(tmp_path)]) == 0
    return tmp_path


def locale(root: Path) -> Path:
    return root / "davserver" / "settings_page" / "locale"


def load_copy(root: Path):
    path = root / "davserver" / "settings_page" / "i18n.py"
    spec = importlib.util.spec_from_file_location("i18n_copy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converted_module_serves_the_same_texts(copy):
    converted = load_copy(copy)
    assert converted.DE == i18n.DE and converted.EN == i18n.EN
    assert list(converted.LANGUAGES) == list(i18n.LANGUAGES)
    for language in i18n.LANGUAGES:
        old, new = i18n.translator(language), converted.translator(language)
        for key, text in i18n.LANGUAGES[language].items():
            names = {name: f"<{name}>" for name in i18n_to_po.fields(text)}
            assert new(key, **names) == old(key, **names)
        assert new("no.such.key") == "no.such.key"
    assert converted.negotiate(None, None, "en-GB,en;q=0.9") == "en"


def test_converted_module_has_no_texts_left_and_passes_ruff(copy):
    source = (copy / "davserver" / "settings_page" / "i18n.py").read_text(encoding="utf-8")
    assert "Kalender-Synchronisation" not in source and 'catalogs.load("en", _LOCALE)' in source
    assert len(source.splitlines()) < 100
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    for args in (["check"], ["format", "--check"]):
        done = subprocess.run([ruff, *args, str(copy)], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stdout + done.stderr


def test_catalogs_check_clean_and_are_byte_stable(copy, tmp_path_factory):
    assert i18n_to_po.check(locale(copy)) == []
    assert catalogs.languages(locale(copy)) == sorted(i18n.LANGUAGES)
    again = tmp_path_factory.mktemp("again")
    shutil.copytree(PAGE, again / "davserver" / "settings_page")
    i18n_to_po.main(["--root", str(again)])
    for po in locale(copy).glob("*/LC_MESSAGES/*"):
        assert po.read_bytes() == (locale(again) / po.relative_to(locale(copy))).read_bytes()


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
    """After the lead ran the conversion: what ships is compiled and complete."""
    if not CONVERTED.exists():
        pytest.skip("not converted yet: i18n.py still holds the dicts")
    assert i18n_to_po.check(CONVERTED) == []
