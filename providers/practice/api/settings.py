"""A practitioner's settings and privacy policy: who may change what (the admin sets the
policy; a practitioner may make it stricter, and loosen it only where the admin allowed)."""

from __future__ import annotations

from providers.practice import validation
from providers.practice.api.change_log import _log_change, republish
from providers.practice.api.errors import DataError, PolicyError, _valid
from providers.practice.api.practitioners import _check_email
from providers.practice.models import (
    Appointment,
    Practitioner,
    database_proxy,
)
from providers.sql import practitioner_cache


def update_practitioner(practitioner: Practitioner, **values: object) -> Practitioner:
    """Change profile or sync settings; settings that change the rendering re-publish every event."""
    allowed = {
        "display_name",
        "email",
        "pseudonymize",
        "include_phone",
        "direction",
        "calendar_displayname",
        "calendar_color",
        "calendar_order",
        "is_admin",
        "may_relax",
    }
    unknown = set(values) - allowed
    if unknown:
        raise DataError(f"unknown practitioner field {sorted(unknown)[0]!r}")
    if "direction" in values and values["direction"] not in ("two-way", "server-to-device"):
        raise DataError("direction must be two-way or server-to-device")
    if "email" in values:
        _check_email(values["email"])  # type: ignore[arg-type]
    for key in ("display_name", "calendar_displayname"):
        if isinstance(values.get(key), str):
            _valid(validation.check_text, values[key], key)
    rendering = {"pseudonymize", "include_phone", "display_name"}
    changed = {k for k, v in values.items() if getattr(practitioner, k) != v}
    with database_proxy.atomic():
        for key in changed:
            setattr(practitioner, key, values[key])
        if changed:
            practitioner.save()
        if changed & rendering:
            republish(Appointment.practitioner == practitioner.id)
        elif changed & {"calendar_displayname", "calendar_color", "calendar_order", "direction"}:
            # Collection properties changed: move the ctag so clients re-read them.
            _log_change(practitioner.id, "")
    practitioner_cache.forget_all()
    return practitioner


def update_own_settings(practitioner: Practitioner, **values: object) -> Practitioner:
    """A practitioner changing their own settings (the settings page): stricter privacy is
    always allowed, looser (pseudonymization off, phone on) only if the admin allowed it."""
    if not practitioner.may_relax:
        if practitioner.pseudonymize and values.get("pseudonymize") is False:
            raise PolicyError("only the practice admin can switch pseudonymization off")
        if not practitioner.include_phone and values.get("include_phone") is True:
            raise PolicyError("only the practice admin can switch the phone number on")
    if "may_relax" in values or "is_admin" in values:
        raise PolicyError("only the practice admin can change this setting")
    return update_practitioner(practitioner, **values)
