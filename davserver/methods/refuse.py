"""Methods a practice calendar does not offer: a clear status with a reason, never a 500."""

from __future__ import annotations

from davserver.http import CalDAVError

REFUSED = ("MKCALENDAR", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "POST", "ACL")

_REASONS = {
    "MKCALENDAR": (
        403,
        "{DAV:}resource-must-be-null",
        "calendars are created by the practice, not by devices",
    ),
    "MKCOL": (403, None, "collections are created by the practice, not by devices"),
    "COPY": (403, None, "appointments cannot be copied; create a new one with PUT"),
    "MOVE": (403, None, "appointments cannot be moved between URLs; change them with PUT"),
    "ACL": (403, "{DAV:}no-ace-conflict", "access rights are set by the practice admin"),
}


def handle(environ, start_response, provider):
    method = environ["REQUEST_METHOD"].upper()
    if method in _REASONS and not _visible(provider, environ, method):
        # A 403 would tell a foreign calendar apart from nothing at all (provider.py); a 405
        # is about the server, the same on every path.
        raise CalDAVError(404, message="no such resource")
    status, condition, message = _REASONS.get(
        method, (405, None, f"{method} is not supported by this server")
    )
    headers = (("Allow", "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT, PUT, DELETE"),)
    raise CalDAVError(status, condition, message, headers=headers if status == 405 else ())


def _visible(provider, environ: dict, method: str) -> bool:
    """The request path resolves for this viewer; for MKCOL/MKCALENDAR (whose target is
    new) its parent does: a name in the viewer's own home is refused, not hidden."""
    path = environ["PATH_INFO"]
    if provider.get_resource_inst(path, environ) is not None:
        return True
    if method not in ("MKCALENDAR", "MKCOL"):
        return False
    parent = "/" + "/".join([p for p in path.split("/") if p][:-1]) + "/"
    return provider.get_resource_inst(parent.replace("//", "/"), environ) is not None
