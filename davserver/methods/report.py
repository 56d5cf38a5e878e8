"""REPORT: dispatch to the report registry (wsgidav itself answers REPORT with 405)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from lxml import etree

from davserver import framing, reports
from davserver.http import CalDAVError, read_body, request_xml, respond, respond_xml, status_line
from davserver.ical.calendar_data import CalendarDataError, apply_calendar_data, parse_calendar_data
from davserver.reports.responses import ChunkedBody
from davserver.work_budget import TooMuchWork, work_budget
from providers.properties import CALDAV
from providers.resources import CalendarCollection

SUPPORTED_REPORT = "{DAV:}supported-report"


def handle(environ, start_response, provider):
    resource = provider.get_resource_inst(environ["PATH_INFO"], environ)
    if resource is None:
        raise CalDAVError(404, message="no such resource")
    body = read_body(environ)
    if not body:
        raise CalDAVError(400, message="REPORT without a body")
    request_el = request_xml(environ)
    report = reports.for_resource(request_el.tag, getattr(resource, "kind", None))
    if report is None:
        raise CalDAVError(403, SUPPORTED_REPORT, "this report is not supported on this resource")
    calendar_data = calendar_data_transform(request_el, resource)
    try:
        with work_budget(gone=framing.client_gone):
            result = report.handle(request_el, resource, environ, calendar_data)
    except TooMuchWork as exc:
        raise CalDAVError(403, f"{{{CALDAV}}}max-instances", f"{exc}; ask for a shorter time range") from None
    if isinstance(result, reports.ReportResult):
        if isinstance(result.body, list):  # chunks: the body is never joined into one
            body = ChunkedBody(result.body)
            headers = [
                *result.headers,
                ("Content-Type", result.content_type),
                ("Content-Length", str(body.length)),
            ]
            start_response(status_line(result.status), headers)
            return body
        return respond(start_response, result.status, result.body, result.content_type, list(result.headers))
    return respond_xml(start_response, 207, result)


def calendar_data_transform(
    request_el: etree._Element, calendar: CalendarCollection
) -> Callable[[bytes], bytes] | None:
    """The <C:calendar-data> of the request as a bytes -> bytes function (None = whole object).

    Parsed once per request, so a malformed element fails the REPORT before any row is read.
    """
    _, el = reports.request_props(request_el)
    if el is None:
        return None
    try:
        spec = parse_calendar_data(el)
    except CalendarDataError as exc:
        if exc.condition:
            raise CalDAVError(403, f"{{{CALDAV}}}{exc.condition}", str(exc)) from None
        raise CalDAVError(400, message=str(exc)) from None
    if spec is None or spec.whole:
        return None
    tz = ZoneInfo(calendar.settings.practice_timezone)
    return lambda data: apply_calendar_data(spec, data, tz)
