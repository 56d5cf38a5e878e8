"""The practice admin's view: practitioners with device sync status, delegations, lock-out
(and, in admin_accounts, adding, disabling, device revocation and privacy policy).

Everything is limited to the admin's own practice: a practitioner id from another practice
is answered like one that does not exist. Changes go through practice_api.
"""

from __future__ import annotations

import secrets

from davserver.settings_page import admin_accounts, web
from davserver.settings_page.devices import devices_by_practitioner
from davserver.settings_page.render import Request, message, render
from providers.practice import api, device_passwords, directory
from providers.practice.records import Practitioner

# No 0/O, 1/l/I: the new password is read off a screen and typed on a phone.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_password(groups: int = 4, size: int = 4) -> str:
    """A random password of about 80 bits, grouped for typing (e.g. "k7pm-3xqz-…")."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(size)) for _ in range(groups))


def _colleagues(admin: Practitioner) -> list[Practitioner]:
    return directory.colleagues(admin.practice_id)


def _colleague(admin: Practitioner, value: str | None) -> Practitioner | None:
    """A practitioner of the admin's practice by row id, else None."""
    if not value or not value.isdigit():
        return None
    return directory.colleague(admin.practice_id, int(value))


def admin_page(
    request: Request, status: int = 200, notices: list[str] | None = None, errors: list[str] | None = None
) -> web.Response:
    people = _colleagues(request.viewer)
    ids = [p.id for p in people]
    grants = directory.grants_by_owners(ids)
    by_id = {p.id: p for p in people}
    return render(
        request,
        "admin.html",
        status,
        people=people,
        devices=devices_by_practitioner(ids),
        device_passwords={pid: device_passwords.devices_of(pid) for pid in ids},
        **admin_accounts.audit_context(ids),
        by_id=by_id,
        grants=[g for g in grants if g.grantee_id in by_id],
        timezone=request.viewer.practice.timezone,
        notices=notices or [],
        errors=errors or [],
    )


def show(request: Request) -> web.Response:
    done = web.query(request.environ).get("done")
    known = ("grant", "revoke", *admin_accounts.ACTIONS)
    notices = [request.t(f"admin.{done}.done")] if done in known and done != "add" else []
    return admin_page(request, notices=notices)


def act(request: Request, fields: dict[str, str]) -> web.Response:
    """One admin action from a form: grant, revoke or reset (lock out all devices)."""
    admin = request.viewer
    action = fields.get("action")
    if action == "reset":
        person = _colleague(admin, fields.get("practitioner"))
        if person is None:
            return message(request, 404, "error.not_found")
        password = new_password()
        api.set_password(person, password)
        device_passwords.revoke_all(person.id)  # every device: device passwords too
        return render(request, "password.html", person=person, password=password)
    if action in admin_accounts.ACTIONS:
        return admin_accounts.act(request, fields, _colleague, new_password)
    if action not in ("grant", "revoke"):
        return message(request, 400, "error.bad_request")
    if action == "grant" and not (fields.get("owner") and fields.get("grantee")):
        # The form starts empty, so nobody grants by accident; a browser without
        # `required` support can still send it that way.
        return admin_page(request, 400, errors=[request.t("admin.grant.missing")])
    owner = _colleague(admin, fields.get("owner"))
    grantee = _colleague(admin, fields.get("grantee"))
    if owner is None or grantee is None:
        return message(request, 404, "error.not_found")
    if action == "revoke":
        api.revoke_access(owner, grantee)
        return web.redirect(request.url("admin", done="revoke"))
    if fields.get("level") not in ("read", "write"):
        return message(request, 400, "error.bad_request")
    try:
        api.grant_access(owner, grantee, can_write=fields["level"] == "write")
    except api.DataError:  # e.g. a practitioner delegating to themselves
        return admin_page(request, 400, errors=[request.t("error.bad_request")])
    return web.redirect(request.url("admin", done="grant"))
