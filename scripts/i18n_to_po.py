"""Move the settings page's texts from Python dicts to gettext catalogs (issue 17, item 7).

Why: .po files are what translators and their tools (Poedit, Weblate, Babel) read; the dicts in
davserver/settings_page/i18n.py are not. The keys stay the message ids, so `t("key")` and every
caller stay as they are; davserver/settings_page/catalogs.py loads the compiled .mo files with the
standard library (no Babel at run time; Babel is needed here only).

    .venv/bin/python scripts/i18n_to_po.py            # once: dicts -> .po/.mo, i18n.py loads them
    .venv/bin/python scripts/i18n_to_po.py --compile  # after editing a .po: rebuild the .mo files
    .venv/bin/python scripts/i18n_to_po.py --check    # .mo up to date, same keys and {fields}
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import importlib.util
import string
import sys
from pathlib import Path
from types import ModuleType

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PAGE = Path("davserver/settings_page")
DOMAIN = "messages"
# A fixed date keeps the output byte-identical from run to run (no churn in diffs).
STAMP = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
HEADER = "# Texts of the praxis-caldav settings page. Message ids are the keys t() takes.\n#"
LOADER_DOC = (
    '"""The page\'s texts in German (the default: the practices are in Austria and Germany) and English.\n'
    "\n"
    "The texts live in gettext catalogs, locale/<lang>/LC_MESSAGES/messages.po beside this file\n"
    "(scripts/i18n_to_po.py --compile after editing one; --check: same keys in every language).\n"
    "`{name}` fields are filled with str.format and escaped by the template.\n"
    '"""'
)


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("_i18n_source", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def catalog_path(locale_dir: Path, language: str, suffix: str) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.{suffix}"


def new_catalog(language: str) -> Catalog:
    return Catalog(
        locale=language,
        domain=DOMAIN,
        header_comment=HEADER,
        project="praxis-caldav",
        version="1",
        creation_date=STAMP,
        revision_date=STAMP,
        msgid_bugs_address="the practice's IT",
        last_translator="praxis-caldav developers",
        language_team=language,
        fuzzy=False,
    )


def write_catalogs(languages: dict[str, dict[str, str]], locale_dir: Path) -> None:
    """One .po and .mo per language, messages in the order of the first language's dict."""
    order = list(next(iter(languages.values())))
    for language, texts in languages.items():
        catalog = new_catalog(language)
        for key in order + [k for k in texts if k not in order]:
            if key in texts:
                catalog.add(key, texts[key])
        po = catalog_path(locale_dir, language, "po")
        po.parent.mkdir(parents=True, exist_ok=True)
        with po.open("wb") as file:
            write_po(file, catalog, no_location=True, omit_header=False)
        with catalog_path(locale_dir, language, "mo").open("wb") as file:
            write_mo(file, catalog)


def compile_catalogs(locale_dir: Path) -> list[str]:
    """Rebuild every .mo from its .po; the languages done."""
    done = []
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po.open("rb") as file:
            catalog = read_po(file)
        with po.with_suffix(".mo").open("wb") as file:
            write_mo(file, catalog)
        done.append(po.parent.parent.name)
    return done


def read_texts(po: Path) -> dict[str, str]:
    with po.open("rb") as file:
        return {m.id: m.string for m in read_po(file) if m.id and isinstance(m.id, str)}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def check(locale_dir: Path) -> list[str]:
    """Problems, one line each: a stale .mo, a key missing or empty in a language, unequal {fields}."""
    sys.path.insert(0, str(ROOT))
    from davserver.settings_page import catalogs

    problems = []
    texts = {}
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po.parent.parent.name
        texts[language] = read_texts(po)
        if not po.with_suffix(".mo").is_file() or catalogs.load(language, locale_dir) != texts[language]:
            problems.append(f"{language}: {DOMAIN}.mo is not compiled from {DOMAIN}.po (run --compile)")
    if not texts:
        return [f"{locale_dir}: no catalogs"]
    keys = set().union(*texts.values())
    for language, table in texts.items():
        for key in sorted(keys):
            if not table.get(key):
                problems.append(f"{language}: {key}: missing or empty")
    first, *others = texts
    for other in others:
        for key in sorted(set(texts[first]) & set(texts[other])):
            if fields(texts[first][key]) != fields(texts[other][key]):
                problems.append(f"{other}: {key}: fields differ from {first}'s")
    return problems


def language_dicts(tree: ast.Module, module: ModuleType) -> dict[int, tuple[int, str, str]]:
    """First line -> (last line, variable, language) of each language's dict literal."""
    by_identity = {id(table): code for code, table in module.LANGUAGES.items()}
    found = {}
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict):
            code = by_identity.get(id(getattr(module, target.id, None)))
            if code is not None:
                found[node.lineno] = (node.end_lineno, target.id, code)
    return found


def rewrite_module(path: Path, tree: ast.Module, dicts: dict[int, tuple[int, str, str]]) -> None:
    """Replace each language's dict literal in i18n.py with a load of its catalog."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    last_import = max(n.end_lineno for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom))
    out: list[str] = []
    number = 1
    while number <= len(lines):
        if number in dicts:
            end, name, code = dicts[number]
            if number == min(dicts):
                out.append('_LOCALE = Path(__file__).with_name("locale")\n\n')
            out.append(f'{name}: dict[str, str] = catalogs.load("{code}", _LOCALE)\n')
            number = end + 1
            continue
        out.append(lines[number - 1])
        if number == last_import:
            out.append("from pathlib import Path\n\nfrom davserver.settings_page import catalogs\n")
        number += 1
    text = "".join(out)
    docstring = ast.get_docstring(tree, clean=False)
    if docstring is not None:
        text = text.replace(f'"""{docstring}"""', LOADER_DOC, 1)
    path.write_text(text, encoding="utf-8")


def convert(root: Path) -> None:
    module_path = root / PAGE / "i18n.py"
    module = load_module(module_path)
    tree = ast.parse(module_path.read_text(encoding="utf-8"))
    dicts = language_dicts(tree, module)
    if len(dicts) != len(module.LANGUAGES):
        found = len(dicts)
        raise SystemExit(
            f"{module_path}: {found} of {len(module.LANGUAGES)} language dicts (converted already?)"
        )
    write_catalogs(module.LANGUAGES, root / PAGE / "locale")
    rewrite_module(module_path, tree, dicts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this one)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--compile", action="store_true", help="rebuild the .mo files from the .po files")
    mode.add_argument("--check", action="store_true", help="report stale .mo files and missing keys")
    args = parser.parse_args(argv)
    locale_dir = args.root / PAGE / "locale"
    if args.compile:
        print("compiled:", ", ".join(compile_catalogs(locale_dir)) or "nothing")
        return 0
    if args.check:
        problems = check(locale_dir)
        print("\n".join(problems) or "catalogs OK")
        return 1 if problems else 0
    convert(args.root)
    print(f"wrote {locale_dir}/*/LC_MESSAGES/{DOMAIN}.po and .mo; {args.root / PAGE / 'i18n.py'} loads them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
