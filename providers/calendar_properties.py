"""What a device may set on its own calendar by PROPPATCH (name, colour, order), and how a
sent value is checked before it is stored on the practitioner's row."""

from __future__ import annotations

import re

from wsgidav.dav_error import HTTP_CONFLICT, DAVError

from providers.practice import validation

# Property name -> the practitioner column that stores it.
SETTABLE = {
    "{DAV:}displayname": "calendar_displayname",
    "{http://apple.com/ns/ical/}calendar-color": "calendar_color",
    "{http://apple.com/ns/ical/}calendar-order": "calendar_order",
}


def parsed_value(column: str, value) -> str | int | None:
    """The value to store for `column` from a PROPPATCH element; 409 when it is not valid.

    None (a <D:remove> or an empty value) means back to the practice's default.
    """
    text = None if value is None else "".join(value.itertext()).strip()
    if not text:
        return None
    if column == "calendar_order":
        try:
            order = int(text)
        except ValueError:
            raise DAVError(HTTP_CONFLICT, "calendar-order must be a whole number") from None
        if not -(2**31) <= order < 2**31:  # the INTEGER column of both databases
            raise DAVError(HTTP_CONFLICT, "calendar-order is out of range")
        return order
    try:
        validation.check_text(text, "displayname")
    except validation.InvalidValue as exc:
        raise DAVError(HTTP_CONFLICT, str(exc)) from None
    if column == "calendar_color" and not re.fullmatch(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", text):
        raise DAVError(HTTP_CONFLICT, "calendar-color must be #RRGGBB or #RRGGBBAA")
    if len(text) > 200:
        raise DAVError(HTTP_CONFLICT, "displayname is limited to 200 characters")
    return text
