"""GET /api/v1/changes?since=CURSOR[&limit=N]: the change feed over HTTP for the practice
software, with `Authorization: Bearer TOKEN` (praxis-caldav api-token add --practice ID).

Answers 200 {"entries": [...], "cursor": N} (the cursor to ask from next), 401 without a
valid token, 400 for a bad parameter, 410 for a cursor older than the feed keeps. The token
names the practice: no other practice's changes are ever listed. Before the practitioners'
Basic authentication in the stack: a token is not a login.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qs

from wsgidav.mw.base_mw import BaseMiddleware

from providers.practice import change_feed
from providers.practice.api import DataError

PATH = "/api/v1/changes"


class ChangeFeedAPI(BaseMiddleware):
    def is_disabled(self):
        return False

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path != PATH and not path.startswith("/api/"):
            return self.next_app(environ, start_response)
        if path != PATH:
            return _json(start_response, "404 Not Found", {"error": "no such endpoint"})
        if environ.get("REQUEST_METHOD", "").upper() != "GET":
            return _json(start_response, "405 Method Not Allowed", {"error": "GET only"}, [("Allow", "GET")])
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        practice = change_feed.practice_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if practice is None:
            headers = [("WWW-Authenticate", 'Bearer realm="praxis-caldav change feed"')]
            return _json(
                start_response, "401 Unauthorized", {"error": "a valid API token is needed"}, headers
            )
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            since = int(query.get("since", ["0"])[0])
            limit = min(max(int(query.get("limit", ["1000"])[0]), 1), 10_000)
        except ValueError:
            return _json(start_response, "400 Bad Request", {"error": "since and limit are numbers"})
        try:
            retention = dt.timedelta(days=self.config.get("praxis", {}).get("feed_retention_days", 30))
            entries = change_feed.entries(since, practice.id, limit, retention)
        except change_feed.CursorExpired as exc:
            return _json(start_response, "410 Gone", {"error": str(exc)})
        except DataError as exc:
            return _json(start_response, "400 Bad Request", {"error": str(exc)})
        cursor = entries[-1]["cursor"] if entries else since
        return _json(start_response, "200 OK", {"entries": entries, "cursor": cursor})


def _json(start_response, status: str, body: dict, headers: list | None = None) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            *(headers or []),
        ],
    )
    return [data]
