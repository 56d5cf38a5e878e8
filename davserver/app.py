"""Build the WSGI application from the configuration: wsgidav with our middlewares and provider."""

from __future__ import annotations

import logging

from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from davserver import reports
from davserver.auth import PracticeAuthenticator, PracticeDomainController
from davserver.config import ServerConfig
from davserver.device_form import render_for_view
from davserver.error_pages import ErrorPages
from davserver.middleware import CalDAVMiddleware, RequestBodyMiddleware
from davserver.render import RenderPolicy, etag_for, practice_matcher
from davserver.settings_page import middleware_entry as settings_page
from davserver.vtimezone import vtimezone
from providers import practitioner_cache
from providers.db import open_database
from providers.models import Practitioner, database_proxy
from providers.provider import PracticeProvider
from providers.resources import ServiceSettings


def policy_for(owner: Practitioner, viewer: Practitioner) -> RenderPolicy:
    """Own calendar: the owner's settings; delegated: the stricter of owner's and viewer's.

    A pseudonymized policy carries the practice's name matcher, built once per version of
    the practice's patient names (the practice row is cached with the practitioner)."""
    policy = RenderPolicy(owner.pseudonymize, owner.include_phone)
    if viewer.id != owner.id:
        policy = policy.stricter(RenderPolicy(viewer.pseudonymize, viewer.include_phone, delegated=True))
    if not policy.pseudonymize:
        return policy
    practice = owner.practice
    names = practice_matcher(practice.id, practice.names_version)
    return RenderPolicy(
        policy.pseudonymize, policy.include_phone, practice.names_version, names, delegated=policy.delegated
    )


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
        practice_timezone=config.timezone,
        serve_cancelled=config.sync.serve_cancelled,
        delete_mode=config.sync.device_delete,
        max_resource_size=config.max_body_size,
        reports=reports.names(),
        timezone_ical=calendar_timezone_ical(config.timezone),
        renderer=render_for_view,
        policy_factory=policy_for,
        etag_factory=etag_for,
    )


def build_app(config: ServerConfig, *, open_db: bool = True) -> WsgiDAVApp:
    if open_db:
        open_database(config.database)
    practitioner_cache.enable(database_proxy.obj)
    provider = PracticeProvider(service_settings(config))
    wsgidav_config = {
        "provider_mapping": {"/": provider},
        "middleware_stack": [
            RequestBodyMiddleware,
            ErrorPages,  # wsgidav's ErrorPrinter without path, exception or version in pages
            PracticeAuthenticator,
            settings_page(config),  # /settings/: behind the same login; notes device status
            CalDAVMiddleware,
            RequestResolver,
        ],
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
        },
    }
    app = WsgiDAVApp(wsgidav_config)
    logging.getLogger("wsgidav").setLevel(logging.WARNING)
    # peewee logs every SQL statement with its parameters at DEBUG: patient names and phone
    # numbers. Never let those reach a log, whatever level the admin configures.
    logging.getLogger("peewee").setLevel(logging.INFO)
    return app
