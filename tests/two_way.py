"""Helpers for the two-way sync tests: an own practitioner per module, iCalendar bodies,
and a snapshot of everything a request may change (to prove a rejected one changed nothing).
"""

from __future__ import annotations

import uuid

from providers.practice import api
from providers.practice.models import Appointment, AppointmentOverride, Change, Practitioner

PASSWORD = "two-way-secret"
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}


def new_practitioner(prefix: str, **settings) -> Practitioner:
    """A fresh practitioner in its own practice (module-independent of the demo data)."""
    practice = api.get_or_create_practice(f"Praxis {prefix}", f"practice-{prefix}")
    user = api.create_practitioner(
        practice, f"{prefix} {uuid.uuid4().hex[:6]}", PASSWORD, email=f"{prefix}@example.org"
    )
    if settings:
        api.update_practitioner(user, **settings)
    return user


def calendar_path(user: Practitioner) -> str:
    return f"/{api.url_segment(user.username)}/calendar/"


def vevent(
    uid: str,
    summary: str = "Termin",
    start: str = "20260310T100000",
    end: str | None = "20260310T110000",
    tzid: str | None = "Europe/Vienna",
    extra: str = "",
) -> str:
    """One VEVENT; `extra` lines go inside it (RRULE, VALARM, X- properties ...)."""
    param = f";TZID={tzid}" if tzid else ""
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260301T000000Z", f"DTSTART{param}:{start}"]
    if end:
        lines.append(f"DTEND{param}:{end}")
    lines.append(f"SUMMARY:{summary}")
    lines += [line for line in extra.strip().splitlines() if line.strip()]
    lines.append("END:VEVENT")
    return "\r\n".join(lines) + "\r\n"


def calendar(*components: str, head: str = "") -> str:
    body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//two-way//EN\r\n"
    body += "".join(line + "\r\n" for line in head.strip().splitlines() if line.strip())
    return body + "".join(components) + "END:VCALENDAR\r\n"


def event(uid: str, **kwargs) -> str:
    return calendar(vevent(uid, **kwargs))


def snapshot(user: Practitioner) -> tuple:
    """Every row a device request could touch for this practitioner, comparable with ==."""
    appts = [
        tuple(a.values())
        for a in Appointment.select()
        .where(Appointment.practitioner == user.id)
        .order_by(Appointment.id)
        .dicts()
    ]
    overrides = [
        tuple(o.values())
        for o in AppointmentOverride.select()
        .join(Appointment)
        .where(Appointment.practitioner == user.id)
        .order_by(AppointmentOverride.id)
        .dicts()
    ]
    changes = Change.select().where(Change.practitioner == user.id).count()
    fresh = Practitioner.get_by_id(user.id)
    settings = (fresh.calendar_displayname, fresh.calendar_color, fresh.calendar_order)
    return appts, overrides, changes, settings


def row(user: Practitioner, uid: str) -> Appointment | None:
    return Appointment.get_or_none((Appointment.practitioner == user.id) & (Appointment.uid == uid))


def settings_of(live):
    """The running server's ServiceSettings (to switch delete_mode or sizes in a test)."""
    return live.server.wsgi_app.provider_map["/"].settings
