"""Build the WSGI application from the configuration: wsgidav with our middlewares and provider."""

from __future__ import annotations

import logging

from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from davserver import reports
from davserver.access_audit import middleware_entry as access_audit
from davserver.auth import PracticeAuthenticator, PracticeDomainController
from davserver.config import ServerConfig
from davserver.errors import ErrorMiddleware
from davserver.feed_api import ChangeFeedAPI
from davserver.health import HealthMiddleware
from davserver.ical.representation import ICalendarRepresentation
from davserver.ical.vtimezone import vtimezone
from davserver.metrics import MetricsMiddleware
from davserver.middleware import (
    AccessLogMiddleware,
    CalDAVMiddleware,
    DiscoveryRedirectMiddleware,
    ProxyPrefixMiddleware,
    RequestBodyMiddleware,
    device_seen,
)
from davserver.push.middleware import PushMiddleware
from davserver.push.sender import PushSender
from davserver.request_log import RequestLogMiddleware
from davserver.settings_page import middleware_entry as settings_page
from davserver.webhook import Webhook
from providers import push_properties
from providers.database import open_database, watch_practitioners
from providers.properties import CALENDAR
from providers.provider import PracticeProvider
from providers.resources import ServiceSettings


def calendar_timezone_ical(tzid: str) -> str:
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", "-//praxis-caldav//EN")
    cal.add("version", "2.0")
    cal.add_component(vtimezone(tzid))
    return cal.to_ical().decode()


def service_settings(config: ServerConfig) -> ServiceSettings:
    reports.load_all()
    return ServiceSettings(
        ICalendarRepresentation(),
        practice_timezone=config.timezone,
        serve_cancelled=config.sync.serve_cancelled,
        delete_mode=config.sync.device_delete,
        max_resource_size=config.max_body_size,
        reports=reports.names(CALENDAR),
        timezone_ical=calendar_timezone_ical(config.timezone),
    )


def webhook(config: ServerConfig) -> Webhook | None:
    """The change feed's webhook, when configured (one sender per server process)."""
    integration = config.integration
    if not integration.webhook_url:
        return None
    return Webhook(integration.webhook_url, integration.webhook_secret or "")


def middleware_order(config: ServerConfig) -> list:
    """wsgidav's stack, outermost first; the one place that says why each layer sits where it
    does. (Outside wsgidav, build_app adds request ids and the probes; server.py the framing.)"""
    return [
        AccessLogMiddleware,  # first: times and logs every answer, 401s and redirects included
        ProxyPrefixMiddleware,  # every later href and redirect needs the external prefix
        DiscoveryRedirectMiddleware,  # /.well-known/caldav answers without a login
        # 503 while the database is unavailable; 500 without exception text; error pages
        # without path or framework version.
        ErrorMiddleware,
        ChangeFeedAPI,  # /api/v1/changes: a practice's API token, not a practitioner's login
        PracticeAuthenticator,  # before any body is read: no login, no worker reads a byte of it
        RequestBodyMiddleware,  # after the login: buffer the body (chunked too) under the limit
        settings_page(config),  # /settings/: behind the same login, reads its form body
        device_seen.middleware_entry(),  # after the page: only DAV requests note a device's sync
        access_audit(config.auth.audit_days),  # requests per device and hour, by kind
        PushMiddleware,  # WebDAV-Push registrations (push.enabled)
        CalDAVMiddleware,  # our CalDAV methods; the rest goes on to wsgidav
        RequestResolver,  # wsgidav's own methods (PROPFIND, PROPPATCH, GET, ...)
    ]


# The push senders this process started (one per app; tests stop theirs before dropping a database).
SENDERS: list[PushSender] = []


def build_app(config: ServerConfig, *, open_db: bool = True) -> WsgiDAVApp:
    """The whole WSGI app: request ids and probes outside, wsgidav and our layers inside."""
    if open_db:
        open_database(config.database, durability=config.durability, migrate=config.auto_migrate)
    watch_practitioners()
    provider = PracticeProvider(service_settings(config))
    wsgidav_config = {
        "provider_mapping": {"/": provider},
        "middleware_stack": middleware_order(config),
        "http_authenticator": {
            "domain_controller": PracticeDomainController,
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "lock_storage": None,
        "property_manager": None,
        "verbose": 1,
        "suppress_version_info": True,
        "add_header_MS_Author_Via": False,
        "logging": {"enable": False},
        "dir_browser": {"enable": False},
        "praxis": {
            "auth": config.auth,
            "max_body_size": config.max_body_size,
            "trusted_proxy": config.trusted_proxy,
            "feed_retention_days": config.integration.retention_days,
            "webhook": webhook(config),
            "trusted_proxies": config.trusted_proxies,
            "push": config.push,
            "server_config": config,  # absolute URLs (the push registration's Location)
        },
    }
    app = WsgiDAVApp(wsgidav_config)
    if config.push.enabled:
        push_properties.enable()
        SENDERS.append(PushSender(config.push).start())
    logging.getLogger("wsgidav").setLevel(logging.WARNING)
    # peewee logs every SQL statement with its parameters at DEBUG: patient names and phone
    # numbers. Never let those reach a log, whatever level the admin configures.
    logging.getLogger("peewee").setLevel(logging.INFO)
    app = MetricsMiddleware(HealthMiddleware(app), config.metrics_allow, provider.settings.render_cache.stats)
    return RequestLogMiddleware(app, trusted_proxy=config.trusted_proxy)
