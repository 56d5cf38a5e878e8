"""The settings page in a real browser (Playwright driving Debian's Chromium).

Without the playwright package or /usr/bin/chromium these tests are skipped, unless
PRAXIS_REQUIRE_BROWSER=1 (CI) turns that into a failure. Playwright never downloads a browser
here: it is pointed at the system's Chromium. PRAXIS_SETTINGS_SCREENSHOT=1 also writes the
page's picture to docs/settings-page.png.
"""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

import caldav
import pytest

from davserver.setup_info import setup_info
from providers import practice_api as api
from tests.conftest import DEMO_PASSWORD, DEMO_USER

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE = os.environ.get("PRAXIS_REQUIRE_BROWSER") == "1"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "settings-page.png"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing()
    if reason:
        if REQUIRE:
            pytest.fail(f"PRAXIS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"browser tests skipped: {reason} (PRAXIS_REQUIRE_BROWSER=1 makes this fail)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser, live, javascript: bool = True):
    context = browser.new_context(
        http_credentials={"username": DEMO_USER, "password": DEMO_PASSWORD},
        java_script_enabled=javascript,
        viewport={"width": 1100, "height": 900},
        accept_downloads=True,
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.base_url.rstrip("/"))
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    # Aborted is not failed: a download by navigation (the profile link), or a request
    # still in flight when the form's post navigates away.
    page.on(
        "requestfailed",
        lambda r: (
            None if "ERR_ABORTED" in (r.failure or "") else problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    page.goto(live.url("/settings/"))
    return context, page, problems


def synced_summaries(live) -> list[str]:
    """What a CalDAV client (the caldav library) gets for the practitioner's calendar."""
    client = caldav.DAVClient(url=live.base_url, username=DEMO_USER, password=DEMO_PASSWORD)
    (calendar,) = client.principal().calendars()
    return [str(event.icalendar_component.get("summary")) for event in calendar.events()]


def test_practitioner_copies_values_downloads_profile_and_pseudonymizes(browser, sqlite_live):
    live = sqlite_live
    before = synced_summaries(live)
    assert any("Maria Muster" in s for s in before)
    context, page, problems = open_page(browser, live)
    try:
        assert "Kalender-Synchronisation" in page.title()
        info = setup_info(api.find_practitioner(DEMO_USER), live.base_url)
        for field, value in [
            ("macos-host", info.host),
            ("macos-path", info.path),
            ("macos-port", str(info.port)),
        ]:
            button = page.locator(f'button[data-copy="{field}"]')
            button.click()
            page.wait_for_function(
                "v => document.documentElement.getAttribute('data-copied') === v", arg=value
            )
            assert page.evaluate("navigator.clipboard.readText()") == value
            assert button.inner_text() == "Kopiert"

        with page.expect_download() as download:
            page.click("#profile-link")
        profile = plistlib.loads(Path(download.value.path()).read_bytes())
        (account,) = profile["PayloadContent"]
        assert (account["CalDAVHostName"], account["CalDAVPort"], account["CalDAVPrincipalURL"]) == (
            info.host,
            info.port,
            info.path,
        )
        assert download.value.suggested_filename.endswith(".mobileconfig")

        page.check("#pseudonymize")
        page.click("#save")
        page.wait_for_url("**/settings/?saved=1&pseudonymize=on")
        notice = page.inner_text("main")
        assert "jeden Termin neu" in notice and "kein Klarname" in notice
        assert page.is_checked("#pseudonymize")
        if os.environ.get("PRAXIS_SETTINGS_SCREENSHOT") == "1":
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert problems == []  # no CSP violation, no failed request
    finally:
        context.close()

    after = synced_summaries(live)
    assert len(after) == len(before)
    assert any("MaMu 1042" in s for s in after)
    assert not any("Maria" in s or "Muster" in s for s in after)


def test_page_works_without_javascript_and_in_english(browser, sqlite_live):
    live = sqlite_live
    # The admin set pseudonymization and lets the practitioner switch it off again.
    api.update_practitioner(api.find_practitioner(DEMO_USER), pseudonymize=True, may_relax=True)
    context, page, problems = open_page(browser, live, javascript=False)
    try:
        page.click("text=English")
        page.wait_for_url("**/settings/?lang=en")
        assert page.locator("h1").inner_text() == "Calendar sync"
        assert not page.locator("button.copy").first.is_visible()  # copy needs the script
        assert page.locator("#macos-path").inner_text() == "/anna_maier/"
        page.uncheck("#pseudonymize")
        page.check("#direction-server-to-device")
        page.click("#save")
        page.wait_for_url("**/settings/?lang=en&saved=1&pseudonymize=off")
        assert "full patient names again" in page.inner_text("main")
        assert problems == []
    finally:
        context.close()
    anna = api.find_practitioner(DEMO_USER)
    assert (anna.pseudonymize, anna.direction) == (False, "server-to-device")
    assert any("Maria Muster" in s for s in synced_summaries(live))
    api.update_practitioner(anna, may_relax=False)
