"""Whatever the database holds, what we serve is well-formed: the one cleaning step.

Rows written before validation existed, or straight into SQL by the practice software,
may hold anything: control characters in any text (XML cannot carry them, RFC 5545
forbids them), a rule that never yields an instance or never advances (every expansion
would run to year 9999 or forever), device extras nested thousands deep, dates whose
arithmetic overflows, unknown zones. Every rendering passes `rendered` (resources.py)
and every text property `xml_text`, so no response breaks, whichever row it includes.
The database is never changed here: the practice's data stays as it is.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from providers.practice import validation
from providers.practice.models import Appointment
from providers.sql.model_rows import detached_copy

log = logging.getLogger("praxis_caldav")

# validation.CONTROL as UTF-8 bytes (surrogates cannot be encoded, so they never get here),
# and a CR or LF that is not part of a line end (a raw one inside a stored device property).
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xef\xbf[\xbe\xbf]|\r(?!\n)|(?<!\r)\n")
# Anything a broken row can make the renderer raise; the row is then served reduced.
_BROKEN = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    OSError,
    RecursionError,
)


def xml_text(text: str) -> str:
    """A text property value without what XML 1.0 cannot carry."""
    return validation.CONTROL.sub("", text)


def ical_bytes(data: bytes) -> bytes:
    """A rendering without control characters (RFC 5545 §3.3.11)."""
    return _CONTROL_BYTES.sub(b"", data)


def rendered(renderer: Callable[[Appointment, object], bytes], appt: Appointment, policy: object) -> bytes:
    """renderer(appt, policy), with what would break a client or a later expansion left out.

    A rule we cannot expand in bounded time is left out (the first occurrence is served),
    device extras too deep or unreadable are dropped; if the renderer still fails, the row
    is served without extras, rule and time zone. Each such case is logged by row id.
    """
    problems = _problems(appt)
    row = _reduced(appt, problems) if problems else appt
    try:
        return ical_bytes(renderer(row, policy))
    except _BROKEN as exc:
        log.warning("appointment %s: stored data cannot be rendered (%s)", appt.id, type(exc).__name__)
    return ical_bytes(renderer(_reduced(appt, problems | {"rrule", "device_ical", "tzid"}), policy))


def _problems(appt: Appointment) -> set[str]:
    """The stored fields we will not render as they are."""
    found = set()
    if appt.rrule and validation.rrule_problem(appt.rrule, appt.start_local) is not None:
        found.add("rrule")
    if appt.device_ical:
        try:
            validation.check_ical_structure(appt.device_ical)
        except validation.InvalidValue:
            found.add("device_ical")
    for key in ("exdates", "rdates"):
        if not _iso_list_ok(getattr(appt, key)):
            found.add(key)
    for name in sorted(found):
        log.warning("appointment %s: stored %s is not served (invalid)", appt.id, name)
    return found


def _iso_list_ok(text: str | None) -> bool:
    if not text:
        return True
    try:
        values = json.loads(text)
        return isinstance(values, list) and all(
            validation.within_limits(validation.parse_local(v)) for v in values
        )
    except (ValueError, TypeError):
        return False


def _reduced(appt: Appointment, problems: set[str]) -> Appointment:
    """A copy of the row (the original stays as read) without the named fields."""
    row = detached_copy(appt)
    for key in problems & {"rrule", "device_ical", "tzid"}:
        setattr(row, key, None)
    for key in problems & {"exdates", "rdates"}:
        setattr(row, key, "[]")
    return row
