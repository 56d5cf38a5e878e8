"""The settings page in a real browser (Playwright driving Debian's Chromium).

Without the playwright package or /usr/bin/chromium these tests are skipped, unless
PRAXIS_REQUIRE_BROWSER=1 (CI) turns that into a failure. Playwright never downloads a browser
here: it is pointed at the system's Chromium. PRAXIS_SETTINGS_SCREENSHOT=1 also writes the
page's pictures per language and viewport to docs/screenshots/ (the guides show them).
"""

from __future__ import annotations

import datetime as dt
import os
import plistlib
from pathlib import Path

import caldav
import pytest

from davserver.settings_page.i18n import translator
from davserver.setup_info import PROFILE_TEXTS, setup_info
from providers.practice import api
from providers.practice.models import DeviceSeen, utcnow
from tests.conftest import COLLEAGUE, DEMO_PASSWORD, DEMO_USER

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
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
VIEWPORTS = {
    # An iPhone-sized phone (the QR box must not show: it is for scanning off a computer).
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 900}},
}
LOCALES = {"de": "de-AT", "en": "en-GB"}
EXAMPLE_BASE = "https://kalender.praxis.at/"  # the guides' example server


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
        locale="de-AT",  # a German-speaking practice's browser (headless Chromium says en-US)
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


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("lang", list(LOCALES))
def test_page_per_language_on_phone_and_desktop(browser, sqlite_live, lang, viewport):
    """The browser's language picks the page's; the QR box only on the wide screen; nothing
    overflows the phone's width; the values and the profile are the practitioner's."""
    live = sqlite_live
    example_state(live)
    context = browser.new_context(
        http_credentials={"username": DEMO_USER, "password": DEMO_PASSWORD},
        locale=LOCALES[lang],  # sent as Accept-Language
        accept_downloads=True,
        **VIEWPORTS[viewport],
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    try:
        page.goto(live.url("/settings/"))
        assert page.evaluate("navigator.language") == LOCALES[lang]
        assert page.locator("html").get_attribute("lang") == lang
        t = translator(lang)
        assert page.locator("h1").inner_text() == t("title")
        qr = page.locator(".qr-box")
        assert qr.count() == 1  # in the page either way; CSS decides
        assert qr.is_visible() is (viewport == "desktop")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"the page is wider than the {viewport}: {width}"
        info = setup_info(api.find_practitioner(DEMO_USER), EXAMPLE_BASE)
        assert page.locator("#macos-host").inner_text() == "kalender.praxis.at"
        assert page.locator("#macos-path").inner_text() == info.path
        assert page.locator("#outlook-url").inner_text() == info.calendar_url
        assert t("macos.menu") in page.locator("#client-macos").inner_text()
        with page.expect_download() as download:
            page.click("#profile-link")
        assert download.value.suggested_filename == t("ios.profile_file")
        profile = plistlib.loads(Path(download.value.path()).read_bytes())
        assert profile["PayloadDescription"] == PROFILE_TEXTS[lang]["description"]
        if os.environ.get("PRAXIS_SETTINGS_SCREENSHOT") == "1":
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"settings-page.{lang}.{viewport}.png"), full_page=True)
        assert problems == []
    finally:
        context.close()
        live.config.public_base_url = None


def example_state(live) -> None:
    """What the guides describe: anna maier at https://kalender.praxis.at/, default switches,
    an iPhone and DAVx5 seen a few minutes ago (the screenshots show this state)."""
    live.config.public_base_url = EXAMPLE_BASE
    anna = api.find_practitioner(DEMO_USER)
    api.update_practitioner(anna, pseudonymize=False, include_phone=False, direction="two-way")
    DeviceSeen.delete().where(DeviceSeen.practitioner == anna.id).execute()
    for family, minutes in (("ios", 3), ("davx5", 12)):
        api.record_device_seen(anna.id, family, now=utcnow() - dt.timedelta(minutes=minutes))


def test_language_switch_is_remembered_by_the_browser(browser, sqlite_live):
    context = browser.new_context(
        http_credentials={"username": DEMO_USER, "password": DEMO_PASSWORD}, locale="de-DE"
    )
    page = context.new_page()
    try:
        page.goto(sqlite_live.url("/settings/"))
        assert page.locator("h1").inner_text() == "Kalender-Synchronisation"
        page.click("text=English")
        page.wait_for_url("**/settings/?lang=en")
        page.goto(sqlite_live.url("/settings/"))  # a later visit, no ?lang=
        assert page.locator("h1").inner_text() == "Calendar sync"
        page.click("text=Deutsch")
        page.goto(sqlite_live.url("/settings/"))
        assert page.locator("h1").inner_text() == "Kalender-Synchronisation"
    finally:
        context.close()


def test_admin_grant_form_starts_empty_and_revoke_is_red(browser, sqlite_live):
    anna, bernd = api.find_practitioner(DEMO_USER), api.find_practitioner(COLLEAGUE)
    api.update_practitioner(anna, is_admin=True)
    api.grant_access(anna, bernd, can_write=False)
    context = browser.new_context(http_credentials={"username": DEMO_USER, "password": DEMO_PASSWORD})
    page = context.new_page()
    try:
        page.goto(sqlite_live.url("/settings/admin"))
        assert page.locator("select[name=owner]").input_value() == ""
        assert page.locator("select[name=grantee]").input_value() == ""
        # The browser itself refuses to send the empty form.
        page.click("form.grant button[type=submit]")
        assert page.url.endswith("/settings/admin")
        assert page.evaluate("document.querySelector('select[name=owner]').validity.valueMissing")
        colours = page.evaluate(
            """() => ["form.inline button.danger", "form.grant button[type=submit]"].map(
                   s => getComputedStyle(document.querySelector(s)).backgroundColor)"""
        )
        revoke_bg, grant_bg = colours
        assert revoke_bg != grant_bg
        revoke_fg = page.evaluate(
            "getComputedStyle(document.querySelector('form.inline button.danger')).color"
        )
        assert revoke_fg == "rgb(163, 38, 42)"  # --danger
    finally:
        context.close()
        api.revoke_access(anna, bernd)
        api.update_practitioner(anna, is_admin=False)
