"""WSGI middleware after the login: counts each authenticated DAV request in the access
audit by kind (sync, read, write, refused) and by the device password it used."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from davserver.settings_page.devices import user_agent_family
from providers.practice.access_audit import AuditKey, AuditLog, current_hour

log = logging.getLogger("praxis_caldav.audit")

_SYNC = {"PROPFIND", "REPORT"}
_READ = {"GET", "HEAD", "OPTIONS"}
_OBJECT_WRITES = {"PUT", "DELETE"}


def kind_of(method: str, status: int) -> str:
    """sync (PROPFIND, REPORT), read (GET, HEAD, OPTIONS), write (anything else that
    succeeded), refused (403, 409, 412, 415, 422, 429 or a failed write)."""
    if status in (403, 409, 412, 415, 422, 429) or (status >= 400 and method not in _SYNC | _READ):
        return "refused"
    if method in _SYNC:
        return "sync"
    if method in _READ:
        return "read"
    return "write"


def middleware_entry(retention_days: int) -> dict:
    """The wsgidav middleware_stack entry (right after the settings page)."""
    return {
        "class": "davserver.access_audit.AccessAuditMiddleware",
        "kwargs": {"next_app": "${application}", "retention_days": retention_days},
    }


class AccessAuditMiddleware:
    def __init__(self, next_app: Callable, retention_days: int = 90) -> None:
        self.next_app = next_app
        self.audit = AuditLog(retention_days)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        viewer = environ.get("praxis.viewer")
        if viewer is None:
            return self.next_app(environ, start_response)
        return self._counted(environ, start_response, viewer.id)

    def _counted(self, environ: dict, start_response: Callable, practitioner_id: int) -> Iterable[bytes]:
        """The response as it is; counted once it is sent (start_response may come late)."""
        seen: list[int] = []

        def recording(status: str, headers, exc_info=None):
            seen.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        result = self.next_app(environ, recording)
        try:
            yield from result
        finally:
            if hasattr(result, "close"):
                result.close()
            self._count(environ, practitioner_id, seen[0] if seen else 500)

    def _count(self, environ: dict, practitioner_id: int, status: int) -> None:
        try:
            method = environ.get("REQUEST_METHOD", "").upper()
            kind = kind_of(method, status)
            written = 1 if kind == "write" and method in _OBJECT_WRITES else 0
            key = AuditKey(
                practitioner_id,
                environ.get("praxis.device") or 0,
                current_hour(),
                user_agent_family(environ.get("HTTP_USER_AGENT")),
                environ.get("praxis.client_address", ""),
            )
            self.audit.count(key, kind, written)
        except Exception:  # noqa: BLE001 - the audit must never fail a sync
            log.warning("could not record the access audit", exc_info=True)
