"""WSGI middlewares around wsgidav, one per concern; davserver/app.py stacks them in the
order documented there (middleware_order)."""

from davserver.middleware import device_seen
from davserver.middleware.access_log import AccessLogMiddleware, loggable_path
from davserver.middleware.caldav_dispatch import CalDAVMiddleware
from davserver.middleware.device_seen import DeviceSeenMiddleware
from davserver.middleware.discovery import DiscoveryRedirectMiddleware
from davserver.middleware.proxy_prefix import ProxyPrefixMiddleware
from davserver.middleware.request_body import RequestBodyMiddleware

__all__ = [
    "AccessLogMiddleware",
    "CalDAVMiddleware",
    "DeviceSeenMiddleware",
    "DiscoveryRedirectMiddleware",
    "ProxyPrefixMiddleware",
    "RequestBodyMiddleware",
    "device_seen",
    "loggable_path",
]
