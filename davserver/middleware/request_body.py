"""The request body, read only after the login and buffered under a size limit.

Right after the authenticator: a request without valid credentials is answered (401, 429)
before any worker reads its body, and the server then closes the connection instead of
reading the rest (framing.StrictRequest; a body the connection thread already holds in
memory is dropped and the connection kept). wsgidav treats a chunked body as empty and
leaves it unread, which breaks the next request on a keep-alive connection; every later
layer sees a plain buffered body (environ["praxis.body"]).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

from wsgidav.mw.base_mw import BaseMiddleware

from davserver.http import CalDAVError, respond_error
from davserver.recent_logins import RECENT_LOGINS


def install_body(environ: dict, body: bytes) -> None:
    """Make `body` the request's body for every later layer (also for a retried request)."""
    environ["praxis.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)


class RequestBodyMiddleware(BaseMiddleware):
    def __init__(self, wsgidav_app, next_app, config):
        super().__init__(wsgidav_app, next_app, config)
        self.limit = config["praxis"]["max_body_size"]
        self.login_seconds = config["praxis"]["auth"].cache_seconds

    def is_disabled(self):
        return False

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("praxis.viewer") is not None and environ.get("HTTP_AUTHORIZATION"):
            # The connection thread may now wait for this client's small bodies itself.
            RECENT_LOGINS.note(environ["HTTP_AUTHORIZATION"], self.login_seconds)
        try:
            body = self._read_body(environ)
        except CalDAVError as err:
            if err.status != 413 or environ.get("REQUEST_METHOD", "").upper() != "PUT":
                return respond_error(start_response, err)
            # A calendar object over the limit is a CalDAV precondition (403 max-resource-size),
            # answered by PUT; the unread body closes the connection.
            environ["praxis.body_too_large"] = True
            body = b""
        install_body(environ, body)
        return self.next_app(environ, start_response)

    def _read_body(self, environ: dict) -> bytes:
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
