"""OPTIONS: the DAV compliance header every client checks before it trusts a URL."""

from __future__ import annotations

from davserver.http import respond

DAV_HEADER = "1, 3, calendar-access"
ALLOW = "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT, PUT, DELETE"


def handle(environ, start_response, provider):
    """200 on every path: Thunderbird asks the parent of a calendar, Apple asks `/`."""
    return respond(start_response, 200, headers=[("DAV", DAV_HEADER), ("Allow", ALLOW)])
