"""POST push-register on a calendar (201 + Location + Expires) and DELETE of the registration
URL, as DAVx5 sends them (dav4jvm's WebDAVPush names; the draft's newer client-public-key is
accepted too).

Registrations are bound to the login's practitioner (the viewer) and the calendar's owner:
what the viewer may see of that calendar is decided by the provider when the POST arrives,
and the message carries nothing but the calendar's topic.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
from collections.abc import Callable

from davserver.config import PushConfig
from davserver.http import CalDAVError, request_xml, respond
from davserver.push import NS
from davserver.push.sender import EndpointRefused, check_endpoint
from providers.practice import push_subscriptions as subs
from providers.practice.records import utcnow
from providers.resources import CalendarCollection

PREFIX = "/.push/"
MIN_EXPIRY = dt.timedelta(hours=1)


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _decoded(text: str | None, length: int, what: str) -> str:
    """A base64url value of the given decoded length, returned without padding."""
    text = (text or "").strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != length or (length == 65 and raw[0] != 4):
        raise CalDAVError(400, message=f"{what} is not a valid base64url value")
    return subs.b64url(raw)


def parse_registration(environ: dict, config: PushConfig) -> subs.Registration:
    """The push-register body, checked: an https push resource on a public address and the
    RFC 8291 keys (a message is never sent unencrypted)."""
    root = request_xml(environ)
    if root.tag != _q("push-register"):
        raise CalDAVError(400, message="POST on a calendar takes a push-register body")
    web_push = root.find(f"{_q('subscription')}/{_q('web-push-subscription')}")
    if web_push is None:
        raise CalDAVError(403, _q("invalid-subscription"), "only web-push-subscription is supported")
    resource = (web_push.findtext(_q("push-resource")) or "").strip()
    if not resource or len(resource) > 2000:
        raise CalDAVError(403, _q("invalid-subscription"), "push-resource is missing or too long")
    try:
        check_endpoint(resource, config.allow_insecure_endpoints, resolve=False)
    except EndpointRefused as exc:
        raise CalDAVError(403, _q("push-not-available"), str(exc)) from None
    key = web_push.find(_q("subscription-public-key"))
    if key is None:
        key = web_push.find(_q("client-public-key"))
    encoding = (web_push.findtext(_q("content-encoding")) or "aes128gcm").strip()
    if key is None or web_push.find(_q("auth-secret")) is None or encoding != "aes128gcm":
        raise CalDAVError(
            403,
            _q("invalid-subscription"),
            "messages are sent encrypted: aes128gcm key and auth-secret needed",
        )
    if key.get("type", "p256dh") != "p256dh":
        raise CalDAVError(403, _q("invalid-subscription"), "the public key must be of type p256dh")
    return subs.Registration(
        push_resource=resource,
        client_public_key=_decoded(key.text, 65, "the subscription public key"),
        auth_secret=_decoded(web_push.findtext(_q("auth-secret")), 16, "auth-secret"),
        expires=_expiry(root.findtext(_q("expires")), config),
    )


def _expiry(text: str | None, config: PushConfig) -> dt.datetime:
    """The client's wish within [1 hour, max_expiry_hours]; the maximum when it has none."""
    now = utcnow()
    longest = now + dt.timedelta(hours=config.max_expiry_hours)
    if not text or not text.strip():
        return longest
    try:
        wanted = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        raise CalDAVError(400, message="expires is not an HTTP date") from None
    if wanted.tzinfo is not None:
        wanted = wanted.astimezone(dt.UTC).replace(tzinfo=None)
    return min(max(wanted, now + MIN_EXPIRY), longest).replace(microsecond=0)


def handle_post(
    environ: dict, start_response: Callable, provider, config: PushConfig, root_url: str
) -> list[bytes]:
    """201 (new) or 204 (renewed) with Location (absolute: DAVx5 parses it as a URL) and Expires."""
    calendar = provider.get_resource_inst(environ["PATH_INFO"], environ)
    if not isinstance(calendar, CalendarCollection):
        raise CalDAVError(
            404 if calendar is None else 405,
            message="push can be registered on a calendar only",
            headers=(("Allow", "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT, PUT, DELETE"),),
        )
    registration = parse_registration(environ, config)
    try:
        key, new = subs.register(
            calendar.viewer.id,
            calendar.owner.id,
            registration,
            config.max_subscriptions_per_user,
            device_id=environ.get("praxis.device"),
        )
    except subs.TooManySubscriptions:
        raise CalDAVError(403, message="too many push subscriptions for this login") from None
    headers = [
        ("Location", root_url.rstrip("/") + PREFIX + key),
        ("Expires", email.utils.format_datetime(registration.expires.replace(tzinfo=dt.UTC), usegmt=True)),
    ]
    return respond(start_response, 201 if new else 204, headers=headers)


def handle_delete(environ: dict, start_response: Callable, viewer_id: int) -> list[bytes]:
    """204 when the viewer's registration was removed; 404 for any other key."""
    key = environ["PATH_INFO"][len(PREFIX) :].strip("/")
    if not key or not subs.unregister(viewer_id, key):
        raise CalDAVError(404, message="no such push registration")
    return respond(start_response, 204)
