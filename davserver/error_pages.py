"""Error pages that never echo the request path, an exception or the framework version.

wsgidav's DAVError page writes the path ("404 Not Found: /anna/calendar/Maria-Muster.ics"),
the source exception and "WsgiDAV/4.4.0" into every HTML error page. A path a device chose
may name a patient, so errors leave the server as the status line alone; CalDAV pre- and
postconditions keep their XML body (it names the condition, not the request).
"""

from __future__ import annotations

from wsgidav.dav_error import DAVError, get_http_status_string


def quiet_page(error: DAVError) -> tuple[str, bytes]:
    """(content type, body) of the answer to ``error``: the condition's XML, else the status."""
    if error.err_condition:
        return error.get_response_page()
    status = get_http_status_string(error)
    page = f"<!DOCTYPE html>\n<html><head><title>{status}</title></head><body><h1>{status}</h1>"
    return "text/html; charset=utf-8", (page + "</body></html>\n").encode()
