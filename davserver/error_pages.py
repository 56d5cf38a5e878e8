"""Error responses that never echo the request path, an exception or the framework version.

wsgidav's ErrorPrinter writes the path ("404 Not Found: /anna/calendar/Maria-Muster.ics"),
the source exception and "WsgiDAV/4.4.0" into every HTML error page, and the same text into
its debug log line. A path a device chose may name a patient, so errors leave the server as
the status line alone; CalDAV pre- and postconditions keep their XML body (it names the
condition, not the request).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Iterator

from wsgidav.dav_error import ERROR_DESCRIPTIONS, DAVError, get_http_status_string
from wsgidav.error_printer import ErrorPrinter

log = logging.getLogger("praxis_caldav.errors")


class _QuietError(DAVError):
    """A DAVError that shows its status only: in its page, its repr and the log."""

    def get_user_info(self) -> str:
        return ERROR_DESCRIPTIONS.get(self.value, str(self.value))

    def get_response_page(self) -> tuple[str, bytes]:
        if self.err_condition:
            return super().get_response_page()
        status = get_http_status_string(self)
        page = f"<!DOCTYPE html>\n<html><head><title>{status}</title></head><body><h1>{status}</h1>"
        return "text/html; charset=utf-8", (page + "</body></html>\n").encode()


def _quiet(error: DAVError) -> _QuietError:
    quiet = _QuietError(error.value, err_condition=error.err_condition, add_headers=error.add_headers)
    quiet.add_body = error.add_body
    return quiet


class ErrorPages(ErrorPrinter):
    """wsgidav's ErrorPrinter (status, headers, 304/204 without body) with quiet pages."""

    def __init__(self, wsgidav_app, next_app, config):
        super().__init__(wsgidav_app, next_app, config)
        inner = self.next_app

        def quiet_app(environ: dict, start_response: Callable) -> Iterator[bytes]:
            result: Iterable[bytes] | None = None
            try:
                result = inner(environ, start_response)
                yield from result
            except DAVError as error:
                raise _quiet(error) from None
            except Exception as exc:
                # Logged by type and place only: an exception's message may hold request data.
                where = "".join(traceback.format_tb(exc.__traceback__))
                log.error("request failed: %s\n%s", type(exc).__name__, where)
                raise _quiet(DAVError(500)) from None
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

        self.next_app = quiet_app
