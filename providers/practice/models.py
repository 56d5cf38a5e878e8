"""Peewee models of the practice database.

The practice database is the source of truth; CalDAV resources are views of these rows.
Times are stored twice on purpose: as the local wall-clock value with its TZID (what the
practice entered, needed to render and to expand series correctly across DST) and as UTC
bounds of the whole series (`first_start_utc`/`last_end_utc`) so time-range reports are
decided in SQL.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw

database_proxy = pw.DatabaseProxy()

# Open-ended series end here: far beyond any real query, without a 2038 cap.
FAR_FUTURE = dt.datetime(9999, 12, 31, 0, 0, 0)

STATUS_CONFIRMED = "confirmed"
STATUS_TENTATIVE = "tentative"
STATUS_CANCELLED = "cancelled"
STATUSES = (STATUS_CONFIRMED, STATUS_TENTATIVE, STATUS_CANCELLED)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(pw.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """One row: the schema version this database was created or migrated to."""

    version = pw.IntegerField()


class Practice(BaseModel):
    name = pw.CharField(max_length=200)
    external_id = pw.CharField(max_length=100, null=True, unique=True)
    timezone = pw.CharField(max_length=64, default="Europe/Vienna")
    # Moves whenever a patient's name or phone is added, changed or removed: the key of the
    # practice-wide name matcher each server process builds once (providers.practice.masking).
    names_version = pw.BigIntegerField(default=0)


class Practitioner(BaseModel):
    practice = pw.ForeignKeyField(Practice, backref="practitioners", on_delete="CASCADE")
    # Login name exactly as the practice software has it (may contain spaces and umlauts).
    username = pw.CharField(max_length=150, unique=True)
    # The login name folded for comparison; unique so two names cannot collide in login.
    login_key = pw.CharField(max_length=150, unique=True)
    # The URL segment: spaces become "_"; unique (case-folded) so two users never share a URL.
    url_key = pw.CharField(max_length=150, unique=True)
    display_name = pw.CharField(max_length=200)
    email = pw.CharField(max_length=254, null=True)
    password_hash = pw.CharField(max_length=255, default="")
    external_id = pw.CharField(max_length=100, null=True)
    is_admin = pw.BooleanField(default=False)
    # Sync settings.
    pseudonymize = pw.BooleanField(default=False)
    include_phone = pw.BooleanField(default=False)
    direction = pw.CharField(max_length=20, default="two-way")
    # The admin allows the practitioner to loosen their own privacy settings on the settings
    # page (pseudonymization off, phone on); making them stricter is always allowed.
    may_relax = pw.BooleanField(default=False)
    # A disabled practitioner cannot log in anywhere; their data stays (user disable/enable).
    disabled = pw.BooleanField(default=False)
    # Calendar collection properties a device may set (PROPPATCH).
    calendar_displayname = pw.CharField(max_length=200, null=True)
    calendar_color = pw.CharField(max_length=20, null=True)
    calendar_order = pw.IntegerField(null=True)

    class Meta:
        indexes = ((("practice", "external_id"), True),)


class Patient(BaseModel):
    practice = pw.ForeignKeyField(Practice, backref="patients", on_delete="CASCADE")
    # The patient ID the practice shows (part of the pseudonym), not the row id.
    patient_number = pw.CharField(max_length=50)
    first_name = pw.CharField(max_length=100, default="")
    last_name = pw.CharField(max_length=100, default="")
    phone = pw.CharField(max_length=50, null=True)
    external_id = pw.CharField(max_length=100, null=True)

    class Meta:
        indexes = ((("practice", "external_id"), True), (("practice", "patient_number"), True))


class Location(BaseModel):
    practice = pw.ForeignKeyField(Practice, backref="locations", on_delete="CASCADE")
    name = pw.CharField(max_length=200)
    address = pw.CharField(max_length=300, null=True)
    external_id = pw.CharField(max_length=100, null=True)

    class Meta:
        indexes = ((("practice", "external_id"), True),)


class Appointment(BaseModel):
    """One calendar object resource: a single appointment or a whole series."""

    practice = pw.ForeignKeyField(Practice, on_delete="CASCADE")
    practitioner = pw.ForeignKeyField(Practitioner, backref="appointments", on_delete="CASCADE")
    patient = pw.ForeignKeyField(Patient, null=True, on_delete="SET NULL")
    location = pw.ForeignKeyField(Location, null=True, on_delete="SET NULL")
    # Free-text location a device typed (no practice location row matches it).
    location_text = pw.CharField(max_length=300, null=True)
    subject = pw.TextField(default="")
    notes = pw.TextField(default="")
    status = pw.CharField(max_length=20, default=STATUS_CONFIRMED)
    # Wall-clock start/end in `tzid`; tzid NULL = floating (interpreted in the practice zone).
    # For all-day appointments start/end are midnights and end is exclusive.
    start_local = pw.DateTimeField()
    end_local = pw.DateTimeField()
    tzid = pw.CharField(max_length=64, null=True, default="Europe/Vienna")
    all_day = pw.BooleanField(default=False)
    # RRULE value (e.g. "FREQ=WEEKLY;COUNT=10"), or NULL for a single appointment.
    rrule = pw.TextField(null=True)
    # JSON lists of local ISO date-times (or dates for all-day series).
    exdates = pw.TextField(default="[]")
    rdates = pw.TextField(default="[]")
    uid = pw.CharField(max_length=255)
    resource_name = pw.CharField(max_length=255)
    # Global change number of the last change of this row, its rendering inputs or its overrides.
    revision = pw.BigIntegerField(default=0)
    # Denormalised UTC bounds over all instances (overrides included), widened for floating/all-day.
    first_start_utc = pw.DateTimeField()
    last_end_utc = pw.DateTimeField()
    is_recurring = pw.BooleanField(default=False)
    # The iCalendar text a device last sent, kept so everything the model does not hold
    # (alarms, categories, X- properties, unknown components) survives a round trip.
    device_ical = pw.TextField(null=True)
    external_id = pw.CharField(max_length=100, null=True)
    created_at = pw.DateTimeField(default=utcnow)
    modified_at = pw.DateTimeField(default=utcnow)
    # Not columns: what the readers and writers attach to a loaded instance.
    # True on an instance that holds every column as the database stored it (returned by
    # the insert itself), so it can be rendered without being read again.
    as_stored = False
    # The series' overrides, loaded with the row in one query for all rows read together
    # (store._attach_overrides); None when they were not loaded.
    override_rows: list[AppointmentOverride] | None = None

    class Meta:
        indexes = (
            (("practitioner", "resource_name"), True),
            (("practitioner", "uid"), True),
            (("practitioner", "last_end_utc", "first_start_utc"), False),
            (("practice", "external_id"), True),
        )


class AppointmentOverride(BaseModel):
    """A moved or cancelled occurrence of a series (a RECURRENCE-ID component)."""

    appointment = pw.ForeignKeyField(Appointment, backref="overrides", on_delete="CASCADE")
    # Original local start of the occurrence (in the series' tzid), as written in RECURRENCE-ID.
    recurrence_id = pw.DateTimeField()
    start_local = pw.DateTimeField()
    end_local = pw.DateTimeField()
    tzid = pw.CharField(max_length=64, null=True)
    all_day = pw.BooleanField(default=False)
    status = pw.CharField(max_length=20, default=STATUS_CONFIRMED)
    # NULL = same as the series.
    subject = pw.TextField(null=True)
    location_text = pw.CharField(max_length=300, null=True)

    class Meta:
        indexes = ((("appointment", "recurrence_id"), True),)


class Change(BaseModel):
    """Change log for sync: one row per create/modify/delete, written in the change's transaction.

    The calendar's sync-token and ctag are the newest change id of its practitioner.
    """

    practitioner = pw.ForeignKeyField(Practitioner, on_delete="CASCADE")
    resource_name = pw.CharField(max_length=255)
    deleted = pw.BooleanField(default=False)
    changed_at = pw.DateTimeField(default=utcnow)
    # Written while a device's request was handled (PUT, DELETE): the practice software's
    # change feed (providers.practice.change_feed) is these rows; its own imports are not echoed back.
    by_device = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("practitioner", "id"), False),)


class DeletedAppointment(BaseModel):
    """Who an appointment was whose row a DELETE removed (sync.device_delete: delete), written
    with its change-log row: the change feed names it so the practice software deletes it too."""

    change = pw.ForeignKeyField(Change, on_delete="CASCADE", unique=True)
    appointment_id = pw.IntegerField()
    external_id = pw.CharField(max_length=100, null=True)


class Grant(BaseModel):
    """Delegation: `grantee` may read (or read and write) `owner`'s calendar."""

    owner = pw.ForeignKeyField(Practitioner, on_delete="CASCADE")
    grantee = pw.ForeignKeyField(Practitioner, on_delete="CASCADE")
    can_write = pw.BooleanField(default=False)

    class Meta:
        indexes = ((("owner", "grantee"), True),)


