"""Server-wide settings of the DAV resources, and the representation they serve objects in.

Rendering iCalendar is protocol work (davserver/ical/); the resources need it to answer
GET, reports and ETags. The server hands its representation in as a `Representation`, so
providers never import davserver (pyproject.toml's import contract).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol

from providers import properties
from providers.practice.records import Appointment, Practitioner
from providers.render_cache import RenderCache


class ViewPolicy(Hashable, Protocol):
    """What one viewer may see of one calendar. Hashable: part of the render cache key."""

    @property
    def tag(self) -> str:
        """A short name of the policy, part of sync tokens (a switch makes devices re-sync)."""
        ...

    @property
    def opaque_names(self) -> bool:
        """Whether this view shows object names and UIDs opaque (providers/practice/opaque_names.py)."""
        ...


class Representation(Protocol):
    """How calendar objects look on the wire for a viewer: policy, rendering and ETag."""

    # True when every rendering either carries the renderer's PRODID line or is the device's
    # own upload served back as sent (davserver/ical/device_form.py): PUT then knows an upload
    # with neither cannot equal the stored rendering without rendering it.
    renders_only_marked_or_uploads: bool

    def policy(self, owner: Practitioner, viewer: Practitioner) -> ViewPolicy: ...

    def render(self, appointment: Appointment, policy: ViewPolicy) -> bytes: ...

    def etag(self, revision: int, policy: ViewPolicy) -> str: ...


@dataclass
class ServiceSettings:
    """Server-wide settings the resources need (from wsgidav.yaml)."""

    representation: Representation
    practice_timezone: str = "Europe/Vienna"
    serve_cancelled: bool = False
    delete_mode: str = "cancel"  # or "delete": what a device DELETE does to the row
    max_resource_size: int = properties.MAX_RESOURCE_SIZE
    reports: tuple[str, ...] = ()
    timezone_ical: str = ""
    render_cache: RenderCache = field(default_factory=RenderCache)
