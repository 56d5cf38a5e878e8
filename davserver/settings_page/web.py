"""Small HTTP helpers for the settings page: responses with its security headers, forms, URLs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlencode, urlparse

from davserver.config import ServerConfig

# No external requests, no inline script or style, no framing, nothing cached.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)

REASONS = {
    200: "OK",
    303: "See Other",
    301: "Moved Permanently",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}

MAX_FIELDS = 50
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def send(self, environ: dict, start_response: Callable) -> list[bytes]:
        """Start the response with the security headers; HEAD gets the headers only."""
        headers = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            *SECURITY_HEADERS,
            *self.headers,
        ]
        start_response(f"{self.status} {REASONS.get(self.status, 'OK')}", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]


def redirect(location: str, status: int = 303) -> Response:
    return Response(status, b"", "text/plain; charset=utf-8", [("Location", location)])


def query(environ: dict) -> dict[str, str]:
    """The query string as single values (first wins)."""
    parsed = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=MAX_FIELDS)
    return {k: v[0] for k, v in parsed.items()}


def form(environ: dict) -> dict[str, str] | None:
    """An urlencoded POST body (buffered by RequestBodyMiddleware); None if it is not one."""
    content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = environ.get("praxis.body")
    if body is None:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    try:
        parsed = parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in parsed.items()}


def cookie(environ: dict, name: str) -> str | None:
    """One cookie of the request, None if absent or the header does not parse."""
    jar = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def set_cookie(name: str, value: str, path: str, secure: bool, max_age: int = 365 * 86400) -> tuple[str, str]:
    """A Set-Cookie header for a preference (not a credential: the login stays HTTP Basic)."""
    jar = SimpleCookie()
    jar[name] = value
    morsel = jar[name]
    morsel["path"] = path
    morsel["max-age"] = str(max_age)
    morsel["samesite"] = "Lax"
    morsel["httponly"] = True
    if secure:
        morsel["secure"] = True
    return ("Set-Cookie", morsel.OutputString())


def with_query(path: str, **params: str | None) -> str:
    """`path?a=b` without the empty parameters."""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


def base_url(environ: dict, config: ServerConfig) -> str:
    """The server's public root URL: public_base_url if configured, else as the browser sees it.

    The browser reached this page, so scheme and Host of its request reach the server too
    (unlike a listening address such as 0.0.0.0). The prefix is the reverse proxy's.
    """
    if config.public_base_url:
        return config.base_url()
    scheme = environ.get("wsgi.url_scheme", "http")
    if config.trusted_proxy and environ.get("HTTP_X_FORWARDED_PROTO") in ("http", "https"):
        scheme = environ["HTTP_X_FORWARDED_PROTO"]
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
    if config.trusted_proxy and environ.get("HTTP_X_FORWARDED_HOST"):
        host = environ["HTTP_X_FORWARDED_HOST"].split(",")[0].strip()
    if not _plain_host(host):
        host = f"{config.host}:{config.port}"
    prefix = environ.get("praxis.prefix", "")
    return f"{scheme}://{host}{prefix}/"


def _plain_host(host: str) -> bool:
    """A Host header that is only host[:port] (it goes into URLs shown to the user)."""
    return _HOST.fullmatch(host) is not None


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
