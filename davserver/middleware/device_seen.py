"""Sync status for the admin view: which client family of a practitioner last reached the
DAV tree (settings_page.devices.DeviceRecorder writes at most once a minute per device)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from davserver.settings_page.devices import DeviceRecorder


class DeviceSeenMiddleware:
    """After the settings page, so only DAV requests of a logged-in practitioner count."""

    def __init__(self, next_app: Callable) -> None:
        self.next_app = next_app
        self.devices = DeviceRecorder()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        viewer = environ.get("praxis.viewer")
        if viewer is not None:
            self.devices.seen(viewer, environ.get("HTTP_USER_AGENT"))
        return self.next_app(environ, start_response)


def middleware_entry() -> dict:
    """The wsgidav middleware_stack entry (right after the settings page)."""
    return {
        "class": "davserver.middleware.device_seen.DeviceSeenMiddleware",
        "kwargs": {"next_app": "${application}"},
    }
