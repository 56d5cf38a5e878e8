"""CalDAV dispatch after authentication: the methods we answer ourselves (davserver.methods),
WebDAV reads (PROPFIND/PROPPATCH/GET) wsgidav's, every XML body checked before parsing."""

from __future__ import annotations

from wsgidav.mw.base_mw import BaseMiddleware

from davserver import methods
from davserver.http import CalDAVError, request_xml, respond_error
from davserver.methods import propfind
from davserver.methods.conditions import refuse_readonly_proppatch
from providers.practice import api


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
