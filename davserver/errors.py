"""Failed requests become clean answers: 503 + Retry-After while the database cannot serve,
500 without any exception text otherwise; every one logged at ERROR with its request id.

Takes the place of wsgidav's ErrorPrinter, which answered any exception with a 500 page
quoting the exception (a PostgreSQL error quotes row values) and logged nothing we saw.
"""

from __future__ import annotations

import logging
import traceback

from wsgidav.dav_error import DAVError, get_http_status_string
from wsgidav.mw.base_mw import BaseMiddleware

from davserver.error_pages import quiet_page
from davserver.http import status_line
from davserver.middleware.request_body import install_body
from providers.database import (
    ConnectionLost,
    connection_lost,
    discard_connection_if_broken,
    unavailable_reason,
)

log = logging.getLogger("praxis_caldav.errors")

# Seconds a client is asked to wait while the database is unavailable: a PostgreSQL restart
# takes a few, and a client that retries sooner only adds load.
RETRY_AFTER_SECONDS = 5
# Requests that change nothing: when the connection they ran on turns out dead (restart,
# pg_terminate_backend), they run once more on a new one and the client never notices.
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})


def exception_summary(exc: BaseException) -> str:
    """Where an exception was raised, without its message: messages may quote patient data.

    The exception types of the whole chain and the frames (file, line, function; no source
    text, no local values) are enough to find the bug.
    """
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = [
            f'  File "{f.filename}", line {f.lineno}, in {f.name}\n'
            for f in traceback.extract_tb(current.__traceback__)
        ]
        parts.append("".join(frames) + type(current).__module__ + "." + type(current).__qualname__)
        current = current.__cause__ or current.__context__
    return "\n-- raised while handling --\n".join(parts)


def text_response(start_response, status: int, message: str, headers=()) -> list[bytes]:
    """A short plain-text answer (errors name the request id, never the exception)."""
    body = f"{message}\n".encode()
    start_response(
        status_line(status),
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *headers],
    )
    return [body]


class ErrorMiddleware(BaseMiddleware):
    """Safety net around the login and everything after it: DAV errors as wsgidav renders
    them, the database's unavailability as 503, anything else as a 500 whose log line finds
    the bug."""

    def is_disabled(self):
        return False

    def __call__(self, environ, start_response):
        discard_connection_if_broken()  # psycopg2 marked it closed when a use of it failed
        retry = dict(environ) if environ.get("REQUEST_METHOD", "").upper() in _READ_METHODS else None
        while True:
            try:
                yield from self._respond(environ, start_response)
                return
            except _Failed as failed:
                exc = failed.exc
            lost = discard_connection_if_broken(exc)
            reason = unavailable_reason(exc)
            if reason is not None and lost and retry is not None:
                body = environ.get("praxis.body")  # read after the login, behind this layer
                environ.clear()
                environ.update(retry)
                if body is not None:
                    install_body(environ, body)
                retry = None
                log.warning("request %s: database connection lost (%s); retried", _rid(environ), reason)
                continue
            environ["praxis.error_logged"] = True
            if reason is not None:
                environ["praxis.database_unavailable"] = True
                log.error("request %s: database unavailable (%s): answered 503", _rid(environ), reason)
                yield from text_response(
                    start_response,
                    503,
                    f"The database is unavailable; try again later (request {_rid(environ)}).",
                    [("Retry-After", str(RETRY_AFTER_SECONDS))],
                )
            else:
                log.error("request %s: answered 500 after\n%s", _rid(environ), exception_summary(exc))
                yield from text_response(
                    start_response, 500, f"Internal server error (request {_rid(environ)})."
                )
            return

    def _respond(self, environ, start_response):
        """The inner answer, started only with its first chunk so a late error can still be told."""
        pending: list = []

        def hold(status, headers, exc_info=None):
            pending[:] = [status, headers, exc_info]

        started = False
        try:
            result = self.next_app(environ, hold)
            try:
                for chunk in result:
                    if not started:
                        if connection_lost():  # the answer may hold errors built from it
                            raise ConnectionLost
                        start_response(*pending)
                        started = True
                    yield chunk
            finally:
                if hasattr(result, "close"):
                    result.close()
            if not started:
                start_response(*pending)
        except DAVError as err:
            if started:
                raise
            yield from self._dav_error(environ, start_response, err)
        except Exception as exc:
            if started:  # the status is sent: all we can do is log and cut the connection
                environ["praxis.error_logged"] = True
                log.error("request %s: failed while sending\n%s", _rid(environ), exception_summary(exc))
                raise
            raise _Failed(exc) from None

    def _dav_error(self, environ, start_response, err: DAVError):
        if err.value == 500:
            raise _Failed(err.src_exception or err)
        if err.value in (204, 304):
            start_response(get_http_status_string(err), [("Content-Length", "0")])
            return
        content_type, body = quiet_page(err)
        start_response(
            get_http_status_string(err),
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *(err.add_headers or [])],
        )
        # HEAD: the headers of the page, not the page (wsgidav marks such errors add_body=False).
        yield body if err.add_body and environ.get("REQUEST_METHOD", "").upper() != "HEAD" else b""


class _Failed(Exception):
    """Carries a request's exception out of the response generator, before anything was sent."""

    def __init__(self, exc: BaseException):
        super().__init__()
        self.exc = exc


def _rid(environ: dict) -> str:
    return environ.get("praxis.request_id", "-")
