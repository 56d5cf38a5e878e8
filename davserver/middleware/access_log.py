"""One access log line per request: method, path (object names a device chose hidden),
status, user and duration. Outermost in wsgidav's stack, so 401s and redirects are logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from wsgidav.mw.base_mw import BaseMiddleware

from providers.practice.opaque_names import is_textless_name

access_log = logging.getLogger("praxis_caldav.access")


def loggable_path(path: str) -> str:
    """The path for the access log: an object name a device chose (it may name a patient,
    "Maria-Muster-Kontrolle.ics") is written as "<name>"; server-made and UUID names as they
    are (opaque_names.is_textless_name)."""
    parts = path.split("/")
    if len(parts) > 3 and parts[3] and not is_textless_name(parts[3]):
        parts[3:] = ["<name>"]
    return "/".join(parts)


class AccessLogMiddleware(BaseMiddleware):
    """Logs each request once its answer is sent (request_log.py names the fields)."""

    def is_disabled(self):
        return False

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        status_holder: list[str] = []

        def recording_start_response(status, headers, exc_info=None):
            status_holder.append(status)
            return start_response(status, headers, exc_info)

        result = None
        try:
            result = self.next_app(environ, recording_start_response)
            yield from result
        finally:
            if result is not None and hasattr(result, "close"):
                result.close()
            access_log.info(
                "%s %s %s %s %.1fms",
                environ.get("REQUEST_METHOD"),
                loggable_path(environ.get("PATH_INFO") or ""),
                (status_holder or ["-"])[0].split(" ")[0],
                environ.get("wsgidav.auth.user_name") or "-",
                (time.perf_counter() - started) * 1000,
            )
