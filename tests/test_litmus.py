"""litmus, the WebDAV conformance suite, against the live server (results: docs/conformance/litmus.md).

litmus begins every suite with `DELETE` + `MKCOL <url>/litmus/` and gives up on the whole suite
when that MKCOL fails. We refuse MKCOL by design (the calendar comes from the practice database),
so the test maps litmus's scratch collection onto anna maier's calendar: a WSGI wrapper answers
only the DELETE/MKCOL of `/anna_maier/calendar/litmus/` itself and maps every other request below
it onto `/anna_maier/calendar/` (and the hrefs back). Everything else is the real server.

Every test's outcome is asserted against EXPECTED: a regression (a pass turning into a failure)
and an unexplained change (a documented failure starting to pass) both fail this test; update
EXPECTED and litmus.md together.

Skipped when `litmus` is not installed, unless PRAXIS_REQUIRE_LITMUS=1 (then it fails).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import DEMO_PASSWORD, DEMO_USER, start_server

CALENDAR = "/anna_maier/calendar/"
SCRATCH = CALENDAR + "litmus/"
REQUIRE = os.environ.get("PRAXIS_REQUIRE_LITMUS") == "1"

# suite -> test -> "pass" | "FAIL" | "SKIPPED"; each FAIL is explained in docs/conformance/litmus.md.
EXPECTED: dict[str, dict[str, str]] = {
    "basic": {
        "0. init": "pass",
        "1. begin": "pass",
        "2. options": "pass",
        "3. put_get": "FAIL",
        "4. put_get_utf8_segment": "FAIL",
        "5. put_no_parent": "pass",
        "6. mkcol_over_plain": "SKIPPED",
        "7. delete": "SKIPPED",
        "8. delete_null": "pass",
        "9. delete_fragment": "FAIL",
        "10. mkcol": "FAIL",
        "11. mkcol_again": "SKIPPED",
        "12. delete_coll": "SKIPPED",
        "13. mkcol_no_parent": "pass",
        "14. mkcol_with_body": "FAIL",
        "15. finish": "pass",
    },
    "copymove": {
        "0. init": "pass",
        "1. begin": "pass",
        "2. copy_init": "FAIL",
        "3. copy_simple": "SKIPPED",
        "4. copy_overwrite": "SKIPPED",
        "5. copy_nodestcoll": "SKIPPED",
        "6. copy_cleanup": "pass",
        "7. copy_coll": "FAIL",
        "8. copy_shallow": "FAIL",
        "9. move": "FAIL",
        "10. move_coll": "FAIL",
        "11. move_cleanup": "pass",
        "12. finish": "pass",
    },
    "props": {
        "0. init": "pass",
        "1. begin": "pass",
        "2. propfind_invalid": "pass",
        "3. propfind_invalid2": "pass",
        "4. propfind_d0": "pass",
        "5. propinit": "FAIL",
        "6. propset": "SKIPPED",
        "7. propget": "SKIPPED",
        "8. propextended": "pass",
        "9. propmove": "SKIPPED",
        "10. propget": "SKIPPED",
        "11. propdeletes": "SKIPPED",
        "12. propget": "SKIPPED",
        "13. propreplace": "SKIPPED",
        "14. propget": "SKIPPED",
        "15. propnullns": "SKIPPED",
        "16. propget": "SKIPPED",
        "17. prophighunicode": "SKIPPED",
        "18. propget": "SKIPPED",
        "19. propremoveset": "SKIPPED",
        "20. propget": "SKIPPED",
        "21. propsetremove": "SKIPPED",
        "22. propget": "SKIPPED",
        "23. propvalnspace": "SKIPPED",
        "24. propwformed": "pass",
        "25. propinit": "FAIL",
        "26. propmanyns": "FAIL",
        "27. propget": "SKIPPED",
        "28. propcleanup": "pass",
        "29. finish": "pass",
    },
    "locks": {"0. init": "pass", "1. begin": "pass", "2. options": "pass", "3. precond": "SKIPPED"},
    "http": {"0. init": "pass", "1. begin": "pass", "2. expect100": "pass", "3. finish": "pass"},
}

# Warnings on passing tests, each explained in litmus.md.
EXPECTED_WARNINGS = {
    "server does not claim Class 2 compliance",
    "MKCOL with missing intermediate gave 404, should be 409",
    "MKCOL with missing intermediate gave 404, should be 409 (RFC2518:8.3.1)",
}


class ScratchCollection:
    """WSGI wrapper: litmus's scratch collection `litmus/` is the calendar itself."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        if path.rstrip("/") == SCRATCH.rstrip("/") and method in ("MKCOL", "DELETE"):
            status = "201 Created" if method == "MKCOL" else "204 No Content"
            start_response(status, [("Content-Length", "0")])
            return [b""]
        if path.startswith(SCRATCH):
            environ["PATH_INFO"] = CALENDAR + path[len(SCRATCH) :]
        elif path == SCRATCH.rstrip("/"):
            environ["PATH_INFO"] = CALENDAR
        for key in ("HTTP_DESTINATION",):
            if key in environ:
                environ[key] = environ[key].replace(SCRATCH, CALENDAR)
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        body = body.replace(f">{CALENDAR}".encode(), f">{SCRATCH}".encode())
        headers = [
            (k, v.replace(CALENDAR, SCRATCH) if k.lower() == "location" else v)
            for k, v in captured["headers"]
            if k.lower() != "content-length"
        ]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]


