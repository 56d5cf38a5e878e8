"""The practice's records as the protocol layer names them: types for hints and attributes.

davserver reads rows it got from the resources and the data API (a practitioner, an
appointment and its overrides, a device password) but never queries or writes them itself:
those go through `providers.resources` and `providers.practice.api`. These names are that
contract, so the import contract (pyproject.toml) can forbid `providers.practice.models`.
"""

from __future__ import annotations

from providers.practice.models import (
    STATUS_CANCELLED,
    STATUS_CONFIRMED,
    STATUS_TENTATIVE,
    Appointment,
    AppointmentOverride,
    DevicePassword,
    DeviceSeen,
    Grant,
    Practice,
    Practitioner,
    PushSubscription,
    utcnow,
)

__all__ = [
    "STATUS_CANCELLED",
    "STATUS_CONFIRMED",
    "STATUS_TENTATIVE",
    "Appointment",
    "AppointmentOverride",
    "DevicePassword",
    "DeviceSeen",
    "Grant",
    "Practice",
    "Practitioner",
    "PushSubscription",
    "utcnow",
]
