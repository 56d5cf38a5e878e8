"""REPORT: dispatch to the report registry (wsgidav itself answers REPORT with 405)."""

from __future__ import annotations

from davserver import reports
from davserver.http import CalDAVError, parse_xml, read_body, respond_xml
from providers.resources import CalendarCollection

SUPPORTED_REPORT = "{DAV:}supported-report"


def handle(environ, start_response, provider):
    resource = provider.get_resource_inst(environ["PATH_INFO"], environ)
    if resource is None:
        raise CalDAVError(404, message="no such resource")
    body = read_body(environ)
    if not body:
        raise CalDAVError(400, message="REPORT without a body")
    request_el = parse_xml(body)
    report = reports.REGISTRY.get(request_el.tag)
    if report is None or not isinstance(resource, CalendarCollection):
        raise CalDAVError(403, SUPPORTED_REPORT, "this report is not supported on this resource")
    calendar_data = calendar_data_transform(request_el, resource)
    ms = report.handle(request_el, resource, environ, calendar_data)
    return respond_xml(start_response, 207, ms)


def calendar_data_transform(request_el, calendar):
    """The <C:calendar-data> of the request as a bytes -> bytes function (None = whole object)."""
    from zoneinfo import ZoneInfo

    from davserver.calendar_data import apply_calendar_data, parse_calendar_data
    from davserver.filters import FilterError

    _, el = reports.request_props(request_el)
    if el is None:
        return None
    try:
        spec = parse_calendar_data(el)
    except (FilterError, ValueError) as exc:
        raise CalDAVError(403, "{urn:ietf:params:xml:ns:caldav}valid-filter", str(exc)) from None
    if spec is None:
        return None
    tz = ZoneInfo(calendar.settings.practice_timezone)
    return lambda data: apply_calendar_data(spec, data, tz)
