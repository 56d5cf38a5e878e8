"""The practitioner's own page: setup values per client, QR code, profile, sync settings.

Every value shown comes from davserver.setup_info (the `urls` and `profile` commands use
the same), and settings are saved through practice_api.update_practitioner like the CLI.
The page only ever reads and changes the logged-in practitioner: no form names a user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from markupsafe import Markup

from davserver.settings_page import web
from davserver.settings_page.devices import devices_by_practitioner, push_logins
from davserver.settings_page.render import Request, message, render
from davserver.setup_info import SetupInfo, apple_profile, setup_info
from providers.practice import access_audit, api, device_passwords

log = logging.getLogger("praxis_caldav.settings_page")

DIRECTIONS = ("two-way", "server-to-device")
PROFILE_TYPE = "application/x-apple-aspen-config"


def qr_svg(data: str, title: str) -> Markup | None:
    """The QR code as inline SVG, made here (no external service); None without segno."""
    try:
        import segno
    except ImportError:  # the page still works, without the code
        log.warning("segno is not installed: the settings page shows no QR code")
        return None
    code = segno.make(data, error="m")
    return Markup(code.svg_inline(scale=4, svgclass="qr", title=title))


def clients(info: SetupInfo, t: Callable[..., str]) -> list[dict]:
    """Per client: the menu paths to follow, a hint, and (field id, label, value, copyable) rows.

    The guides in docs/clients/ quote exactly these menus, labels and values (a test checks).
    """
    ios_menus = {"menu18": t("ios.menu18"), "menu17": t("ios.menu17")}
    return [
        {
            "id": "ios",
            "menus": [*ios_menus.values(), t("ios.profile_menu")],
            "hint": t("ios.manual", **ios_menus),
            "rows": [("ios-server", t("ios.server"), info.base_url, True)],
        },
        {
            "id": "android",
            "menus": [t("android.menu")],
            "hint": t("android.hint", menu=t("android.menu")),
            "rows": [("android-base-url", t("android.base_url"), info.base_url, True)],
        },
        {
            "id": "macos",
            "menus": [t("macos.menu")],
            "hint": t("macos.hint", menu=t("macos.menu")),
            "rows": [
                ("macos-host", t("macos.host"), info.host, True),
                ("macos-path", t("macos.path"), info.path, True),
                ("macos-port", t("macos.port"), str(info.port), True),
                ("macos-ssl", t("macos.ssl"), t("yes") if info.use_tls else t("no"), False),
            ],
        },
        {
            "id": "thunderbird",
            "menus": [t("thunderbird.menu")],
            "hint": t("thunderbird.hint", menu=t("thunderbird.menu")),
            "rows": [("thunderbird-location", t("thunderbird.location"), info.calendar_url, True)],
        },
        {
            "id": "outlook",
            "menus": [t("outlook.menu")],
            "hint": t("outlook.hint", menu=t("outlook.menu")),
            "rows": [("outlook-url", t("outlook.url"), info.calendar_url, True)],
        },
    ]


def own_page(request: Request, status: int = 200, notices: list[str] | None = None) -> web.Response:
    info = setup_info(request.viewer, request.base_url)
    page_url = request.page_url()
    devices = devices_by_practitioner([request.viewer.id])[request.viewer.id]
    return render(
        request,
        "settings.html",
        status,
        info=info,
        clients=clients(info, request.t),
        page_url=page_url,
        qr=qr_svg(page_url, request.t("qr.alt")),
        loopback=web.is_loopback(info.base_url),
        directions=DIRECTIONS,
        devices=devices,
        device_passwords=device_passwords.devices_of(request.viewer.id),
        push_logins=push_logins(request.viewer.id),
        audit=access_audit.rows_of(request.viewer, limit=24),
        device_labels={
            d.id: d.label for d in device_passwords.devices_of(request.viewer.id, include_revoked=True)
        },
        notices=notices or [],
        timezone=request.viewer.practice.timezone,
    )


def show(request: Request) -> web.Response:
    params = web.query(request.environ)
    notices = []
    if params.get("saved"):
        notices.append(request.t("saved"))
    if params.get("pseudonymize") in ("on", "off"):
        notices.append(request.t(f"saved.pseudonymize.{params['pseudonymize']}"))
    return own_page(request, notices=notices)


def save(request: Request, fields: dict[str, str]) -> web.Response:
    """Store the three switches of the logged-in practitioner, then show the page again."""
    direction = fields.get("direction")
    if direction not in DIRECTIONS:
        return message(request, 400, "error.bad_request")
    viewer = request.viewer
    # A switch the admin locked is shown disabled, and browsers do not send disabled fields.
    pseudonymize = fields.get("pseudonymize") == "on" or (viewer.pseudonymize and not viewer.may_relax)
    include_phone = fields.get("include_phone") == "on" and (viewer.include_phone or viewer.may_relax)
    was_pseudonymized = viewer.pseudonymize
    try:
        api.update_own_settings(
            viewer, pseudonymize=pseudonymize, include_phone=include_phone, direction=direction
        )
    except api.PolicyError:
        return message(request, 403, "error.policy")
    changed = None if pseudonymize == was_pseudonymized else ("on" if pseudonymize else "off")
    return web.redirect(request.url("", saved="1", pseudonymize=changed))


def profile(request: Request, device_password: str | None = None) -> web.Response:
    """The Apple configuration profile in the page's language, signed when the admin
    configured a signing certificate; without a password (the device asks for it) unless it
    is made for a new device with its own device password."""
    info = setup_info(request.viewer, request.base_url)
    body = apple_profile(info, request.viewer.practice.name, device_password, lang=request.lang)
    if request.signer is not None:
        body = request.signer.sign(body)
    filename = request.t("ios.profile_file")
    return web.Response(
        200, body, PROFILE_TYPE, [("Content-Disposition", f'attachment; filename="{filename}"')]
    )
