"""The admin view's login actions: add a practitioner, disable or enable one, revoke one of
their devices, set their privacy policy; and their devices' access audit. Only
practitioners of the admin's own practice;
changes go through the data API (providers.practice.accounts, device_passwords, practice_api)."""

from __future__ import annotations

from davserver.settings_page import web
from davserver.settings_page.render import Request, message, render
from providers.practice import access_audit, accounts, api, device_passwords
from providers.practice.records import Practitioner

ACTIONS = ("add", "disable", "enable", "revoke_device", "policy")
AUDIT_ROWS = 48  # two days of one device, or an hour of a practice's busy morning


def audit_context(practitioner_ids: list[int]) -> dict[str, object]:
    """The access audit of the practice's practitioners for the admin view (issue 18: shown
    to the practitioner and in the admin view), with the labels of revoked devices too."""
    return {
        "audit": access_audit.rows_of_practitioners(practitioner_ids, limit=AUDIT_ROWS),
        "audit_labels": device_passwords.labels_of(practitioner_ids),
    }


def act(request: Request, fields: dict[str, str], colleague, new_password) -> web.Response:
    """One of ACTIONS; `colleague(admin, id)` finds a practitioner of the admin's practice."""
    admin = request.viewer
    action = fields["action"]
    if action == "add":
        return _add(request, fields, new_password)
    person: Practitioner | None = colleague(admin, fields.get("practitioner"))
    if person is None:
        return message(request, 404, "error.not_found")
    if action in ("disable", "enable"):
        if person.id == admin.id:
            return message(request, 400, "admin.self")  # an admin never locks themselves out
        accounts.set_disabled(person, action == "disable")
    elif action == "revoke_device":
        device = fields.get("device") or ""
        if not device.isdigit():
            return message(request, 400, "error.bad_request")
        try:
            device_passwords.revoke(person.id, int(device))
        except device_passwords.DeviceError:
            return message(request, 404, "error.not_found")
    else:
        api.update_practitioner(
            person,
            pseudonymize=fields.get("pseudonymize") == "on",
            include_phone=fields.get("include_phone") == "on",
            may_relax=fields.get("may_relax") == "on",
        )
    return web.redirect(request.url("admin", done=action))


def _add(request: Request, fields: dict[str, str], new_password) -> web.Response:
    """A new practitioner of the admin's practice with a random password, shown once."""
    password = new_password()
    try:
        person = api.create_practitioner(
            request.viewer.practice,
            fields.get("username", ""),
            password,
            display_name=fields.get("display_name") or None,
            email=fields.get("email") or None,
        )
    except api.DataError:
        return message(request, 400, "admin.add.invalid")
    return render(request, "password.html", person=person, password=password)
