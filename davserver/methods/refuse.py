"""Methods a practice calendar does not offer: a clear status with a reason, never a 500."""

from __future__ import annotations

from davserver.http import CalDAVError

REFUSED = ("MKCALENDAR", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "POST", "ACL")

_REASONS = {
    "MKCALENDAR": (403, "{DAV:}resource-must-be-null",
                   "calendars are created by the practice, not by devices"),
    "MKCOL": (403, None, "collections are created by the practice, not by devices"),
    "COPY": (403, None, "appointments cannot be copied; create a new one with PUT"),
    "MOVE": (403, None, "appointments cannot be moved between URLs; change them with PUT"),
    "ACL": (403, "{DAV:}no-ace-conflict", "access rights are set by the practice admin"),
}


def handle(environ, start_response, provider):
    method = environ["REQUEST_METHOD"].upper()
    status, condition, message = _REASONS.get(
        method, (405, None, f"{method} is not supported by this server")
    )
    headers = (("Allow", "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT, PUT, DELETE"),)
    raise CalDAVError(status, condition, message, headers=headers if status == 405 else ())
