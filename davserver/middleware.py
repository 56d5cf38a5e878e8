"""WSGI middlewares around wsgidav: request bodies, discovery redirect, access log, CalDAV dispatch."""

from __future__ import annotations

import io
import logging
import time

from wsgidav.mw.base_mw import BaseMiddleware

from davserver import methods
from davserver.http import CalDAVError, request_xml, respond, respond_error
from davserver.methods import propfind
from davserver.methods.conditions import refuse_readonly_proppatch
from providers.practice import api
from providers.practice.opaque_names import is_textless_name

access_log = logging.getLogger("praxis_caldav.access")
log = logging.getLogger("praxis_caldav")


def loggable_path(path: str) -> str:
    """The path for the access log: an object name a device chose (it may name a patient,
    "Maria-Muster-Kontrolle.ics") is written as "<name>"; server-made and UUID names as they
    are (opaque_names.is_textless_name)."""
    parts = path.split("/")
    if len(parts) > 3 and parts[3] and not is_textless_name(parts[3]):
        parts[3:] = ["<name>"]
    return "/".join(parts)


class RequestBodyMiddleware(BaseMiddleware):
    """First in the stack: buffer the body (chunked too) under a size limit, answer well-known.

    wsgidav treats a chunked body as empty and leaves it unread, which breaks the next
    request on a keep-alive connection; every later layer sees a plain buffered body.
    """

    def __init__(self, wsgidav_app, next_app, config):
        super().__init__(wsgidav_app, next_app, config)
        self.limit = config["praxis"]["max_body_size"]
        self.trusted_proxy = config["praxis"].get("trusted_proxy", False)

    def is_disabled(self):
        return False

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        status_holder: list[str] = []

        def recording_start_response(status, headers, exc_info=None):
            status_holder.append(status)
            return start_response(status, headers, exc_info)

        try:
            result = self._handle(environ, recording_start_response)
            yield from result
        finally:
            if hasattr(locals().get("result"), "close"):
                result.close()
            access_log.info(
                "%s %s %s %s %.1fms",
                environ.get("REQUEST_METHOD"),
                loggable_path(environ.get("PATH_INFO") or ""),
                (status_holder or ["-"])[0].split(" ")[0],
                environ.get("wsgidav.auth.user_name") or "-",
                (time.perf_counter() - started) * 1000,
            )

    def _external_prefix(self, environ) -> str:
        """Path prefix under which clients see us: WSGI mount plus a trusted proxy's prefix."""
        prefix = (environ.get("SCRIPT_NAME") or "").rstrip("/")
        if self.trusted_proxy:
            forwarded = environ.get("HTTP_X_FORWARDED_PREFIX", "").strip().strip("/")
            if forwarded:
                prefix = "/" + forwarded
                path = environ.get("PATH_INFO", "")
                # A proxy that does not strip the prefix: strip it here.
                if path == prefix or path.startswith(prefix + "/"):
                    environ["PATH_INFO"] = path[len(prefix) :] or "/"
        return prefix

    def _handle(self, environ, start_response):
        environ["praxis.prefix"] = self._external_prefix(environ)
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") in ("/.well-known/caldav", "/.well-known/carddav"):
            if path.rstrip("/").endswith("carddav"):
                return respond(start_response, 404)
            target = environ["praxis.prefix"] + "/"
            return respond(start_response, 301, headers=[("Location", target)])
        try:
            body = self._read_body(environ)
        except CalDAVError as err:
            if err.status != 413 or environ.get("REQUEST_METHOD", "").upper() != "PUT":
                return respond_error(start_response, err)
            # A calendar object over the limit is a CalDAV precondition (403 max-resource-size),
            # answered by PUT after authentication; the unread body closes the connection.
            environ["praxis.body_too_large"] = True
            body = b""
        environ["praxis.body"] = body
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.next_app(environ, start_response)

    def _read_body(self, environ) -> bytes:
        length_text = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        too_large = CalDAVError(
            413, message=f"request body larger than {self.limit} bytes", headers=(("Connection", "close"),)
        )
        if length_text.strip():
            try:
                length = int(length_text)
            except ValueError:
                length = -1
            if length < 0:  # "-5" reaches us; read(-5) would end the connection without a reply
                raise CalDAVError(400, message="invalid Content-Length", headers=(("Connection", "close"),))
            if length > self.limit:
                raise too_large
            return environ["wsgi.input"].read(length) if length else b""
        if not chunked:
            return b""
        try:
            data = environ["wsgi.input"].read(self.limit + 1)
        except ValueError:  # a malformed chunk (framing.py): the rest of the stream is unusable
            raise CalDAVError(
                400, message="malformed chunked body", headers=(("Connection", "close"),)
            ) from None
        if len(data) > self.limit:
            raise too_large
        return data


class CalDAVMiddleware(BaseMiddleware):
    """After authentication: CalDAV methods ours, WebDAV reads (PROPFIND/PROPPATCH/GET) wsgidav's."""

    def is_disabled(self):
        return False

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"].upper()
        try:
            if method in ("PROPFIND", "PROPPATCH", "REPORT"):
                # Every XML body is checked with entities and network off before anyone parses it.
                if environ.get("praxis.body"):
                    _refuse_doctype(environ)
                if method == "PROPPATCH":
                    refuse_readonly_proppatch(environ["wsgidav.provider"], environ)
                if method == "PROPFIND" and (environ.get("HTTP_DEPTH") or "infinity").strip().lower() not in (
                    "0",
                    "1",
                ):
                    # Depth infinity (or none): answered as Depth 1, never a walk of the tree.
                    environ["HTTP_DEPTH"] = "1"
                if method == "PROPFIND":
                    propfind.check_request(environ)
                    if propfind.asks_for_nothing(environ):
                        return propfind.with_empty_propstats(self.next_app, environ, start_response)
            handler = methods.HANDLERS.get(method)
            if handler is None:
                return self.next_app(environ, start_response)
            provider = environ["wsgidav.provider"]
            with api.device_request() as writes:  # what this request changes is a device's change
                result = handler(environ, start_response, provider)
            webhook = self.config.get("praxis", {}).get("webhook")
            if writes.count and webhook is not None:
                webhook.notify()
            # None: a fast path that does not apply (PROPFIND other than Depth 1 on a calendar).
            return self.next_app(environ, start_response) if result is None else result
        except CalDAVError as err:
            return respond_error(start_response, err)


def _refuse_doctype(environ: dict) -> None:
    """400 for malformed XML and for any DOCTYPE: parse_xml's byte search misses UTF-16."""
    docinfo = request_xml(environ).getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise CalDAVError(400, message="XML with a document type declaration is not accepted")
