"""The practitioner's own logins on the settings page: device passwords (new, revoke), a
change of the practice password, logout. Only ever the logged-in practitioner's own rows."""

from __future__ import annotations

from davserver.settings_page import views, web
from davserver.settings_page.render import Request, message, render
from providers.practice import api, device_passwords
from providers.practice.passwords import password_problem, verify_password


def devices(request: Request, fields: dict[str, str]) -> web.Response:
    """`action=new` with a label: the new device's password, shown once; `action=profile`:
    the Apple profile with the new device's password in it; `action=revoke`."""
    viewer = request.viewer
    if fields.get("action") in ("new", "profile"):
        try:
            row, password = device_passwords.create(viewer, fields.get("label", ""))
        except device_passwords.DeviceError:
            return message(request, 400, "apppw.bad_label")
        if fields["action"] == "profile":
            return views.profile(request, password)
        return render(request, "device_password.html", device=row, password=password)
    if fields.get("action") != "revoke" or not (fields.get("device") or "").isdigit():
        return message(request, 400, "error.bad_request")
    try:
        row = device_passwords.revoke(viewer.id, int(fields["device"]))
    except device_passwords.DeviceError:  # another practitioner's device is not found either
        return message(request, 404, "error.not_found")
    return views.own_page(request, notices=[request.t("apppw.revoked", label=row.label)])


def change_password(request: Request, fields: dict[str, str]) -> web.Response:
    """The practice password, changed by its owner: current one, new one twice, the policy."""
    viewer = request.viewer
    current, new = fields.get("current", ""), fields.get("new", "")
    if not verify_password(current, viewer.password_hash):
        return message(request, 403, "account.wrong")
    if new != fields.get("repeat", ""):
        return message(request, 400, "account.mismatch")
    if password_problem(new, [viewer.username, viewer.email or "", viewer.display_name]):
        return message(request, 400, "account.weak")
    api.set_password(viewer, new)
    return render(request, "logged_out.html", text=request.t("account.changed"))


def logout(request: Request) -> web.Response:
    """HTTP Basic has no logout: a 401 with the challenge makes the browser drop the login
    it sent (and ask again on the next visit)."""
    response = render(request, "logged_out.html", 401, text=request.t("account.logged_out"))
    realm = request.environ["wsgidav.app"].http_authenticator.domain_controller.settings.realm
    response.headers.append(("WWW-Authenticate", f'Basic realm="{realm}", charset="UTF-8"'))
    return response
