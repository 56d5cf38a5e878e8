"""The practice-side data API: the only writer of practice data.

Every writer (CLI, JSON import, demo data, the CalDAV PUT/DELETE handlers) goes through these
functions, so every change lands in the change log in the same transaction and moves the
calendar's sync token. One module per aggregate; callers keep `from providers.practice import api`.
"""

from __future__ import annotations

from providers.practice.api.appointment_fields import (
    AppointmentFields,
    OverrideFields,
    check_appointment_fields,
)
from providers.practice.api.appointments import (
    appointment_differs,
    create_appointment,
    delete_appointment,
    link_appointment,
    park_appointment,
    update_appointment,
)
from providers.practice.api.change_log import DeviceWrites, device_request, republish, transaction
from providers.practice.api.errors import AlreadyStored, ConflictError, DataError, PolicyError
from providers.practice.api.names import login_key, url_key, url_segment
from providers.practice.api.patients import normalize_patient_number, upsert_location, upsert_patient
from providers.practice.api.practitioners import (
    create_practitioner,
    find_login,
    find_practitioner,
    get_or_create_practice,
    grant_access,
    revoke_access,
    set_password,
)
from providers.practice.api.server_state import (
    active_devices,
    api_token_hash,
    create_api_token,
    devices_seen,
    record_device_seen,
    server_secret,
)
from providers.practice.api.settings import update_own_settings, update_practitioner

__all__ = [
    "AlreadyStored",
    "AppointmentFields",
    "ConflictError",
    "check_appointment_fields",
    "DataError",
    "DeviceWrites",
    "OverrideFields",
    "PolicyError",
    "active_devices",
    "api_token_hash",
    "appointment_differs",
    "create_api_token",
    "create_appointment",
    "create_practitioner",
    "delete_appointment",
    "device_request",
    "devices_seen",
    "find_login",
    "find_practitioner",
    "get_or_create_practice",
    "grant_access",
    "link_appointment",
    "login_key",
    "normalize_patient_number",
    "park_appointment",
    "record_device_seen",
    "republish",
    "revoke_access",
    "server_secret",
    "set_password",
    "transaction",
    "update_appointment",
    "update_own_settings",
    "update_practitioner",
    "upsert_location",
    "upsert_patient",
    "url_key",
    "url_segment",
]
