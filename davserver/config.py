"""wsgidav.yaml: the admin-edited configuration, validated at start with errors naming the key."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml


# Hand-written, not pydantic (docs/benchmarks/libraries.md): its errors were vaguer and it costs start time.
class ConfigError(ValueError):
    """Invalid configuration; the message names the key."""


@dataclass
class TLSConfig:
    certificate: str | None = None
    private_key: str | None = None


@dataclass
class ProfileConfig:
    """Optional signing of the Apple configuration profile the settings page hands out."""

    signing_certificate: str | None = None
    signing_key: str | None = None


@dataclass
class SyncDefaults:
    pseudonymize: bool = False
    include_phone: bool = False
    direction: str = "two-way"
    serve_cancelled: bool = False
    device_delete: str = "cancel"


@dataclass
class AuthConfig:
    cache_seconds: int = 60
    max_failures: int = 10
    failure_window: int = 300
    lockout_seconds: int = 300
    realm: str = "praxis-caldav"
    # Only device passwords log in over CalDAV; the practice password only on the settings page.
    device_passwords_only: bool = False
    # Days the access audit (requests per device and hour) is kept.
    audit_days: int = 90


@dataclass
class IntegrationConfig:
    """The practice software's side: how long the change feed keeps a cursor, and an optional
    webhook POSTed (HMAC-SHA256 signed with webhook_secret) when devices changed something."""

    retention_days: int = 30
    webhook_url: str | None = None
    webhook_secret: str | None = None


@dataclass
class PushConfig:
    """WebDAV-Push: devices register a Web Push subscription on a calendar and get a message
    (the calendar's topic, nothing else) after each change. Push endpoints on private or
    loopback addresses, or without https, only with allow_insecure_endpoints (tests)."""

    enabled: bool = False
    contact: str = "mailto:admin@localhost"
    allow_insecure_endpoints: bool = False
    max_subscriptions_per_user: int = 50
    max_expiry_hours: int = 72
    coalesce_seconds: int = 2


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    database: str = "sqlite:///praxis-caldav.db"
    public_base_url: str | None = None
    # Honour X-Forwarded-Prefix from a reverse proxy (only when one is in front).
    trusted_proxy: bool = False
    # With trusted_proxy: proxies whose X-Forwarded-For entries are skipped to find the client.
    trusted_proxies: list = field(default_factory=lambda: ["127.0.0.1", "::1"])
    practice_name: str = "Praxis"
    timezone: str = "Europe/Vienna"
    max_body_size: int = 1_000_000
    threads: int = 16
    processes: int = 1
    log_level: str = "info"
    log_format: str = "text"
    access_log: bool = True
    # full: every acknowledged write survives a power cut (SQLite synchronous=full);
    # fast: SQLite synchronous=normal, faster commits, the last writes may be lost on power loss.
    durability: str = "full"
    # Migrate an older database schema at start instead of refusing to serve.
    auto_migrate: bool = False
    # Addresses or networks (space-separated) that may read /metrics; empty: nobody.
    metrics_allow: str = "127.0.0.1 ::1"
    tls: TLSConfig = field(default_factory=TLSConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    sync: SyncDefaults = field(default_factory=SyncDefaults)
    auth: AuthConfig = field(default_factory=AuthConfig)
    integration: IntegrationConfig = field(default_factory=IntegrationConfig)
    push: PushConfig = field(default_factory=PushConfig)

    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/") + "/"
        scheme = "https" if self.tls.certificate else "http"
        return f"{scheme}://{self.host}:{self.port}/"


_SECTIONS = {
    "tls": TLSConfig,
    "profile": ProfileConfig,
    "sync": SyncDefaults,
    "auth": AuthConfig,
    "integration": IntegrationConfig,
    "push": PushConfig,
}


def _typed(key: str, value: Any, default: Any) -> Any:
    if value is None and default is not None:
        # `timezone:` with nothing after it is None in YAML; it must not slip through as a value.
        raise ConfigError(f"{key}: must not be empty")
    expected = type(default) if default is not None else str
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
    elif expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of text, got {value!r}")
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{key}: must not be negative, got {value!r}")
    elif value is not None and not isinstance(value, str):
        raise ConfigError(f"{key}: expected text, got {value!r}")
    return value


def _apply(obj: Any, data: dict, prefix: str = "") -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'configuration'}: expected a mapping")
    settings = {f.name for f in dataclasses.fields(obj)}  # not hasattr: methods are no settings
    for key, value in data.items():
        full = f"{prefix}{key}"
        if not isinstance(key, str) or key not in settings:
            raise ConfigError(f"{full}: unknown setting")
        if key in _SECTIONS and not prefix:
            _apply(getattr(obj, key), value or {}, f"{key}.")
            continue
        setattr(obj, key, _typed(full, value, getattr(obj, key)))


def parse_allowlist(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """`metrics_allow`: addresses or networks separated by spaces or commas ('' turns it off)."""
    return [ipaddress.ip_network(item, strict=False) for item in text.replace(",", " ").split()]


def validate(config: ServerConfig) -> ServerConfig:
    if not 0 < config.port < 65536:
        raise ConfigError(f"port: must be 1-65535, got {config.port}")
    if config.threads < 1:
        raise ConfigError("threads: must be at least 1")
    if config.processes < 1:
        raise ConfigError("processes: must be at least 1")
    if config.max_body_size < 1024:
        raise ConfigError("max_body_size: must be at least 1024 bytes")
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone: unknown time zone {config.timezone!r}") from None
    if config.public_base_url:
        parsed = urlparse(config.public_base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"public_base_url: not an http(s) URL: {config.public_base_url!r}")
    if config.sync.direction not in ("two-way", "server-to-device"):
        raise ConfigError("sync.direction: must be two-way or server-to-device")
    if config.sync.device_delete not in ("cancel", "delete"):
        raise ConfigError("sync.device_delete: must be cancel or delete")
    if config.auth.max_failures < 1:
        raise ConfigError("auth.max_failures: must be at least 1")
    realm = config.auth.realm
    if not realm or any(c in '"\\' or not c.isprintable() for c in realm):
        raise ConfigError(f"auth.realm: must be printable text without quotes, got {realm!r}")
    from davserver.client_address import parse_networks

    try:
        parse_networks(config.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"trusted_proxies: {exc}") from None
    if config.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("log_level: must be debug, info, warning or error")
    if config.log_format not in ("text", "json"):
        raise ConfigError("log_format: must be text or json")
    try:
        parse_allowlist(config.metrics_allow or "")
    except ValueError:
        raise ConfigError(f"metrics_allow: not addresses or networks: {config.metrics_allow!r}") from None
    if config.durability not in ("full", "fast"):
        raise ConfigError("durability: must be full or fast")
    if bool(config.tls.certificate) != bool(config.tls.private_key):
        raise ConfigError("tls: set both certificate and private_key, or neither")
    for key in ("certificate", "private_key"):
        path = getattr(config.tls, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"tls.{key}: file not found: {path}")
    _validate_profile_signing(config.profile)
    _validate_integration(config.integration)
    if not config.push.contact.startswith(("mailto:", "https://")):
        raise ConfigError("push.contact: a mailto: or https: URL (sent to push services with VAPID)")
    if config.push.max_expiry_hours < 1:
        raise ConfigError("push.max_expiry_hours: must be at least 1")
    return config


def _validate_integration(integration: IntegrationConfig) -> None:
    if integration.retention_days < 1:
        raise ConfigError("integration.retention_days: must be at least 1")
    if integration.webhook_url:
        parsed = urlparse(integration.webhook_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError("integration.webhook_url: not an http(s) URL")
        if not integration.webhook_secret:
            raise ConfigError("integration.webhook_secret: needed to sign the webhook's requests")


def _validate_profile_signing(profile: ProfileConfig) -> None:
    if bool(profile.signing_certificate) != bool(profile.signing_key):
        raise ConfigError("profile: set both signing_certificate and signing_key, or neither")
    if not profile.signing_certificate:
        return
    for key in ("signing_certificate", "signing_key"):
        path = getattr(profile, key)
        if not Path(path).is_file():
            raise ConfigError(f"profile.{key}: file not found: {path}")
    from davserver.profile_signing import ProfileSigner, SigningError

    try:
        ProfileSigner.from_files(profile.signing_certificate, profile.signing_key)
    except SigningError as exc:
        raise ConfigError(str(exc)) from None


ENV_VARIABLE = "PRAXIS_CALDAV_CONFIG"
SEARCH_PATH = ("wsgidav.yaml", "/etc/praxis-caldav/wsgidav.yaml")


def find_config(given: str | os.PathLike | None) -> str | None:
    """The configuration file to use: --config, $PRAXIS_CALDAV_CONFIG, ./wsgidav.yaml,
    /etc/praxis-caldav/wsgidav.yaml (the first that is given or exists); None: defaults."""
    if given is not None:
        return str(given)
    if os.environ.get(ENV_VARIABLE):
        return os.environ[ENV_VARIABLE]
    return next((candidate for candidate in SEARCH_PATH if Path(candidate).is_file()), None)


def load_config(path: str | os.PathLike | None) -> ServerConfig:
    """Read wsgidav.yaml (or defaults when no file is given)."""
    config = ServerConfig()
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise ConfigError(f"{path}: not valid YAML{where}") from None
        _apply(config, data)
    return validate(config)
