"""Request ids and what every log line says about the request it belongs to.

The outermost layer of the app gives each request an id, sends it back as X-Request-Id
and keeps it (with the client address and the request's environ) for the log lines
written while the request runs, in text or JSON. Every 5xx answer is logged at ERROR with
that id, whoever produced it. Nothing here reads a request body or an object's content.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import uuid

from davserver.errors import exception_summary, text_response

log = logging.getLogger("praxis_caldav.errors")

_local = threading.local()  # cheroot runs a request, its iteration included, on one thread


def client_address(environ: dict, trusted_proxy: bool) -> str:
    """The client's address: behind a trusted proxy the one it appended to X-Forwarded-For."""
    if trusted_proxy:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded[:64]
    return environ.get("REMOTE_ADDR", "-")


class RequestLogMiddleware:
    """Outermost WSGI layer: request id, log context, and a last-resort 500 for anything
    that escapes the inner layers (the error middleware sits behind the body reader)."""

    def __init__(self, app, trusted_proxy: bool = False):
        self.app = app
        self.trusted_proxy = trusted_proxy

    def __getattr__(self, name: str):
        return getattr(self.app, name)  # the wrapped WsgiDAVApp's provider_map, config

    def __call__(self, environ, start_response):
        request_id = uuid.uuid4().hex[:16]
        environ["praxis.request_id"] = request_id
        environ["praxis.client"] = client_address(environ, self.trusted_proxy)
        status: list[str] = []

        def start_with_id(status_text, headers, exc_info=None):
            status[:] = [status_text]
            return start_response(status_text, [*headers, ("X-Request-Id", request_id)], exc_info)

        _local.environ = environ
        result = None
        try:
            result = self.app(environ, start_with_id)
            yield from result
        except Exception as exc:
            environ["praxis.error_logged"] = True
            log.error("request %s: answered 500 after\n%s", request_id, exception_summary(exc))
            if status:  # already sending: cheroot cuts the connection
                raise
            yield from text_response(start_with_id, 500, f"Internal server error (request {request_id}).")
        finally:
            if result is not None and hasattr(result, "close"):
                result.close()
            if status and status[0][:1] == "5" and not environ.get("praxis.error_logged"):
                log.error(
                    "request %s: %s answered %s",
                    request_id,
                    environ.get("REQUEST_METHOD", "-"),
                    status[0].split(" ")[0],
                )
            _local.environ = None


class RequestContextFilter(logging.Filter):
    """Adds the running request's id, client address, user and method to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        environ = getattr(_local, "environ", None) or {}
        record.request_id = environ.get("praxis.request_id", "-")
        record.client = environ.get("praxis.client", "-")
        record.user = environ.get("wsgidav.auth.user_name") or "-"
        record.method = environ.get("REQUEST_METHOD", "-")
        return True


TEXT_FORMAT = (
    "%(asctime)s %(levelname)s [%(process)d %(request_id)s %(client)s %(user)s] %(name)s: %(message)s"
)
# The access log's arguments, in the order davserver.middleware passes them.
_ACCESS_FIELDS = ("method", "path", "status", "user", "duration_ms")


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, pid, request context, message; the access log
    line's parts also as fields of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "pid": record.process or os.getpid(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "client": getattr(record, "client", "-"),
            "user": getattr(record, "user", "-"),
            "method": getattr(record, "method", "-"),
            "message": record.getMessage(),
        }
        args = record.args if isinstance(record.args, tuple) else ()
        if record.name == "praxis_caldav.access" and len(args) == len(_ACCESS_FIELDS):
            entry.update(zip(_ACCESS_FIELDS, args, strict=True))
            entry["status"] = _int_or_text(entry["status"])
        if record.exc_info:  # only our own code logs with exc_info; no request data in it
            entry["exception"] = exception_summary(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False, default=str)


def _int_or_text(value: object) -> object:
    try:
        return int(str(value))
    except ValueError:
        return value


def configure_logging(level: str, log_format: str = "text", access_log: bool = True) -> None:
    """The process's logging: one handler on stderr, every record with the request context."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if not access_log:
        logging.getLogger("praxis_caldav.access").setLevel(logging.WARNING)