class DeviceSeen(BaseModel):
    """When a practitioner's device family last reached the DAV tree (the admin's sync status).

    Only the client family (e.g. "ios", "davx5") and a time: no address, no raw User-Agent,
    no patient data. Written at most once a minute per device (settings_page.devices).
    """

    practitioner = pw.ForeignKeyField(Practitioner, on_delete="CASCADE")
    family = pw.CharField(max_length=40)
    last_seen = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("practitioner", "family"), True),)


class ApiToken(BaseModel):
    """A practice software's key to the change feed (GET /api/v1/changes), scoped to one
    practice. Only its SHA-256 is kept: the token is random, so no slow hash is needed."""

    practice = pw.ForeignKeyField(Practice, on_delete="CASCADE")
    token_hash = pw.CharField(max_length=64, unique=True)
    created_at = pw.DateTimeField(default=utcnow)


class ServerSecret(BaseModel):
    """Random secrets made on first use, so every server process derives the same keys."""

    name = pw.CharField(max_length=50, unique=True)
    value = pw.CharField(max_length=128)


class DevicePassword(BaseModel):
    """An app password: one device's own CalDAV login, revoked alone when the device is lost.

    Only a scrypt hash is kept. `selector` is the password's first characters: it finds the
    row to verify without trying every device's hash (it is no secret on its own).
    """

    practitioner = pw.ForeignKeyField(Practitioner, backref="device_passwords", on_delete="CASCADE")
    label = pw.CharField(max_length=100)
    selector = pw.CharField(max_length=16)
    password_hash = pw.CharField(max_length=255)
    created_at = pw.DateTimeField(default=utcnow)
    first_used = pw.DateTimeField(null=True)
    last_used = pw.DateTimeField(null=True)
    last_address = pw.CharField(max_length=64, null=True)
    family = pw.CharField(max_length=40, null=True)
    revoked_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("practitioner", "selector"), False),)


