"""PUT: a device creates or changes an appointment (RFC 4791 §5.3.2).

The practice database stays the truth: the upload is mapped onto the row (ical_parse, under
field_ownership) and the resource is what the row renders to. When that is the upload itself
(device_form: the device's own event, stored as sent) the response carries the ETag; when
the server stored anything else it carries none (§5.3.4) and the ETag has moved, so the
device re-reads it. Every check runs before the write, and the write is one compare-and-set
transaction, so a rejected or losing request changes nothing.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable

from davserver.http import CalDAVError, read_body, respond
from davserver.ical import device_form, render
from davserver.ical import parse as ical_parse
from davserver.methods.conditions import check_preconditions, writable_calendar
from providers.practice import api
from providers.practice.records import Appointment
from providers.provider import PracticeProvider
from providers.resources import CalendarCollection

C = "{urn:ietf:params:xml:ns:caldav}"
MAX_NAME = 255
# Without If-Match the client asked for no protection: a lost race is retried on the new state.
RETRIES = 20


class _Retry(Exception):
    """A concurrent writer got in between without the client asking for preconditions."""


def handle(environ: dict, start_response: Callable, provider: PracticeProvider) -> list[bytes]:
    """Create (201) or update (204) the appointment at this URL.

    In a view with opaque names (opaque_names.py) the URL and the UID map to the stored ones;
    a new object gets a server-made name there, which the 201's Location gives.
    """
    calendar, requested = writable_calendar(provider, environ, for_put=True)
    name = calendar.stored_name(requested)
    if len(name) > MAX_NAME:
        raise CalDAVError(400, message=f"resource names are limited to {MAX_NAME} characters")
    charset = _check_content_type(environ.get("CONTENT_TYPE", ""))
    body = read_body(environ)
    if len(body) > calendar.max_resource_size() or environ.get("praxis.body_too_large"):
        raise CalDAVError(
            403,
            C + "max-resource-size",
            f"calendar objects are limited to {calendar.max_resource_size()} bytes",
            headers=(("Connection", "close"),),
        )
    try:
        obj = ical_parse.parse_object(body, charset)
    except ical_parse.InvalidObject as exc:
        raise CalDAVError(403, exc.condition, exc.message) from None
    obj.uid = calendar.stored_uid(obj.uid)
    if len(obj.uid) > MAX_NAME:
        raise CalDAVError(403, ical_parse.VALID_OBJECT, f"UIDs are limited to {MAX_NAME} characters")
    for attempt in range(RETRIES):
        try:
            status, etag = _store(calendar, name, obj, body, environ)
            break
        except _Retry:
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # let the other writer finish
    else:
        raise CalDAVError(409, message="the appointment keeps changing; try again")
    headers = [("ETag", etag)] if etag else []
    if status == 201 and calendar.shown_name(name) != requested:
        headers.append(("Location", _href(calendar, name)))
    return respond(start_response, status, headers=headers)


def _check_content_type(value: str) -> str | None:
    """The charset of a text/calendar body; a missing Content-Type is tolerated."""
    media, *params = [p.strip() for p in value.split(";")]
    if media and media.lower() != "text/calendar":  # RFC 4791 §5.3.2.1
        raise CalDAVError(403, C + "supported-calendar-data", "calendar objects are sent as text/calendar")
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            return val.strip().strip('"') or None
    return None


def _href(calendar: CalendarCollection, name: str) -> str:
    """The href of the member stored as `name`, as this view shows it."""
    return calendar.href_for(calendar.member_path(name))


def _store(
    calendar: CalendarCollection, name: str, obj: ical_parse.DeviceObject, body: bytes, environ: dict
) -> tuple[int, str | None]:
    settings = calendar.settings
    if _only_if_absent(environ):
        created = _create_if_absent(calendar, name, obj)
        if created is not None:
            return 201, _etag_if_identical(calendar, name, body, created)
    row, other = calendar.rows_for_write(name, obj.uid)
    visible = row is not None and calendar.serves(row)
    conditional = check_preconditions(environ, calendar.etag(row.revision) if visible else None)
    if visible and _may_equal_rendering(calendar, body, row) and calendar.render(row) == body:
        return 204, calendar.etag(row.revision)  # nothing changed: no new revision

    if other is not None and (calendar.serves(other) or visible):
        raise CalDAVError(
            403,
            C + "no-uid-conflict",
            "this UID is already used by another resource",
            hrefs=(_href(calendar, other.resource_name),),
        )
    if visible and row.uid != obj.uid:  # RFC 4791 §5.3.2.1: the UID of a resource never changes
        raise CalDAVError(
            403,
            C + "no-uid-conflict",
            "the UID of a stored object cannot change",
            hrefs=(_href(calendar, name),),
        )
    # A different, cancelled object sat at this URL: it is kept aside, in the same transaction.
    parked = row if row is not None and not visible and row.uid != obj.uid else None
    target = None if parked is not None else row
    if target is None and other is not None:  # the device brings a cancelled one back here
        target = other
    reviving = target is not None and not calendar.serves(target)
    try:
        fields = ical_parse.to_fields(
            obj,
            target,
            calendar.policy,
            settings.practice_timezone,
            reviving=reviving,
            delegated=calendar.viewer.id != calendar.owner.id,
        )
        # Each data-API call is one transaction by itself; only parking a cancelled row must
        # share one with the create (an outer transaction costs a savepoint round trip).
        created = None
        with api.transaction() if parked is not None else contextlib.nullcontext():
            if parked is not None:
                api.park_appointment(parked)
            if target is None:
                created = _create(calendar, name, obj.uid, fields, conditional)
                device_form.remember(obj, fields)
            else:
                _update(target, name, obj.uid, fields, conditional)
    except (api.DataError, ical_parse.InvalidObject, ValueError) as exc:
        condition = getattr(exc, "condition", ical_parse.VALID_DATA)
        raise CalDAVError(403, condition, _one_line(exc)) from None
    status = 201 if target is None or reviving else 204
    return status, _etag_if_identical(calendar, name, body, created)  # stored at `name` either way


def _only_if_absent(environ: dict) -> bool:
    """If-None-Match: * without If-Match: how every device uploads a new object."""
    value = environ.get("HTTP_IF_NONE_MATCH")
    return value is not None and value.strip() == "*" and "HTTP_IF_MATCH" not in environ


def _create_if_absent(
    calendar: CalendarCollection, name: str, obj: ical_parse.DeviceObject
) -> Appointment | None:
    """Insert a device's new object straight away, or None when the full path must decide.

    The unique indexes on URL and UID refuse the row if anything, served or cancelled, is
    there already; the full path then answers (412, UID conflict, a cancelled one brought
    back) exactly as without this attempt. Saves the lookup round trip of every create.
    """
    try:
        fields = ical_parse.to_fields(
            obj, None, calendar.policy, calendar.settings.practice_timezone, reviving=False
        )
        created = api.create_appointment(calendar.owner, fields, uid=obj.uid, resource_name=name)
    except (api.AlreadyStored, api.DataError, ical_parse.InvalidObject, ValueError):
        return None
    device_form.remember(obj, fields)  # rendering it on write need not parse the upload again
    return created


def _create(
    calendar: CalendarCollection, name: str, uid: str, fields: api.AppointmentFields, conditional: bool
) -> Appointment:
    try:
        return api.create_appointment(calendar.owner, fields, uid=uid, resource_name=name)
    except api.AlreadyStored:
        # A concurrent create won: the same URL (412 or update next round) or the same UID.
        other = calendar.rows_for_write(name, uid)[1]
        if other is not None and other.resource_name != name:
            raise CalDAVError(
                403,
                C + "no-uid-conflict",
                "this UID is already used by another resource",
                hrefs=(_href(calendar, other.resource_name),),
            ) from None
        if conditional:
            raise CalDAVError(412, message="the resource was created meanwhile") from None
        raise _Retry() from None


def _update(
    target: Appointment, name: str, uid: str, fields: api.AppointmentFields, conditional: bool
) -> None:
    """Compare-and-set on the revision we judged the preconditions on (no lost update)."""
    try:
        api.update_appointment(
            target,
            fields,
            expected_revision=target.revision,
            uid=uid if uid != target.uid else None,
            resource_name=name if name != target.resource_name else None,
            reload=False,
        )
    except api.ConflictError:
        if conditional:
            raise CalDAVError(412, message="the appointment was changed meanwhile") from None
        raise _Retry() from None


def _etag_if_identical(
    calendar: CalendarCollection, name: str, body: bytes, created: Appointment | None = None
) -> str | None:
    """Render the stored row now (render on write) and give its ETag if it equals the upload.

    The rendering is wanted right after: without an ETag the device GETs the object at once,
    and the owner's other devices fetch it with their next sync. Rendered here it lands in the
    cache those reads use, so a write costs one rendering wherever it is read.
    """
    if created is not None and created.as_stored:  # the insert returned the row as stored
        fresh = created
    else:
        fresh = calendar.row_for_write(name)
    if fresh is None:
        return None
    if calendar.render(fresh) != body:
        return None
    return calendar.etag(fresh.revision)


# Every object render_appointment makes carries this line, so an upload without it cannot be
# byte-identical to a rendering: the "nothing changed" check need not render the old row.
_RENDERED_MARK = f"PRODID:{render.PRODID}\r\n".encode()


def _may_equal_rendering(calendar: CalendarCollection, body: bytes, row: Appointment) -> bool:
    """False only when `body` is certainly not what the calendar would render: neither our
    rendering nor the device's own upload served back as sent (device_form)."""
    if not calendar.settings.representation.renders_only_marked_or_uploads:
        return True
    return _RENDERED_MARK in body or (
        row.device_ical is not None and body == device_form.upload_bytes(row.device_ical)
    )


def _one_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or ["invalid calendar data"])[0][:200]