LINE = re.compile(r"^\s*(\d+)\.\s+(\w+)\.*\s*(.*)$")
CONTINUATION = re.compile(r"^\s*\.+\s*(pass|FAIL|SKIPPED)")
OUTCOMES = ("pass", "FAIL", "SKIPPED")


def parse(output: str) -> dict[str, dict[str, str]]:
    """litmus's console output -> suite -> "N. test" -> outcome (a warning still counts as pass).

    Tests are keyed with their number: the props suite runs propget and propinit several times.
    """
    results: dict[str, dict[str, str]] = {}
    suite: dict[str, str] | None = None
    pending = None
    for line in output.splitlines():
        start = re.match(r"^-> running `(\w+)':", line)
        if start:
            suite = results.setdefault(start.group(1), {})
            continue
        if suite is None:
            continue
        rest = None
        m = LINE.match(line)
        if m:
            pending, rest = f"{int(m.group(1))}. {m.group(2)}", m.group(3)
        elif pending and CONTINUATION.match(line):
            rest = line.strip().lstrip(".").strip()
        if pending and rest:
            outcome = next((o for o in OUTCOMES if rest.startswith(o)), None)
            if outcome:
                suite[pending] = outcome
                pending = None
    return results


@pytest.fixture(scope="module")
def litmus_server(tmp_path_factory):
    if shutil.which("litmus") is None:
        if REQUIRE:
            pytest.fail("litmus required (PRAXIS_REQUIRE_LITMUS=1) but not installed")
        pytest.skip("litmus not installed (Debian package `litmus`; PRAXIS_REQUIRE_LITMUS=1 to fail)")
    path = tmp_path_factory.mktemp("litmus") / "praxis.db"
    server = start_server(f"sqlite:///{path}", wrap=ScratchCollection)
    yield server
    server.server.stop()


def run_litmus(server, workdir) -> tuple[str, dict[str, dict[str, str]]]:
    result = subprocess.run(
        ["litmus", "-k", server.url(SCRATCH.removesuffix("litmus/")), DEMO_USER, DEMO_PASSWORD],
        cwd=workdir,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
        env={**os.environ, "TESTS": "basic copymove props locks http"},
    )
    return result.stdout, parse(result.stdout)


def warnings(output: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"WARNING: (.*)", output)}


def test_litmus_results_are_exactly_the_documented_ones(litmus_server, tmp_path):
    output, results = run_litmus(litmus_server, tmp_path)
    assert set(results) == {"basic", "copymove", "props", "locks", "http"}, output
    for suite, tests in EXPECTED.items():
        changed = {t: (o, results[suite].get(t)) for t, o in tests.items() if results[suite].get(t) != o}
        assert not changed, f"{suite}: expected vs. got {changed}\n{output}"
        assert set(results[suite]) == set(tests), output
    assert warnings(output) == EXPECTED_WARNINGS, output


def test_litmus_output_parser():
    sample = (
        " -> running `basic':\n-> running `basic':\n 0. init.................. \n"
        " 0. init.................. pass\n 2. options............... WARNING: no class 2\n"
        "    ...................... pass (with 1 warning)\n 3. put_get............... FAIL (403)\n"
        " 6. mkcol_over_plain...... SKIPPED\n"
    )
    assert parse(sample) == {
        "basic": {
            "0. init": "pass",
            "2. options": "pass",
            "3. put_get": "FAIL",
            "6. mkcol_over_plain": "SKIPPED",
        }
    }
    assert warnings(sample) == {"no class 2"}