class LoginCounter(BaseModel):
    """Login state of one throttle key, shared by every server process: failures of an
    address, of an account from an address, of an account from anywhere, or an address's
    last success for an account (`ok:` keys). Deleted once `forget_at` has passed."""

    key = pw.CharField(max_length=200, unique=True)
    failures = pw.IntegerField(default=0)
    last_at = pw.DateTimeField(default=utcnow)
    locked_until = pw.DateTimeField(null=True)
    forget_at = pw.DateTimeField(index=True)


class AccessAudit(BaseModel):
    """One row per practitioner, device (0 = the practice password) and hour of activity:
    what kind of requests, from which client family and address. Never a patient datum:
    counts only, no path, no resource name."""

    practitioner = pw.ForeignKeyField(Practitioner, on_delete="CASCADE")
    device_key = pw.IntegerField(default=0)
    hour = pw.DateTimeField()
    family = pw.CharField(max_length=40, default="other")
    address = pw.CharField(max_length=64, default="")
    sync = pw.IntegerField(default=0)
    read = pw.IntegerField(default=0)
    write = pw.IntegerField(default=0)
    refused = pw.IntegerField(default=0)
    objects_written = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("practitioner", "device_key", "hour"), True), (("hour",), False))


class PushSubscription(BaseModel):
    """A device's WebDAV-Push registration on one calendar (RFC 8030 push resource plus the
    RFC 8291 keys). `key` is the random last segment of its registration URL; `notified_change`
    is the newest change a message was sent for: the claim that lets only one server process
    send it."""

    key = pw.CharField(max_length=43, unique=True)
    viewer = pw.ForeignKeyField(Practitioner, backref="+", on_delete="CASCADE")
    owner = pw.ForeignKeyField(Practitioner, backref="+", on_delete="CASCADE")
    push_resource = pw.CharField(max_length=2000)
    client_public_key = pw.CharField(max_length=100)
    auth_secret = pw.CharField(max_length=40)
    expires = pw.DateTimeField()
    notified_change = pw.BigIntegerField(default=0)
    sent_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)
    # The device password that registered it (None: the practice password); schema version 6,
    # last like the column the migration adds.
    device = pw.ForeignKeyField(DevicePassword, null=True, backref="+", on_delete="CASCADE")

    class Meta:
        indexes = ((("owner", "notified_change"), False), (("viewer",), False))


ALL_MODELS = [
    SchemaVersion,
    Practice,
    Practitioner,
    Patient,
    Location,
    Appointment,
    AppointmentOverride,
    Change,
    DeletedAppointment,
    Grant,
    DeviceSeen,
    ApiToken,
    ServerSecret,
    DevicePassword,
    LoginCounter,
    AccessAudit,
    PushSubscription,
]
