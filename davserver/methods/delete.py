"""DELETE: a device removes an appointment from its calendar.

The practice decides what that means (sync.device_delete): "cancel" keeps the record with
status cancelled, "delete" removes the row. Either way the resource disappears from every
device (cancelled rows are hidden unless sync.serve_cancelled), and the change-log row that
tells the other devices commits in the same transaction.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from davserver.http import CalDAVError, respond
from davserver.methods.conditions import check_preconditions, writable_calendar
from providers.practice import api
from providers.provider import PracticeProvider

RETRIES = 20


def handle(environ: dict, start_response: Callable, provider: PracticeProvider) -> list[bytes]:
    """204 when removed; 404 for an unknown URL, 412 for a stale or unmatched If-Match."""
    calendar, shown = writable_calendar(provider, environ, for_put=False)
    name = calendar.stored_name(shown)
    settings = calendar.settings
    for attempt in range(RETRIES):
        row = calendar.row_for_write(name)
        visible = row is not None and calendar.serves(row)
        if not visible and "HTTP_IF_MATCH" not in environ:
            raise CalDAVError(404, message="no such resource")
        conditional = check_preconditions(environ, calendar.etag(row.revision) if visible else None)
        try:
            api.delete_appointment(
                row, cancel=settings.delete_mode != "delete", expected_revision=row.revision
            )
        except api.ConflictError:
            if conditional:
                raise CalDAVError(412, message="the appointment was changed meanwhile") from None
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
            continue
        return respond(start_response, 204)
    raise CalDAVError(409, message="the appointment keeps changing; try again")
